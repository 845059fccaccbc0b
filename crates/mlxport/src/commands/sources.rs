//! `mlxport sources validate`: the evidence-source registry's rules, and
//! optionally every URL fetched.

use std::time::Duration;

use anyhow::{Context, Result};
use mlxport_evidence::{fetch, sources};
use rayon::prelude::*;

use crate::cli::{SourcesCommand, SourcesValidateArgs};
use crate::output::Table;

pub fn run(cmd: SourcesCommand) -> Result<u8> {
    match cmd {
        SourcesCommand::Validate(a) => validate(a),
    }
}

fn validate(args: SourcesValidateArgs) -> Result<u8> {
    let (list, origin) = match &args.file {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?;
            (sources::parse_file(&text, &f.display().to_string())?, f.display().to_string())
        }
        None => (mlxport_kb::kb().sources.clone(), "built-in registry".to_string()),
    };
    let policy = sources::UrlPolicy::default();
    let findings = sources::validate(&list, policy);
    let mut urls = Vec::new();
    if args.check_urls {
        let opts = fetch::FetchOptions { timeout: Duration::from_secs(args.timeout.max(1)), policy };
        let mut seen: Vec<&str> = list.iter().map(|s| s.url.as_str()).collect();
        seen.sort();
        seen.dedup();
        // A few requests at a time.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build()?;
        urls = pool.install(|| seen.par_iter().map(|u| fetch::check(u, &opts)).collect::<Vec<_>>());
    }
    let bad_urls = urls.iter().filter(|u| !u.ok).count();
    let ok = findings.is_empty() && bad_urls == 0;
    if args.json {
        let v = serde_json::json!({
            "schema": "mlxport.sources-validate/v1",
            "origin": origin,
            "sources": list.len(),
            "findings": findings,
            "urls": urls,
            "passed": ok,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if !findings.is_empty() {
            let mut t = Table::new(&["source", "rule", "problem"]);
            for f in &findings {
                t.row(vec![f.source.clone(), f.rule.clone(), f.message.clone()]);
            }
            t.print();
            println!();
        }
        if args.check_urls {
            let mut t = Table::new(&["status", "hops", "url", "problem"]);
            for u in urls.iter().filter(|u| !u.ok) {
                t.row(vec![
                    u.status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                    (u.hops.len().saturating_sub(1)).to_string(),
                    u.url.clone(),
                    u.error.clone().unwrap_or_default(),
                ]);
            }
            if bad_urls > 0 {
                t.print();
                println!();
            }
            println!("{} URLs fetched, {} failed", urls.len(), bad_urls);
        }
        println!("{} sources in {origin}: {}", list.len(), if ok { "valid".to_string() } else { format!("{} problems", findings.len() + bad_urls) });
    }
    Ok(if ok { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}
