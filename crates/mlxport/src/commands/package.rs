//! `mlxport package`.

use anyhow::Result;
use mlxport_publish::package::{package, Options};
use mlxport_publish::Refused;

use crate::cli::PackageArgs;

pub fn run(args: PackageArgs) -> Result<u8> {
    let opts = Options { accept_license: args.accept_license, no_python_smoke: args.no_python_smoke };
    let done = match package(&args.port_dir, &args.out, &opts) {
        Ok(d) => d,
        Err(e) => {
            if let Some(r) = e.downcast_ref::<Refused>() {
                eprintln!("error: {r}");
                return Ok(crate::exit::CHECK_FAILED);
            }
            return Err(e);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done.manifest)?);
        return Ok(crate::exit::OK);
    }
    let files = done.manifest["files"].as_array().map(Vec::len).unwrap_or(0);
    let bytes: u64 = done.manifest["files"].as_array().into_iter().flatten().filter_map(|f| f["bytes"].as_u64()).sum();
    println!(
        "packaged {} -> {}: {} files ({}), license {} ({}{}), smoke test {}",
        args.port_dir.display(),
        done.out.display(),
        files + 2,
        crate::output::human_bytes(bytes),
        done.license.id.as_deref().unwrap_or("none found"),
        done.license.class,
        if done.license.accepted { ", accepted with --accept-license" } else { "" },
        done.smoke.status
    );
    for c in &done.smoke.checks {
        println!("  {c}");
    }
    println!("  Python: {}", done.smoke.python);
    Ok(crate::exit::OK)
}
