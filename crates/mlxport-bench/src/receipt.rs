//! The benchmark receipt, `mlxport.bench-receipt/v1`: one JSON document
//! that binds a result to everything needed to judge it.
//!
//! - `environment` (with its hash) and `source` (git revision): where and
//!   on what the numbers were measured;
//! - `workload` (with its hash): what was measured — its kind (`command`
//!   now; `generate` for MLX generation benchmarks), a name, parameters and
//!   the SHA-256 of every input file;
//! - `model_fingerprint`: the model, when one is involved;
//! - `settings`: every knob that shaped the runs and the statistics (seeds
//!   included, so the statistics can be recomputed exactly);
//! - `benchmarks`: per command, its raw runs, the metric the statistics are
//!   about, the statistics, outliers and the end of its output;
//! - `comparison`: the paired candidate/baseline verdict, in A/B mode;
//! - `quality_gate`: the pass/fail result that must accompany a speed claim.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::CommandSpec;
use crate::compare::{Better, Comparison};
use crate::env::{Environment, Source};
use crate::error::Error;
use crate::outliers::Outlier;
use crate::runner::{OutputMode, Run};
use crate::schedule::Order;
use crate::stats::{summarize, Bootstrap, Summary};

pub const SCHEMA: &str = "mlxport.bench-receipt/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub schema: String,
    /// UTC, RFC 3339.
    pub created: String,
    pub tool: Tool,
    pub environment: Environment,
    pub source: Source,
    pub workload: Workload,
    pub model_fingerprint: Option<String>,
    pub settings: Settings,
    pub benchmarks: Vec<Benchmark>,
    pub comparison: Option<Comparison>,
    pub quality_gate: Option<QualityGate>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Command lines run as processes.
    Command,
    /// Token generation by an MLX model through the Python harness.
    Generate,
    /// Sentence embeddings by an MLX encoder package through the Python
    /// harness.
    Embed,
    /// Images through an MLX image-model package (classification or
    /// features) through the Python harness.
    Images,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// What is being measured, as the user names it (`--workload`); by
    /// default the command line. Baseline and candidate receipts must name
    /// the same workload to be compared.
    pub name: String,
    /// Workload parameters (for `generate`: prompt and generation lengths).
    pub parameters: Option<Value>,
    pub inputs: Vec<Input>,
    /// `sha256:` of kind, name, parameters and the inputs' hashes.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// As given on the command line.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl Workload {
    /// A workload with its input files hashed.
    pub fn new(kind: WorkloadKind, name: &str, parameters: Option<Value>, inputs: &[std::path::PathBuf]) -> std::io::Result<Self> {
        let mut files = Vec::new();
        for p in inputs {
            let (sha256, bytes) = crate::hash::sha256_file(p).map_err(|e| std::io::Error::new(e.kind(), format!("input {}: {e}", p.display())))?;
            files.push(Input { path: p.display().to_string(), bytes, sha256 });
        }
        let mut w = Workload { kind, name: name.to_string(), parameters, inputs: files, hash: String::new() };
        w.hash = w.compute_hash();
        Ok(w)
    }

    pub fn compute_hash(&self) -> String {
        crate::hash::sha256_json(&serde_json::json!({
            "kind": self.kind,
            "name": self.name,
            "parameters": self.parameters,
            "inputs": self.inputs.iter().map(|i| &i.sha256).collect::<Vec<_>>(),
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub warmup: u32,
    pub runs: Option<u32>,
    pub min_runs: u32,
    pub min_time_s: f64,
    pub max_runs: Option<u32>,
    pub order: Order,
    /// Seed of the randomized order.
    pub seed: u64,
    pub timeout_s: Option<f64>,
    pub output: OutputMode,
    pub capture_bytes: usize,
    pub ignore_failure: bool,
    pub prepare: Option<String>,
    pub cleanup: Option<String>,
    pub bootstrap: Bootstrap,
    /// Smallest relative effect a verdict reports.
    pub min_effect: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Single,
    Baseline,
    Candidate,
}

/// The quantity the statistics are about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// A [`Run::metric`] name: `wall_s`, or a workload measurement in
    /// `extra` such as `decode_tokens_per_s`.
    pub name: String,
    pub unit: String,
    pub better: Better,
}

impl Metric {
    pub fn wall_time() -> Self {
        Metric { name: "wall_s".into(), unit: "s".into(), better: Better::Lower }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub display: String,
    pub argv: Vec<String>,
    pub shell: bool,
    /// `sha256:` of the argument vector, the shell flag and the workload's
    /// input hashes: the command and its inputs.
    pub hash: String,
}

impl CommandRecord {
    pub fn new(c: &CommandSpec, workload: &Workload) -> Self {
        let mut r = CommandRecord { display: c.display.clone(), argv: c.argv.clone(), shell: c.shell, hash: String::new() };
        r.hash = r.compute_hash(workload);
        r
    }

    pub fn compute_hash(&self, workload: &Workload) -> String {
        crate::hash::sha256_json(&serde_json::json!({
            "argv": self.argv,
            "shell": self.shell,
            "inputs": workload.inputs.iter().map(|i| &i.sha256).collect::<Vec<_>>(),
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    pub role: Role,
    /// A short label ("baseline", the command line, "prompt 1024").
    pub label: String,
    pub command: Option<CommandRecord>,
    pub metric: Metric,
    pub runs: Vec<Run>,
    /// Statistics of the metric over `runs`.
    pub stats: Summary,
    pub resources: Resources,
    /// Runs whose metric is an outlier by modified Z-score.
    pub outliers: Vec<Outlier>,
    pub output_tail: Option<OutputTail>,
}

/// CPU and memory over the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub user_s_median: f64,
    pub system_s_median: f64,
    pub max_rss_bytes_median: u64,
    pub max_rss_bytes_max: u64,
    /// Every run's peak RSS was at or below the runner's own (the command's
    /// true peak is at most `max_rss_bytes_max`).
    pub max_rss_at_floor: bool,
}

/// The end of the last run's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTail {
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

impl Benchmark {
    /// Statistics, resources and outliers of a set of runs.
    pub fn from_runs(role: Role, label: String, command: Option<CommandRecord>, metric: Metric, runs: Vec<Run>, boot: &Bootstrap) -> crate::Result<Self> {
        let values = metric_values(&runs, &metric.name)?;
        if values.is_empty() {
            return Err(Error::MetricMissing(format!("`{label}` has no runs")));
        }
        let stats = summarize(&values, boot);
        let outliers = crate::outliers::find(&values);
        let resources = resources(&runs);
        Ok(Benchmark { role, label, command, metric, runs, stats, resources, outliers, output_tail: None })
    }
}

/// The metric of every run; an [`Error::MetricMissing`] names a run that
/// lacks it.
pub fn metric_values(runs: &[Run], name: &str) -> crate::Result<Vec<f64>> {
    runs.iter()
        .enumerate()
        .map(|(i, r)| r.metric(name).filter(|v| v.is_finite()).ok_or_else(|| Error::MetricMissing(format!("run {i} has no finite `{name}`"))))
        .collect()
}

pub fn resources(runs: &[Run]) -> Resources {
    if runs.is_empty() {
        return Resources { user_s_median: 0.0, system_s_median: 0.0, max_rss_bytes_median: 0, max_rss_bytes_max: 0, max_rss_at_floor: false };
    }
    let med = |f: &dyn Fn(&Run) -> f64| crate::stats::median(&runs.iter().map(f).collect::<Vec<_>>());
    Resources {
        user_s_median: med(&|r| r.user_s),
        system_s_median: med(&|r| r.system_s),
        max_rss_bytes_median: med(&|r| r.max_rss_bytes as f64).round() as u64,
        max_rss_bytes_max: runs.iter().map(|r| r.max_rss_bytes).max().unwrap_or(0),
        max_rss_at_floor: runs.iter().all(Run::rss_at_floor),
    }
}

/// A quality gate's result, read from a JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityGate {
    /// The file's name (no directory).
    pub file: String,
    pub sha256: String,
    pub passed: bool,
    /// The file's content.
    pub result: Value,
}

impl QualityGate {
    /// Read a gate result: a JSON object with `"passed": bool` (or `"pass"`),
    /// or `"status"` / `"result"` of `"pass"`/`"passed"`/`"fail"`/`"failed"`.
    /// A file that cannot be read is an [`Error::Io`], one that breaks the
    /// rule an [`Error::Invalid`], both naming it.
    pub fn load(path: &Path) -> crate::Result<Self> {
        let invalid = |rule: String| Error::Invalid { path: path.to_path_buf(), rule };
        let bytes = std::fs::read(path).map_err(|error| Error::Io { path: path.to_path_buf(), error })?;
        let result: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let passed =
            gate_passed(&result).ok_or_else(|| invalid("no pass/fail result (expected \"passed\": true|false, or \"status\": \"pass\"|\"fail\")".into()))?;
        Ok(QualityGate {
            file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            sha256: crate::hash::sha256(&bytes),
            passed,
            result,
        })
    }
}

fn gate_passed(v: &Value) -> Option<bool> {
    let o = v.as_object()?;
    for k in ["passed", "pass"] {
        if let Some(b) = o.get(k).and_then(Value::as_bool) {
            return Some(b);
        }
    }
    for k in ["status", "result", "verdict"] {
        match o.get(k).and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("pass" | "passed") => return Some(true),
            Some("fail" | "failed") => return Some(false),
            _ => {}
        }
    }
    None
}

/// Warnings a reader must see: outliers, noisy samples, failed runs.
impl Receipt {
    /// A receipt of a benchmark the Python harness measured (generation,
    /// embeddings): the benchmarks' own warnings, then `notes`, then a
    /// failed quality gate.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_harness(
        environment: Environment,
        source: Source,
        workload: Workload,
        model_fingerprint: Option<String>,
        settings: Settings,
        benchmarks: Vec<Benchmark>,
        notes: Vec<String>,
        quality_gate: Option<QualityGate>,
    ) -> Receipt {
        let mut w = warnings(&benchmarks);
        w.extend(notes);
        if let Some(q) = quality_gate.as_ref().filter(|q| !q.passed) {
            w.push(format!("the quality gate {} failed", q.file));
        }
        Receipt {
            schema: SCHEMA.into(),
            created: mlxport_util::time::now_rfc3339(),
            tool: Tool { name: "mlxport".into(), version: env!("CARGO_PKG_VERSION").into() },
            environment,
            source,
            workload,
            model_fingerprint,
            settings,
            benchmarks,
            comparison: None,
            quality_gate,
            warnings: w,
        }
    }
}

pub fn warnings(benchmarks: &[Benchmark]) -> Vec<String> {
    let mut w = Vec::new();
    for b in benchmarks {
        if !b.outliers.is_empty() {
            let list: Vec<String> =
                b.outliers.iter().map(|o| format!("run {} ({}, modified Z {:.1})", o.run + 1, fmt_value(o.value, &b.metric.unit), o.z)).collect();
            w.push(format!(
                "{} of {} runs of `{}` are outliers by modified Z-score (|Z| > {}): {}. Something else may have been running, or the first runs filled a cache (try --warmup); the median and its interval are robust to them.",
                b.outliers.len(),
                b.runs.len(),
                b.label,
                crate::outliers::THRESHOLD,
                list.join(", ")
            ));
        }
        if let Some(cv) = b.stats.cv {
            if cv > 0.10 {
                w.push(format!("`{}` is noisy: coefficient of variation {:.1}% (over 10%); a promotion needs 10% or less", b.label, cv * 100.0));
            }
        }
        let failed = b.runs.iter().filter(|r| !r.succeeded()).count();
        if failed > 0 {
            w.push(format!("{failed} of {} runs of `{}` failed or timed out", b.runs.len(), b.label));
        }
    }
    w
}

/// `123.4 ms`-style values for seconds, plain numbers otherwise.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if unit != "s" {
        return format!("{v:.4} {unit}");
    }
    let a = v.abs();
    if a >= 1.0 {
        format!("{v:.3} s")
    } else if a >= 1e-3 {
        format!("{:.2} ms", v * 1e3)
    } else {
        format!("{:.1} µs", v * 1e6)
    }
}

/// What a measured command benchmark needs to become a receipt.
pub struct CommandBench<'a> {
    pub environment: Environment,
    pub source: Source,
    pub workload: Workload,
    pub model_fingerprint: Option<String>,
    pub settings: Settings,
    /// One command, or a baseline and a candidate.
    pub commands: &'a [CommandSpec],
    pub measured: crate::schedule::Measured,
    pub quality_gate: Option<QualityGate>,
}

impl Receipt {
    /// Build the receipt of a command benchmark: statistics, outliers, the
    /// paired comparison in A/B mode, warnings.
    pub fn from_commands(b: CommandBench) -> crate::Result<Receipt> {
        let ab = b.commands.len() == 2;
        let boot = b.settings.bootstrap;
        let mut benchmarks = Vec::new();
        for (i, (c, runs)) in b.commands.iter().zip(b.measured.runs).enumerate() {
            let role = match (ab, i) {
                (false, _) => Role::Single,
                (true, 0) => Role::Baseline,
                (true, _) => Role::Candidate,
            };
            let mut bench = Benchmark::from_runs(role, c.display.clone(), Some(CommandRecord::new(c, &b.workload)), Metric::wall_time(), runs, &boot)?;
            if let Some((out, err)) = b.measured.last_output.get(i) {
                if b.settings.output == OutputMode::Capture {
                    bench.output_tail = Some(OutputTail { stdout: out.text(), stderr: err.text(), stdout_bytes: out.total, stderr_bytes: err.total });
                }
            }
            benchmarks.push(bench);
        }
        let comparison = if ab {
            let (x, y) = (metric_values(&benchmarks[0].runs, "wall_s")?, metric_values(&benchmarks[1].runs, "wall_s")?);
            Some(crate::compare::paired(&x, &y, Better::Lower, &boot, b.settings.min_effect))
        } else {
            None
        };
        let mut warnings = warnings(&benchmarks);
        if let Some(g) = &b.quality_gate {
            if !g.passed {
                warnings.push(format!("the quality gate {} failed", g.file));
            }
        }
        Ok(Receipt {
            schema: SCHEMA.into(),
            created: mlxport_util::time::now_rfc3339(),
            tool: Tool { name: "mlxport".into(), version: env!("CARGO_PKG_VERSION").into() },
            environment: b.environment,
            source: b.source,
            workload: b.workload,
            model_fingerprint: b.model_fingerprint,
            settings: b.settings,
            benchmarks,
            comparison,
            quality_gate: b.quality_gate,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_results() {
        for (s, want) in [
            (r#"{"passed": true}"#, Some(true)),
            (r#"{"pass": false}"#, Some(false)),
            (r#"{"status": "PASS"}"#, Some(true)),
            (r#"{"result": "failed"}"#, Some(false)),
            (r#"{"x": 1}"#, None),
            ("[]", None),
        ] {
            assert_eq!(gate_passed(&serde_json::from_str(s).unwrap()), want, "{s}");
        }
    }

    #[test]
    fn timestamps_and_values() {
        let t = mlxport_util::time::now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
        assert_eq!(fmt_value(0.1234, "s"), "123.40 ms");
        assert_eq!(fmt_value(1.5, "s"), "1.500 s");
        assert_eq!(fmt_value(0.00005, "s"), "50.0 µs");
    }
}
