//! `mlxport map draft` and `mlxport map validate`.

use anyhow::{bail, Context, Result};
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
    // `--target PATH` is the previous release's `--converted PATH`.
    let (implementation, converted) = match a.target.as_deref() {
        Some(t @ ("mlx-lm" | "scaffold" | "mlx-vlm")) => (Some(t.to_string()), a.converted.clone()),
        Some(path) if a.converted.is_none() => {
            eprintln!(
                "warning: --target PATH is deprecated and goes away in the next release: use --converted PATH (--target now names mlx-lm, scaffold or mlx-vlm)"
            );
            (None, Some(path.into()))
        }
        Some(other) => bail!("--target {other}: expected mlx-lm, scaffold or mlx-vlm"),
        None => (None, a.converted.clone()),
    };
    let map = WeightMap::load(&a.map)?;
    let src = mlxport_tensor::open(&a.source).with_context(|| format!("opening the source {}", a.source.display()))?;
    let policy = a.dtype.as_deref().and_then(DtypePolicy::parse);
    if let Some(t) = &implementation {
        if *t != map.target.layout {
            bail!(
                "--target {t}: the map is written for the {} layout ({}); draft one for {t} with `mlxport map draft MODEL --target {t}`",
                map.target.layout,
                a.map.display()
            );
        }
    }
    let mut p = plan(&map, src.tensors(), policy);
    if let Some(t) = &converted {
        let target = mlxport_tensor::open(t).with_context(|| format!("opening the converted checkpoint {}", t.display()))?;
        check_target(&mut p, target.tensors());
    }
    let dtype = policy.map(|d| d.name().to_string()).unwrap_or_else(|| map.dtype.clone());
    let mut v = mlxport_workflow::weights::Validation { report: report(&map, &p, converted.is_some(), &dtype), plan: p };
    if implementation.is_some() {
        let insp = mlxport_intake::inspect(&a.source, &mlxport_intake::Options::default()).with_context(|| format!("inspecting {}", a.source.display()))?;
        let insp = serde_json::to_value(&insp)?;
        let harness = mlxport_harness::Harness::new(mlxport_harness::jobs::Settings::default())?;
        if let mlxport_workflow::weights::ImplementationCheck::NotChecked(why) =
            mlxport_workflow::weights::check_implementation(&mut v, &map, &a.source, src.as_ref(), &harness, &insp)?
        {
            eprintln!("note: the target's parameters were not checked: {why}");
        }
    }
    let r = v.report;
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
        if s.target_checked { ", checked against the converted checkpoint" } else { "" }
    );
    if let Some(t) = &s.implementation_checked {
        println!("checked against the parameters {t} loads");
    }
}
