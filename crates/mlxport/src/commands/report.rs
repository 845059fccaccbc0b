//! `mlxport report`.

use anyhow::Result;

use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> Result<u8> {
    let out = args.out.clone().unwrap_or_else(|| args.port_dir.join("report"));
    let done = match mlxport_publish::report::write(&args.port_dir, &out) {
        Err(mlxport_publish::Error::Refused(why)) => {
            eprintln!("error: {why}");
            return Ok(crate::exit::CHECK_FAILED);
        }
        done => done?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!("report of {} -> {}: report.md, report.json, report.html", args.port_dir.display(), out.display());
    }
    Ok(crate::exit::OK)
}
