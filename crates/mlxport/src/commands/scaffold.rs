//! `mlxport scaffold`: an MLX package for a model, from its inspection.

use anyhow::{Context, Result};
use mlxport_harness::scaffold;

use crate::cli::ScaffoldArgs;

pub fn run(args: ScaffoldArgs) -> Result<u8> {
    let insp: serde_json::Value = if args.inspection.is_file() && args.inspection.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(&args.inspection).with_context(|| format!("cannot read {}", args.inspection.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.inspection.display()))?
    } else {
        serde_json::to_value(mlxport_intake::inspect(&args.inspection, &mlxport_intake::Options::default())?)?
    };
    let package = args.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let plan = match scaffold::plan(&insp, &package, concat!("mlxport ", env!("CARGO_PKG_VERSION"))) {
        Ok(p) => p,
        Err(e @ mlxport_harness::Error::Unsupported(_)) => {
            eprintln!("error: {e}");
            return Ok(crate::exit::CHECK_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    scaffold::write(&plan, &args.out)?;
    if args.json {
        let files: Vec<&str> = plan.files.iter().map(|(p, _)| p.as_str()).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"package": plan.package, "family": plan.family.name(), "model_type": plan.model_type, "features": plan.features, "files": files})
            )?
        );
    } else {
        println!("scaffold: {} ({} {}) -> {}", plan.package, plan.model_type, plan.family.name(), args.out.display());
        if !plan.features.is_empty() {
            println!("  features: {}", plan.features.join(", "));
        }
        println!("  {} files: {}", plan.files.len(), plan.files.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", "));
    }
    Ok(crate::exit::OK)
}
