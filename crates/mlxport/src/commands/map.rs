//! `mlxport map draft` and `mlxport map validate`.

use anyhow::{Context, Result};
use mlxport_convert::plan::{check_target, plan, DtypePolicy, Severity};
use mlxport_convert::report::{report, Report};
use mlxport_convert::WeightMap;

use crate::cli::{MapCommand, MapDraftArgs, MapValidateArgs};
use crate::output::Table;

pub fn run(cmd: MapCommand) -> Result<u8> {
    match cmd {
        MapCommand::Draft(a) => run_draft(a),
        MapCommand::Validate(a) => run_validate(a),
    }
}

fn run_draft(a: MapDraftArgs) -> Result<u8> {
    let src = mlxport_tensor::open(&a.model)?;
    let d = mlxport_workflow::weights::draft_from(src.as_ref(), &a.model, a.family.clone(), a.target.clone())?;
    let text = d.map.to_json();
    let p = plan(&d.map, src.tensors(), None);
    match &a.out {
        Some(out) => {
            crate::output::write_atomic(out, text.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "drafted {} rules for {} tensors ({} family{}, target {}): {} targets, {} categorized, {} unresolved -> {}",
                d.map.rules.len(),
                src.tensors().len(),
                d.family,
                if d.routed { " by routing" } else { "" },
                d.target,
                p.targets().len(),
                p.categorized.len(),
                d.map.unresolved.len(),
                out.display()
            );
        }
        None => print!("{text}"),
    }
    for u in &d.map.unresolved {
        eprintln!("unresolved: {} ({})", u.source, u.reason);
    }
    for n in &d.map.notes {
        eprintln!("note: {n}");
    }
    Ok(crate::exit::OK)
}

fn run_validate(a: MapValidateArgs) -> Result<u8> {
    let map = WeightMap::load(&a.map)?;
    let src = mlxport_tensor::open(&a.source).with_context(|| format!("opening the source {}", a.source.display()))?;
    let policy = a.dtype.as_deref().and_then(DtypePolicy::parse);
    let mut p = plan(&map, src.tensors(), policy);
    if let Some(t) = &a.converted {
        let target = mlxport_tensor::open(t).with_context(|| format!("opening the target {}", t.display()))?;
        check_target(&mut p, target.tensors());
    }
    let dtype = policy.map(|d| d.name().to_string()).unwrap_or_else(|| map.dtype.clone());
    let r = report(&map, &p, a.converted.is_some(), &dtype);
    let json = serde_json::to_string_pretty(&r)?;
    if let Some(out) = &a.out {
        crate::output::write_atomic(out, json.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        println!("{json}");
    } else {
        print_report(&r);
    }
    Ok(if r.ok { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

fn print_report(r: &Report) {
    let s = &r.summary;
    let mut t = Table::new(&["", "tensors"]);
    t.right_align(&[1]);
    t.row(vec!["source".into(), s.source_tensors.to_string()]);
    t.row(vec!["  mapped by rules".into(), s.mapped.to_string()]);
    for (cat, n) in &s.categorized {
        t.row(vec![format!("  {cat}"), n.to_string()]);
    }
    t.row(vec!["target".into(), s.target_tensors.to_string()]);
    t.row(vec!["  of which ties".into(), s.ties.to_string()]);
    t.print();
    if !r.issues.is_empty() {
        println!();
        let mut t = Table::new(&["severity", "code", "message"]);
        for i in &r.issues {
            t.row(vec![if i.severity == Severity::Error { "error" } else { "warning" }.into(), i.code.into(), i.message.clone()]);
        }
        t.print();
    }
    println!();
    println!(
        "{}: {} errors, {} warnings (dtype {}{})",
        if r.ok { "valid" } else { "INVALID" },
        s.errors,
        s.warnings,
        s.dtype,
        if s.target_checked { ", checked against the target" } else { "" }
    );
}
