//! The generation benchmark of one checkpoint (what `mlxport bench
//! generate` runs), written as a receipt and summarized per prompt length
//! with bootstrap confidence intervals for decode and prefill throughput.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mlxport_bench::env::{Environment, Source};
use mlxport_bench::generate::{GenerateBench, Output};
use mlxport_bench::receipt::Receipt;
use mlxport_bench::stats::{bootstrap_median_ci, median, Bootstrap};
use mlxport_harness::jobs::{GenerateBenchRequest, Harness, Target};
use serde::{Deserialize, Serialize};

use crate::BenchSettings;

/// One prompt length: medians over the timed runs, 95 % bootstrap CIs of
/// the medians.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeedRow {
    pub prompt_tokens: u32,
    pub runs: usize,
    pub decode_tokens_per_s: f64,
    pub decode_ci: [f64; 2],
    pub prefill_tokens_per_s: f64,
    pub prefill_ci: [f64; 2],
    pub ttft_s: f64,
    /// MLX's peak memory, largest over the runs.
    pub peak_memory_bytes: f64,
}

/// A benchmark's summary and where its receipt is.
#[derive(Clone, Debug)]
pub struct Measured {
    pub rows: Vec<SpeedRow>,
    pub receipt: PathBuf,
    pub warnings: Vec<String>,
}

/// Summary rows of a generation receipt.
pub fn rows(r: &Receipt) -> Vec<SpeedRow> {
    let boot = r.settings.bootstrap;
    mlxport_bench::generate::rows(r)
        .into_iter()
        .zip(&r.benchmarks)
        .map(|(g, b)| {
            let prefill: Vec<f64> = b.runs.iter().filter_map(|x| x.extra.get("prefill_tokens_per_s").copied()).filter(|v| v.is_finite()).collect();
            let pci = if prefill.is_empty() { [f64::NAN, f64::NAN] } else { ci(&prefill, &boot) };
            SpeedRow {
                prompt_tokens: g.prompt_tokens,
                runs: g.runs,
                decode_tokens_per_s: g.decode_tokens_per_s,
                decode_ci: [b.stats.median_ci.low, b.stats.median_ci.high],
                prefill_tokens_per_s: if prefill.is_empty() { f64::NAN } else { median(&prefill) },
                prefill_ci: pci,
                ttft_s: g.ttft_s,
                peak_memory_bytes: g.peak_memory_bytes,
            }
        })
        .collect()
}

fn ci(xs: &[f64], boot: &Bootstrap) -> [f64; 2] {
    let i = bootstrap_median_ci(xs, boot);
    [i.low, i.high]
}

/// Benchmark generation with mlx-lm on `model` and write the receipt.
pub fn generate(h: &Harness, model: &Path, s: &BenchSettings, fingerprint: Option<String>, receipt_path: &Path) -> Result<Measured> {
    if s.prompt_tokens.is_empty() || s.prompt_tokens.contains(&0) || s.gen_tokens < 2 || s.runs == 0 {
        bail!("the benchmark needs positive prompt lengths, at least 2 generated tokens and 1 run");
    }
    let req = GenerateBenchRequest {
        target: Target::MlxLm { model: model.to_path_buf() },
        prompt_tokens: s.prompt_tokens.clone(),
        gen_tokens: s.gen_tokens,
        runs: s.runs,
        warmup: s.warmup,
        seed: s.seed,
    };
    let raw = h.bench_generate(&req)?;
    let output = Output::parse(&raw).map_err(anyhow::Error::msg)?;
    let got: Vec<u32> = output.results.iter().map(|r| r.prompt_tokens).collect();
    if got != s.prompt_tokens {
        bail!("the generation benchmark measured prompt lengths {got:?}, not {:?}", s.prompt_tokens);
    }
    let settings = mlxport_bench::generate::settings(s.runs, s.warmup, s.seed, s.resamples, Some(h.settings.timeout.as_secs_f64()));
    let receipt = Receipt::from_generate(GenerateBench {
        environment: Environment::capture(),
        source: Source::capture(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
        workload_name: None,
        model_fingerprint: fingerprint,
        settings,
        output,
        quality_gate: None,
    })
    .map_err(anyhow::Error::msg)?;
    if let Some(p) = receipt_path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let json = mlxport_bench::export::Export::render(&mlxport_bench::export::Json, &receipt);
    std::fs::write(receipt_path, json).with_context(|| format!("cannot write {}", receipt_path.display()))?;
    Ok(Measured { rows: rows(&receipt), receipt: receipt_path.to_path_buf(), warnings: receipt.warnings.clone() })
}
