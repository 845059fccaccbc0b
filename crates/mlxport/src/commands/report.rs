//! `mlxport report`.

use anyhow::Result;

use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> Result<u8> {
    let out = args.out.clone().unwrap_or_else(|| args.port_dir.join("report"));
    let done = match mlxport_publish::report::write(&args.port_dir, &out) {
        Ok(d) => d,
        Err(e) => {
            if let Some(r) = e.downcast_ref::<mlxport_publish::Refused>() {
                eprintln!("error: {r}");
                return Ok(crate::exit::CHECK_FAILED);
            }
            return Err(e);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!("report of {} -> {}: report.md, report.json, report.html", args.port_dir.display(), out.display());
    }
    Ok(crate::exit::OK)
}
