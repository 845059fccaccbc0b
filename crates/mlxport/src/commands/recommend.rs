//! `mlxport recommend`: techniques for an inspected model, bucketed and
//! ordered by the optimization ladder.

use anyhow::{Context, Result};
use mlxport_kb::budget::{Target, TargetProfile};
use mlxport_kb::recommend::{read_receipts, recommend, to_text, RecommendOptions};
use mlxport_kb::view::InspectionView;

use crate::cli::RecommendArgs;

pub fn run(args: RecommendArgs) -> Result<u8> {
    let report = InspectionView::read(&args.inspection)?;
    let target = if let Some(p) = &args.target_profile {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Target::Profile(TargetProfile::parse(&text, &p.display().to_string())?)
    } else if let Some(t) = &args.target_memory {
        Target::Memory(mlxport_intake::fit::parse_size(t).context("--target-memory")?)
    } else {
        Target::FromInspection
    };
    let mut opts = RecommendOptions { target, objective: args.objective.clone(), workload: args.workload.clone(), receipts: Vec::new() };
    if let Some(dir) = &args.receipts {
        // Flattened: the message already quotes the OS error, which `{:#}` would repeat.
        let r = read_receipts(dir).map_err(anyhow::Error::msg)?;
        for s in &r.skipped {
            eprintln!("warning: receipt skipped: {s}");
        }
        opts.receipts = r.receipts;
    }
    // Results of `mlxport optimize`: given files, and this machine's local store.
    for p in &args.validated {
        opts.receipts.extend(mlxport_workflow::optimize::validated::from_optimize(p)?);
    }
    if !args.no_store {
        if let Some(store) = mlxport_workflow::optimize::validated::store_dir() {
            let local =
                mlxport_workflow::optimize::validated::local_receipts(&store, &report.model.fingerprint, &mlxport_workflow::optimize::validated::this_machine);
            opts.receipts.extend(local);
        }
    }
    let rec = recommend(mlxport_kb::kb(), &report, &opts);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
    } else {
        print!("{}", to_text(&rec));
    }
    Ok(crate::exit::OK)
}
