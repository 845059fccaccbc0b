//! `mlxport capture`: the MLX side's tensors on the oracle's inputs.

use anyhow::Result;
use mlxport_harness::jobs::{CaptureRequest, Harness, Target};

use crate::cli::CaptureArgs;

pub fn run(args: CaptureArgs) -> Result<u8> {
    let mut h = Harness::new(args.harness.settings())?;
    let blas_note = if args.no_blas_check { h.blas.describe() } else { h.verify_blas()?.summary("running") };
    let target = match (&args.package, &args.mlx_lm, &args.mlx_vlm) {
        (Some(p), _, _) => Target::Package { package: p.clone(), weights: args.weights.clone().expect("clap requires --weights") },
        (None, Some(m), _) => Target::MlxLm { model: m.clone() },
        (None, None, Some(m)) => Target::MlxVlm { model: m.clone() },
        (None, None, None) => anyhow::bail!("give --package DIR --weights DIR, --mlx-lm DIR or --mlx-vlm DIR"),
    };
    let req = CaptureRequest { target, oracle: args.oracle.clone(), out: args.out.clone(), generate: !args.no_generate };
    let m = h.capture(&req)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        println!("capture: {} ({}) -> {}", m.implementation, m.family, args.out.display());
        println!("  {} tensors: {}", m.tensors.len(), super::oracle::summarize(&m.names()));
        println!("  mlx {}, {}", m.libraries["mlx"].as_str().unwrap_or("?"), blas_note);
        if let Some(false) = m.checks["tokenizer_matches"].as_bool() {
            println!("  note: the target's tokenizer encodes the texts differently from the source's");
        }
    }
    Ok(crate::exit::OK)
}
