//! The generation benchmark of one checkpoint (what `mlxport bench
//! generate` runs), written as a receipt and summarized per prompt length
//! with bootstrap confidence intervals for decode and prefill throughput.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};
use mlxport_bench::receipt::Receipt;
use mlxport_bench::stats::{bootstrap_median_ci, median, Bootstrap};
use mlxport_harness::jobs::{Harness, Target};
use serde::{Deserialize, Serialize};

use crate::bench::GenerateRequest;
use crate::optimize::BenchSettings;

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

/// Benchmark generation on `model` (the one generation benchmark,
/// [`crate::bench`]) through `package` (a scaffolded package loading
/// `model`) or, without one, mlx-lm; write the receipt.
pub fn generate(h: &Harness, model: &Path, package: Option<&Path>, s: &BenchSettings, fingerprint: Option<String>, receipt_path: &Path) -> Result<Measured> {
    if !crate::bench::valid_settings(&s.prompt_tokens, s.gen_tokens, s.runs) {
        bail!("the benchmark needs positive prompt lengths, at least 2 generated tokens and 1 run");
    }
    let mut req = GenerateRequest::new(model.to_path_buf(), s.prompt_tokens.clone(), s.gen_tokens, s.runs, h.settings.clone());
    req.warmup = s.warmup;
    req.seed = Some(s.seed);
    req.resamples = s.resamples;
    let target = match package {
        Some(p) => Target::Package { package: p.to_path_buf(), weights: model.to_path_buf() },
        None => Target::MlxLm { model: model.to_path_buf() },
    };
    let (receipt, _) = crate::bench::run(h, target, &req, fingerprint, None)?;
    crate::bench::write_receipt(&receipt, receipt_path)?;
    Ok(Measured { rows: rows(&receipt), receipt: receipt_path.to_path_buf(), warnings: receipt.warnings.clone() })
}
