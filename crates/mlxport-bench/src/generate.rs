//! Generation benchmarks (`bench generate`) as receipts.
//!
//! The measurement itself happens in Python (the harness's
//! `bench_generate.py`, schema `mlxport.bench-generate/v1`): per prompt
//! length, timed runs each with time to first token, prefill and decode
//! throughput, per-token latency percentiles and MLX's peak and active
//! memory. This module reads that output and turns it into an ordinary
//! `mlxport.bench-receipt/v1`: a workload of kind `generate`, one
//! benchmark per prompt length (label `prompt N`) whose metric is decode
//! throughput (higher is better), every other measurement kept in each
//! run's `extra`. [`rows`] summarizes a receipt by prompt length for tables
//! and charts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compare::Better;
use crate::env::{Environment, Source};
use crate::error::Error;
use crate::receipt::{Benchmark, Metric, QualityGate, Receipt, Role, Settings, Workload, WorkloadKind};
use crate::runner::Run;
use crate::stats::median;

pub const OUTPUT_SCHEMA: &str = "mlxport.bench-generate/v1";

/// The metric each prompt length's statistics are about.
pub const METRIC: &str = "decode_tokens_per_s";

/// What `bench_generate.py` writes.
#[derive(Debug, Clone, Deserialize)]
pub struct Output {
    pub schema: String,
    pub implementation: String,
    pub device: String,
    pub mlx: Option<String>,
    pub vocab_size: u64,
    pub load_s: f64,
    pub gen_tokens: u32,
    pub seed: u64,
    pub results: Vec<PromptResult>,
    /// A package's serving options, as it ran.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
    /// mlx-lm measured in the same process, interleaved run by run.
    #[serde(default)]
    pub versus: Option<Box<Output>>,
    /// A vision-language package's image (its file, the tokens it adds to
    /// every prompt, its pixel_values shape).
    #[serde(default)]
    pub image: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PromptResult {
    pub prompt_tokens: u32,
    /// Every run produced the same tokens.
    pub deterministic_tokens: bool,
    pub runs: Vec<PyRun>,
    /// With `versus`: whether both produced the same tokens.
    #[serde(default)]
    pub same_tokens_as_versus: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PyRun {
    pub wall_s: f64,
    pub user_s: f64,
    pub system_s: f64,
    pub max_rss_bytes: u64,
    pub extra: BTreeMap<String, f64>,
}

impl Output {
    /// Parse and check the Python step's output; a broken rule is an
    /// [`Error::InvalidInput`] naming the output.
    pub fn parse(bytes: &[u8]) -> crate::Result<Output> {
        Output::parse_rule(bytes).map_err(Error::InvalidInput)
    }

    fn parse_rule(bytes: &[u8]) -> Result<Output, String> {
        let o: Output = serde_json::from_slice(bytes).map_err(|e| format!("generation benchmark output is not {OUTPUT_SCHEMA}: {e}"))?;
        Output::check(&o)?;
        if let Some(v) = &o.versus {
            Output::check(v).map_err(|e| format!("versus: {e}"))?;
            let lengths = |o: &Output| o.results.iter().map(|r| (r.prompt_tokens, r.runs.len())).collect::<Vec<_>>();
            if lengths(v) != lengths(&o) {
                return Err("versus: other prompt lengths or run counts than the package's".into());
            }
        }
        Ok(o)
    }

    fn check(o: &Output) -> Result<(), String> {
        if o.schema != OUTPUT_SCHEMA {
            return Err(format!("generation benchmark output has schema `{}`, expected `{OUTPUT_SCHEMA}`", o.schema));
        }
        if o.results.is_empty() {
            return Err("generation benchmark output has no prompt lengths".into());
        }
        for r in &o.results {
            if r.runs.is_empty() {
                return Err(format!("prompt {}: no runs", r.prompt_tokens));
            }
            for (i, run) in r.runs.iter().enumerate() {
                for key in [METRIC, "ttft_s", "prefill_tokens_per_s", "peak_memory_bytes", "active_memory_bytes"] {
                    if !run.extra.get(key).is_some_and(|v| v.is_finite()) {
                        return Err(format!("prompt {} run {i}: no finite `{key}`", r.prompt_tokens));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The settings a generation receipt records: `runs` timed runs after
/// `warmup`, one process, bootstrap CIs at 95 %.
pub fn settings(runs: u32, warmup: u32, seed: u64, resamples: u32, timeout_s: Option<f64>) -> Settings {
    Settings {
        warmup,
        runs: Some(runs),
        min_runs: runs,
        min_time_s: 0.0,
        max_runs: Some(runs),
        order: crate::schedule::Order::Alternate,
        seed,
        timeout_s,
        output: crate::runner::OutputMode::Null,
        capture_bytes: 0,
        ignore_failure: false,
        prepare: None,
        cleanup: None,
        bootstrap: crate::stats::Bootstrap { resamples, level: 0.95, seed },
        min_effect: 0.01,
    }
}

/// What a generation benchmark needs to become a receipt.
pub struct GenerateBench {
    pub environment: Environment,
    pub source: Source,
    /// Named by the user, or derived from the parameters.
    pub workload_name: Option<String>,
    pub model_fingerprint: Option<String>,
    pub settings: Settings,
    pub output: Output,
    pub quality_gate: Option<QualityGate>,
}

/// The workload parameters: what was generated, not by which model (so a
/// baseline and a candidate model share a workload).
pub fn parameters(prompt_tokens: &[u32], gen_tokens: u32, seed: u64) -> serde_json::Value {
    serde_json::json!({
        "prompt_tokens": prompt_tokens,
        "gen_tokens": gen_tokens,
        "prompt": "seeded random token ids",
        "prompt_seed": seed,
        "sampling": "greedy, no early stop",
    })
}

impl Receipt {
    /// The receipt of a generation benchmark: one benchmark per prompt
    /// length, decode throughput as the metric.
    pub fn from_generate(g: GenerateBench) -> crate::Result<Receipt> {
        let lengths: Vec<u32> = g.output.results.iter().map(|r| r.prompt_tokens).collect();
        let mut params = parameters(&lengths, g.output.gen_tokens, g.output.seed);
        if let Some(image) = &g.output.image {
            params["prompt"] = "one image's tokens, then seeded random token ids".into();
            params["image"] = image.clone();
        }
        let name = g.workload_name.clone().unwrap_or_else(|| {
            format!("generate {} tokens after prompts of {}", g.output.gen_tokens, lengths.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
        });
        let workload = Workload::new(WorkloadKind::Generate, &name, Some(params), &[]).map_err(|e| Error::MetricMissing(e.to_string()))?;
        let boot = g.settings.bootstrap;
        let mut benchmarks = Vec::new();
        let mut notes = Vec::new();
        for r in &g.output.results {
            let runs: Vec<Run> = r
                .runs
                .iter()
                .map(|p| Run {
                    wall_s: p.wall_s,
                    user_s: p.user_s,
                    system_s: p.system_s,
                    max_rss_bytes: p.max_rss_bytes,
                    rss_floor_bytes: 0,
                    exit_code: Some(0),
                    signal: None,
                    timed_out: false,
                    extra: p.extra.clone(),
                })
                .collect();
            let metric = Metric { name: METRIC.into(), unit: "tokens/s".into(), better: Better::Higher };
            benchmarks.push(Benchmark::from_runs(Role::Single, format!("prompt {}", r.prompt_tokens), None, metric, runs, &boot)?);
            if !r.deterministic_tokens {
                notes.push(format!("prompt {}: greedy decoding produced different tokens across runs", r.prompt_tokens));
            }
        }
        Ok(Receipt::from_harness(g.environment, g.source, workload, g.model_fingerprint, g.settings, benchmarks, notes, g.quality_gate))
    }
}

/// One prompt length of a generation receipt, medians over its runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub prompt_tokens: u32,
    pub runs: usize,
    pub ttft_s: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Medians over the runs of each run's percentile.
    pub token_latency_p50_s: Option<f64>,
    pub token_latency_p90_s: Option<f64>,
    pub token_latency_p99_s: Option<f64>,
    /// Largest over the runs.
    pub peak_memory_bytes: f64,
    pub active_memory_bytes: f64,
}

/// The per-prompt-length summary of a generation receipt (empty for other
/// workloads).
pub fn rows(r: &Receipt) -> Vec<Row> {
    if r.workload.kind != WorkloadKind::Generate {
        return Vec::new();
    }
    r.benchmarks
        .iter()
        .map(|b| {
            let vals = |k: &str| b.runs.iter().filter_map(|x| x.extra.get(k).copied()).filter(|v| v.is_finite()).collect::<Vec<f64>>();
            let med = |k: &str| {
                let v = vals(k);
                if v.is_empty() {
                    None
                } else {
                    Some(median(&v))
                }
            };
            let max = |k: &str| vals(k).into_iter().fold(0.0, f64::max);
            Row {
                prompt_tokens: med("prompt_tokens").map(|x| x as u32).unwrap_or(0),
                runs: b.runs.len(),
                ttft_s: med("ttft_s").unwrap_or(f64::NAN),
                prefill_tokens_per_s: med("prefill_tokens_per_s").unwrap_or(f64::NAN),
                decode_tokens_per_s: med(METRIC).unwrap_or(f64::NAN),
                token_latency_p50_s: med("token_latency_p50_s"),
                token_latency_p90_s: med("token_latency_p90_s"),
                token_latency_p99_s: med("token_latency_p99_s"),
                peak_memory_bytes: max("peak_memory_bytes"),
                active_memory_bytes: max("active_memory_bytes"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(decode: &[f64]) -> Output {
        let runs: Vec<serde_json::Value> = decode
            .iter()
            .map(|d| {
                serde_json::json!({"wall_s": 1.0, "user_s": 0.9, "system_s": 0.1, "max_rss_bytes": 1 << 30, "extra": {
                    "prompt_tokens": 16.0, "generated_tokens": 8.0, "ttft_s": 0.2, "prefill_tokens_per_s": 80.0, "decode_s": 7.0 / d,
                    "decode_tokens_per_s": d, "token_latency_p50_s": 1.0 / d, "token_latency_p90_s": 1.1 / d, "token_latency_p99_s": 1.2 / d,
                    "peak_memory_bytes": 3.0e8, "active_memory_bytes": 2.5e8}})
            })
            .collect();
        let doc = serde_json::json!({"schema": OUTPUT_SCHEMA, "implementation": "mlx-lm", "device": "cpu", "mlx": "0.0", "vocab_size": 100, "load_s": 1.0,
            "gen_tokens": 8, "seed": 0, "results": [{"prompt_tokens": 16, "deterministic_tokens": true, "runs": runs}]});
        Output::parse(&serde_json::to_vec(&doc).unwrap()).unwrap()
    }

    #[test]
    fn receipt_from_output_validates_and_summarizes() {
        let settings = Settings {
            warmup: 1,
            runs: Some(3),
            min_runs: 3,
            min_time_s: 0.0,
            max_runs: Some(3),
            order: crate::schedule::Order::Alternate,
            seed: 1,
            timeout_s: None,
            output: crate::runner::OutputMode::Null,
            capture_bytes: 0,
            ignore_failure: false,
            prepare: None,
            cleanup: None,
            bootstrap: crate::stats::Bootstrap { resamples: 200, level: 0.95, seed: 1 },
            min_effect: 0.01,
        };
        let r = Receipt::from_generate(GenerateBench {
            environment: Environment::capture(),
            source: Source { git_commit: None, dirty: None },
            workload_name: None,
            model_fingerprint: Some("sha256:x".into()),
            settings,
            output: output(&[10.0, 12.0, 11.0]),
            quality_gate: None,
        })
        .unwrap();
        assert_eq!(r.workload.kind, WorkloadKind::Generate);
        assert_eq!(r.benchmarks[0].stats.median, 11.0);
        let v = serde_json::to_value(&r).unwrap();
        assert!(crate::check::validate(&v).is_ok(), "{:?}", crate::check::validate(&v).err());
        let rows = rows(&r);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].prompt_tokens, 16);
        assert_eq!(rows[0].decode_tokens_per_s, 11.0);
        assert!((rows[0].token_latency_p50_s.unwrap() - 1.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn malformed_output_is_refused() {
        assert!(Output::parse(b"{}").is_err());
        let mut doc: serde_json::Value = serde_json::json!({"schema": "other", "implementation": "x", "device": "cpu", "mlx": null, "vocab_size": 1, "load_s": 0.0, "gen_tokens": 2, "seed": 0, "results": []});
        assert!(Output::parse(&serde_json::to_vec(&doc).unwrap()).unwrap_err().to_string().contains("schema"));
        doc["schema"] = OUTPUT_SCHEMA.into();
        assert!(Output::parse(&serde_json::to_vec(&doc).unwrap()).unwrap_err().to_string().contains("no prompt lengths"));
        doc["results"] = serde_json::json!([{"prompt_tokens": 4, "deterministic_tokens": true, "runs": [{"wall_s": 1.0, "user_s": 0.0, "system_s": 0.0, "max_rss_bytes": 0, "extra": {}}]}]);
        assert!(Output::parse(&serde_json::to_vec(&doc).unwrap()).unwrap_err().to_string().contains("decode_tokens_per_s"));
    }
}

/// Schema of a side-by-side generation benchmark.
pub const VERSUS_SCHEMA: &str = "mlxport.bench-versus/v1";

/// A package against mlx-lm, measured in one process with their runs
/// interleaved: both receipts and, per prompt length, the paired ratios
/// package / mlx-lm of decode and prefill throughput.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Versus {
    pub schema: String,
    pub candidate: Receipt,
    pub baseline: Receipt,
    pub rows: Vec<VersusRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersusRow {
    pub prompt_tokens: u32,
    pub decode: crate::compare::Comparison,
    pub prefill: crate::compare::Comparison,
    /// Both produced the same greedy tokens.
    pub same_tokens: Option<bool>,
}

impl Versus {
    /// Pair run i of the candidate with run i of the baseline (they were
    /// interleaved), per prompt length.
    pub fn new(candidate: Receipt, baseline: Receipt, output: &Output) -> crate::Result<Versus> {
        let boot = candidate.settings.bootstrap;
        let min_effect = candidate.settings.min_effect;
        let mut rows = Vec::new();
        for ((c, b), r) in candidate.benchmarks.iter().zip(&baseline.benchmarks).zip(&output.results) {
            let pair = |name: &str| -> crate::Result<crate::compare::Comparison> {
                let cv = crate::receipt::metric_values(&c.runs, name)?;
                let bv = crate::receipt::metric_values(&b.runs, name)?;
                Ok(crate::compare::paired(&bv, &cv, Better::Higher, &boot, min_effect))
            };
            rows.push(VersusRow {
                prompt_tokens: r.prompt_tokens,
                decode: pair(METRIC)?,
                prefill: pair("prefill_tokens_per_s")?,
                same_tokens: r.same_tokens_as_versus,
            });
        }
        Ok(Versus { schema: VERSUS_SCHEMA.into(), candidate, baseline, rows })
    }
}
