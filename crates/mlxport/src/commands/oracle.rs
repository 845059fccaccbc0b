//! `mlxport oracle`: the source model's tensors at every ladder boundary.

use anyhow::Result;
use mlxport_harness::jobs::{Harness, Inputs, OracleRequest};

use crate::cli::OracleArgs;

pub fn inputs_of(args: &OracleArgs) -> Result<Inputs> {
    Ok(mlxport_workflow::inputs::from_args(&mlxport_workflow::inputs::InputArgs {
        file: args.inputs.as_deref(),
        text: &args.text,
        token_ids: &args.token_ids,
        images: &args.image,
        sample_images: args.sample_images,
        generate: args.generate,
    })?)
}

pub fn run(args: OracleArgs) -> Result<u8> {
    let inputs = inputs_of(&args)?;
    let h = Harness::new(args.harness.settings())?;
    let req = OracleRequest { model: args.model.clone(), inputs, out: args.out.clone(), dtype: args.compute_dtype.clone(), seed: args.seed };
    let m = h.oracle(&req)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        println!("oracle: {} ({}) -> {}", m.model["class"].as_str().unwrap_or("?"), m.family, args.out.display());
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
