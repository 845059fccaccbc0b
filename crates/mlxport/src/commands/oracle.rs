//! `mlxport oracle`: the source model's tensors at every ladder boundary.

use std::time::Duration;

use anyhow::{Context, Result};
use mlxport_harness::jobs::{Harness, Inputs, OracleRequest, Settings};

use crate::cli::{HarnessArgs, OracleArgs};

pub fn settings(h: &HarnessArgs) -> Settings {
    Settings { timeout: Duration::from_secs(h.timeout), threads: h.threads, verbose: h.verbose }
}

pub fn inputs_of(args: &OracleArgs) -> Result<Inputs> {
    inputs_from(args.inputs.as_deref(), &args.text, &args.token_ids, args.generate)
}

/// Inputs from `--inputs FILE`, `--text` or `--token-ids`, with `--generate`.
pub fn inputs_from(file: Option<&std::path::Path>, text: &[String], token_ids: &[String], generate: Option<u32>) -> Result<Inputs> {
    let mut inputs = match file {
        Some(p) => Inputs::read(p)?,
        None if !text.is_empty() => Inputs { texts: Some(text.to_vec()), ..Default::default() },
        None if !token_ids.is_empty() => {
            let mut seqs = Vec::new();
            for s in token_ids {
                let ids: Result<Vec<u32>, _> = s.split(',').map(|t| t.trim().parse::<u32>()).collect();
                seqs.push(ids.with_context(|| format!("--token-ids '{s}': expected comma-separated integers"))?);
            }
            Inputs { token_ids: Some(seqs), ..Default::default() }
        }
        None => anyhow::bail!("give --inputs FILE, --text TEXT or --token-ids IDS"),
    };
    if generate.is_some() {
        inputs.generate = generate;
    }
    inputs.validate()?;
    Ok(inputs)
}

pub fn run(args: OracleArgs) -> Result<u8> {
    let inputs = inputs_of(&args)?;
    let h = Harness::new(settings(&args.harness))?;
    let req = OracleRequest { model: args.model.clone(), inputs, out: args.output.clone(), dtype: args.dtype.clone(), seed: args.seed };
    let m = h.oracle(&req)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        println!("oracle: {} ({}) -> {}", m.model["class"].as_str().unwrap_or("?"), m.family, args.output.display());
        println!("  {} tensors: {}", m.tensors.len(), summarize(&m.names()));
        println!(
            "  transformers {}, torch {}, {} s",
            m.libraries["transformers"].as_str().unwrap_or("?"),
            m.libraries["torch"].as_str().unwrap_or("?"),
            m.elapsed_s
        );
    }
    Ok(crate::exit::OK)
}

/// `a, b, layers.0 .. layers.29, c`.
pub fn summarize(names: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    let layers: Vec<&&str> = names.iter().filter(|n| n.starts_with("layers.")).collect();
    let mut done = false;
    for n in names {
        if n.starts_with("layers.") {
            if !done {
                out.push(format!("{} .. {}", layers[0], layers[layers.len() - 1]));
                done = true;
            }
        } else {
            out.push(n.to_string());
        }
    }
    out.join(", ")
}
