//! `mlxport package`.

use anyhow::Result;
use mlxport_publish::package::{package, Options};
use mlxport_publish::Error;

use crate::cli::PackageArgs;

pub fn run(args: PackageArgs) -> Result<u8> {
    let opts = Options { accept_license: args.accept_license, no_python_smoke: args.no_python_smoke };
    let done = match package(&args.port_dir, &args.out, &opts) {
        Err(Error::Refused(why)) => {
            eprintln!("error: {why}");
            return Ok(crate::exit::CHECK_FAILED);
        }
        done => done?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done.manifest)?);
        return Ok(crate::exit::OK);
    }
    let (files, bytes) = (done.manifest.files.len(), done.manifest.bytes());
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
