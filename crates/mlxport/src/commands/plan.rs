//! `mlxport plan`: a port plan from an inspection report.

use anyhow::{Context, Result};
use mlxport_kb::budget::Target;
use mlxport_kb::plan::{plan, to_markdown, PlanOptions};
use mlxport_kb::view::InspectionView;

use crate::cli::PlanArgs;

pub fn run(args: PlanArgs) -> Result<u8> {
    let report = InspectionView::read(&args.inspection)?;
    let target = match &args.target_memory {
        Some(t) => Target::Memory(mlxport_intake::fit::parse_size(t).context("--target-memory")?),
        None => Target::FromInspection,
    };
    let mut opts = PlanOptions { target, objective: args.objective.clone(), verification: None };
    if let Some(root) = &args.artifact_root {
        let digest_cache = mlxport_intake::digest::DigestCache::default_path();
        // Flattened: the message already quotes the OS error, which `{:#}` would repeat.
        let v =
            mlxport_kb::verify::verify(&report, root, digest_cache).map_err(anyhow::Error::msg).with_context(|| format!("re-inspecting {}", root.display()))?;
        if !v.ok() {
            eprintln!("error: {} does not match the files under {}; refusing to plan from it:", args.inspection.display(), root.display());
            for m in &v.mismatches {
                eprintln!("  - {m}");
            }
            eprintln!("re-run `mlxport inspect {} -o {}` and plan again", root.display(), args.inspection.display());
            return Ok(crate::exit::CHECK_FAILED);
        }
        opts.verification = Some(v);
    }
    let p = plan(mlxport_kb::kb(), &report, &opts);
    let md = to_markdown(&p);
    if let Some(out) = &args.out {
        crate::output::write_atomic(out, md.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else if args.out.is_none() {
        print!("{md}");
    } else {
        eprintln!(
            "{}: {} plan for {} written to {}",
            p.status,
            p.family.as_ref().map(|f| f.id.as_str()).unwrap_or("remediation-only"),
            p.model.name,
            out_name(&args)
        );
    }
    Ok(crate::exit::OK)
}

fn out_name(args: &PlanArgs) -> String {
    args.out.as_ref().map(|o| o.display().to_string()).unwrap_or_default()
}
