//! Sentence-embedding benchmarks of an encoder package (the harness's
//! `bench_encoder.py`, schema `mlxport.bench-encoder/v1`) as receipts: one
//! benchmark per serving configuration (batch size, length bucketing,
//! attention), the metric sentences/s, each timed pass of the whole
//! sentence set one run.

use serde_json::{json, Value};

use crate::compare::Better;
use crate::env::{Environment, Source};
use crate::error::Error;
use crate::receipt::{Benchmark, Metric, QualityGate, Receipt, Role, Settings, Workload, WorkloadKind};
use crate::runner::Run;

/// Schema of the harness's output.
pub const OUTPUT_SCHEMA: &str = "mlxport.bench-encoder/v1";

/// The metric of every benchmark.
pub const METRIC: &str = "sentences_per_s";

/// What an embedding benchmark needs to become a receipt.
pub struct EmbedBench {
    pub environment: Environment,
    pub source: Source,
    pub workload_name: Option<String>,
    pub model_fingerprint: Option<String>,
    pub settings: Settings,
    /// The harness's JSON.
    pub output: Value,
    pub quality_gate: Option<QualityGate>,
}

/// A readable name of one side's options.
pub fn label(options: &Value) -> String {
    let b = options["batch_size"].as_u64().unwrap_or(1);
    let mut s = format!("batch {b}");
    if options["bucket"] == true {
        s.push_str(", bucketed");
    }
    if let Some(a) = options["attention"].as_str().filter(|a| *a != "fused") {
        s.push_str(&format!(", {a} attention"));
    }
    s
}

/// One side's timed passes as runs: each pass's seconds, and for every
/// `(name, count)` the count per second of that pass, plus the side's peak
/// memory.
pub(crate) fn pass_runs(side: &Value, per_pass: &[(&str, f64)]) -> crate::Result<Vec<Run>> {
    let secs = side["seconds"].as_array().ok_or_else(|| Error::MetricMissing("a side without seconds".into()))?;
    let peak = side["peak_memory_bytes"].as_f64().unwrap_or(0.0);
    let mut runs = Vec::new();
    for s in secs {
        let s = s.as_f64().filter(|v| v.is_finite() && *v > 0.0).ok_or_else(|| Error::MetricMissing("a non-positive pass time".into()))?;
        let mut extra = std::collections::BTreeMap::new();
        for (name, count) in per_pass {
            extra.insert(name.to_string(), count / s);
        }
        extra.insert("peak_memory_bytes".to_string(), peak);
        runs.push(Run {
            wall_s: s,
            user_s: 0.0,
            system_s: 0.0,
            max_rss_bytes: 0,
            rss_floor_bytes: 0,
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            extra,
        });
    }
    Ok(runs)
}

impl Receipt {
    /// The receipt of an embedding benchmark: one benchmark per side.
    pub fn from_embed(e: EmbedBench) -> crate::Result<Receipt> {
        let out = &e.output;
        if out["schema"] != OUTPUT_SCHEMA {
            return Err(Error::MetricMissing(format!("not a {OUTPUT_SCHEMA} document (schema {})", out["schema"])));
        }
        let n = out["sentences"].as_f64().filter(|n| *n > 0.0).ok_or_else(|| Error::MetricMissing("no sentences were embedded".into()))?;
        let tokens = out["tokens"].as_f64().unwrap_or(0.0);
        let sides = out["sides"].as_array().filter(|s| !s.is_empty()).ok_or_else(|| Error::MetricMissing("no measured sides".into()))?;
        let params = json!({"sentences": n, "tokens": tokens, "input": "the shipped sentence and query sets, one pass per run"});
        let name = e.workload_name.clone().unwrap_or_else(|| format!("embed {n} sentences ({tokens} tokens)"));
        let workload = Workload::new(WorkloadKind::Embed, &name, Some(params), &[]).map_err(|x| Error::MetricMissing(x.to_string()))?;
        let boot = e.settings.bootstrap;
        let mut benchmarks = Vec::new();
        let mut notes = Vec::new();
        for side in sides {
            let runs = pass_runs(side, &[(METRIC, n), ("tokens_per_s", tokens)])?;
            let metric = Metric { name: METRIC.into(), unit: "sentences/s".into(), better: Better::Higher };
            let l = label(&side["options"]);
            if let Some(c) = side["min_cosine_vs_first"].as_f64().filter(|c| *c < 1.0 - 1e-6) {
                notes.push(format!("{l}: embeddings differ from the first configuration's (min cosine {c:.9})"));
            }
            benchmarks.push(Benchmark::from_runs(Role::Single, l, None, metric, runs, &boot)?);
        }
        Ok(Receipt::from_harness(e.environment, e.source, workload, e.model_fingerprint, e.settings, benchmarks, notes, e.quality_gate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({"schema": OUTPUT_SCHEMA, "sentences": 4, "tokens": 40, "sides": [
            {"options": {"batch_size": 1, "bucket": false, "attention": "fused"}, "seconds": [0.5, 0.4, 0.5], "peak_memory_bytes": 10.0, "min_cosine_vs_first": 1.0},
            {"options": {"batch_size": 8, "bucket": true, "attention": "fused"}, "seconds": [0.25, 0.2, 0.25], "peak_memory_bytes": 20.0, "min_cosine_vs_first": 0.9}
        ]})
    }

    #[test]
    fn sides_become_benchmarks_with_sentences_per_second() {
        let r = Receipt::from_embed(EmbedBench {
            environment: Environment::capture(),
            source: Source::capture(std::path::Path::new(".")),
            workload_name: None,
            model_fingerprint: None,
            settings: crate::generate::settings(3, 1, 0, 200, None),
            output: doc(),
            quality_gate: None,
        })
        .unwrap();
        assert_eq!(r.workload.kind, WorkloadKind::Embed);
        assert_eq!(r.benchmarks.len(), 2);
        assert_eq!(r.benchmarks[1].label, "batch 8, bucketed");
        assert!((r.benchmarks[0].stats.median - 8.0).abs() < 1e-9, "{}", r.benchmarks[0].stats.median);
        assert!((r.benchmarks[1].stats.median - 16.0).abs() < 1e-9);
        assert!(r.warnings.iter().any(|w| w.contains("embeddings differ")), "{:?}", r.warnings);
        let mut bad = doc();
        bad["sides"][0]["seconds"][1] = json!(0.0);
        assert!(Receipt::from_embed(EmbedBench {
            environment: Environment::capture(),
            source: Source::capture(std::path::Path::new(".")),
            workload_name: None,
            model_fingerprint: None,
            settings: crate::generate::settings(3, 1, 0, 200, None),
            output: bad,
            quality_gate: None,
        })
        .is_err());
    }
}
