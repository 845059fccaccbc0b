//! `mlxport audit`: the skill, the docs and the knowledge base agree with
//! each other and with this CLI (the checks live in `mlxport-skill`; this
//! module supplies the real command-line parser).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::error::{ContextKind, ErrorKind};
use clap::CommandFactory;
use mlxport_skill::audit::{self, Level, Parsed};

use crate::cli::AuditArgs;
use crate::output::Table;

/// The source tree: `--root`, or the nearest directory upwards from the
/// current one that holds `skill/SKILL.md`.
pub fn find_root(arg: Option<&Path>) -> Result<PathBuf> {
    if let Some(r) = arg {
        if !r.join("skill/SKILL.md").is_file() {
            bail!("{}: no skill/SKILL.md here; --root must be the mlxport source tree", r.display());
        }
        return Ok(r.to_path_buf());
    }
    let cwd = std::env::current_dir()?;
    for d in cwd.ancestors() {
        if d.join("skill/SKILL.md").is_file() {
            return Ok(d.to_path_buf());
        }
    }
    bail!("no skill/SKILL.md in {} or above; run inside the mlxport source tree or pass --root", cwd.display())
}

/// `N`, `SIZE`, `MODEL_DIR`: an upper-case name standing for a value.
fn is_placeholder(v: &str) -> bool {
    v.chars().any(|c| c.is_ascii_uppercase()) && v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Parse an argument list with the real CLI definition.
pub fn parse_with_cli(argv: &[String]) -> Parsed {
    let mut full = vec!["mlxport".to_string()];
    full.extend(argv.iter().cloned());
    match crate::cli::Cli::command().try_get_matches_from(full) {
        Ok(_) => Parsed::Ok,
        Err(e) => {
            let msg = e.to_string().lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
            match e.kind() {
                ErrorKind::MissingRequiredArgument
                | ErrorKind::MissingSubcommand
                | ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Parsed::Ok,
                ErrorKind::InvalidSubcommand => Parsed::UnknownCommand(msg),
                // A synopsis placeholder (`--ulp N`) stands for a value of
                // the right type.
                ErrorKind::ValueValidation | ErrorKind::InvalidValue if e.get(ContextKind::InvalidValue).is_some_and(|v| is_placeholder(&v.to_string())) => {
                    Parsed::Ok
                }
                _ => Parsed::Invalid(msg),
            }
        }
    }
}

pub fn run(args: AuditArgs) -> Result<u8> {
    let root = find_root(args.root.as_deref())?;
    let report = audit::audit(&root, &parse_with_cli, mlxport_skill::SKILL_MD);
    let passed = report.passed(args.strict);
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["strict"] = args.strict.into();
        v["passed"] = passed.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let shown: Vec<_> = report.findings.iter().filter(|f| args.verbose || f.level != Level::Note).collect();
        if !shown.is_empty() {
            let mut t = Table::new(&["level", "where", "finding"]);
            for f in shown {
                let level = match f.level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                    Level::Note => "note",
                };
                t.row(vec![level.into(), f.at.clone(), f.message.clone()]);
            }
            t.print();
            println!();
        }
        println!(
            "audit {}: {} pages, {} links, {} command lines; {} errors, {} warnings, {} notes{}",
            if passed { "passed" } else { "FAILED" },
            report.pages,
            report.links,
            report.commands,
            report.count(Level::Error),
            report.count(Level::Warning),
            report.count(Level::Note),
            if args.strict { " (strict: warnings fail)" } else { "" }
        );
    }
    Ok(if passed { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}
