//! Image-model throughput (the harness's `bench_vision.py`, schema
//! `mlxport.bench-images/v1`) as receipts: one benchmark per batch size,
//! the metric images/s (model forward passes only; the images are
//! preprocessed once, untimed), each timed pass of the whole input set one
//! run.

use serde_json::json;

use crate::compare::Better;
use crate::embed::pass_runs;
use crate::error::Error;
use crate::receipt::{Benchmark, Metric, Receipt, Role, Workload, WorkloadKind};

/// Schema of the harness's output.
pub const OUTPUT_SCHEMA: &str = "mlxport.bench-images/v1";

/// The metric of every benchmark.
pub const METRIC: &str = "images_per_s";

/// What an image benchmark needs to become a receipt: the same as an
/// embedding benchmark's (the harness's JSON is another schema).
pub type ImagesBench = crate::embed::EmbedBench;

impl Receipt {
    /// The receipt of an image benchmark: one benchmark per batch size.
    pub fn from_images(e: ImagesBench) -> crate::Result<Receipt> {
        let out = &e.output;
        if out["schema"] != OUTPUT_SCHEMA {
            return Err(Error::MetricMissing(format!("not a {OUTPUT_SCHEMA} document (schema {})", out["schema"])));
        }
        let n = out["inputs"].as_f64().filter(|n| *n > 0.0).ok_or_else(|| Error::MetricMissing("no images were run".into()))?;
        let sides = out["sides"].as_array().filter(|s| !s.is_empty()).ok_or_else(|| Error::MetricMissing("no measured batch sizes".into()))?;
        let params = json!({
            "inputs": n,
            "images": out["images"],
            "pixel_values_shape": out["pixel_values_shape"],
            "input": "photographs through the package's image processor once (untimed), then model forward passes only",
        });
        let name = e.workload_name.clone().unwrap_or_else(|| format!("classify {n} images"));
        let workload = Workload::new(WorkloadKind::Images, &name, Some(params), &[]).map_err(|x| Error::MetricMissing(x.to_string()))?;
        let mut benchmarks = Vec::new();
        let mut notes = Vec::new();
        for side in sides {
            let runs = pass_runs(side, &[(METRIC, n)])?;
            let label = format!("batch {}", side["options"]["batch_size"].as_u64().unwrap_or(1));
            if let Some(d) = side["max_abs_diff_vs_first"].as_f64().filter(|d| *d > 1e-4) {
                notes.push(format!("{label}: outputs differ from the first batch size's by up to {d:.3e}"));
            }
            let metric = Metric { name: METRIC.into(), unit: "images/s".into(), better: Better::Higher };
            benchmarks.push(Benchmark::from_runs(Role::Single, label, None, metric, runs, &e.settings.bootstrap)?);
        }
        Ok(Receipt::from_harness(e.environment, e.source, workload, e.model_fingerprint, e.settings, benchmarks, notes, e.quality_gate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Environment, Source};

    #[test]
    fn batch_sizes_become_benchmarks_with_images_per_second() {
        let doc = json!({"schema": OUTPUT_SCHEMA, "inputs": 16, "images": 13, "pixel_values_shape": [3, 32, 32], "sides": [
            {"options": {"batch_size": 1}, "seconds": [0.5, 0.4, 0.5], "peak_memory_bytes": 10.0, "max_abs_diff_vs_first": 0.0},
            {"options": {"batch_size": 8}, "seconds": [0.25, 0.2, 0.25], "peak_memory_bytes": 20.0, "max_abs_diff_vs_first": 1e-6}
        ]});
        let r = Receipt::from_images(ImagesBench {
            environment: Environment::capture(),
            source: Source::capture(std::path::Path::new(".")),
            workload_name: None,
            model_fingerprint: None,
            settings: crate::generate::settings(3, 1, 0, 200, None),
            output: doc.clone(),
            quality_gate: None,
        })
        .unwrap();
        assert_eq!(r.workload.kind, WorkloadKind::Images);
        assert_eq!(r.benchmarks.len(), 2);
        assert_eq!(r.benchmarks[1].label, "batch 8");
        assert_eq!(r.benchmarks[0].stats.median, 32.0);
        assert_eq!(r.benchmarks[1].stats.median, 64.0);
        let mut bad = doc;
        bad["schema"] = json!("other");
        assert!(Receipt::from_images(ImagesBench {
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
