//! Validating receipts, and the rules that promote a candidate over its
//! baseline.
//!
//! Validation reads the JSON strictly into the v1 types, then recomputes
//! everything derived — environment, workload and command hashes,
//! statistics (the bootstrap is seeded, so the interval recomputes
//! exactly), outliers, the paired comparison — and reports each mismatch.
//!
//! A candidate is promoted over a baseline only when every rule holds:
//!
//! 1. `same-environment`: both ran on the same environment hash;
//! 2. `same-workload`: same workload hash and metric;
//! 3. `enough-runs`: each has at least [`MIN_RUNS`] runs;
//! 4. `low-noise`: each has a coefficient of variation of at most
//!    [`MAX_CV`];
//! 5. `improvement`: the bootstrap 95% interval of the improvement
//!    (baseline / candidate for times) lies wholly above `1 + `[`MIN_GAIN`];
//! 6. `quality-gate`: the candidate carries a quality-gate result that
//!    passed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compare::{independent, paired, Comparison};
use crate::receipt::{metric_values, Benchmark, Receipt, Role, SCHEMA};
use crate::stats::summarize;

pub const MIN_RUNS: usize = 5;
pub const MAX_CV: f64 = 0.10;
pub const MIN_GAIN: f64 = 0.02;

/// Parse and validate a receipt: the receipt, or every problem found.
pub fn validate(v: &Value) -> Result<Receipt, Vec<String>> {
    match v.get("schema").and_then(Value::as_str) {
        Some(SCHEMA) => {}
        Some(other) => return Err(vec![format!("schema is `{other}`, expected `{SCHEMA}`")]),
        None => return Err(vec![format!("no `schema` field (expected `{SCHEMA}`)")]),
    }
    let r: Receipt = serde_json::from_value(v.clone()).map_err(|e| vec![format!("does not match {SCHEMA}: {e}")])?;
    let problems = consistency(&r);
    if problems.is_empty() {
        Ok(r)
    } else {
        Err(problems)
    }
}

/// Recompute everything derived in a receipt and list the mismatches.
pub fn consistency(r: &Receipt) -> Vec<String> {
    let mut p = Vec::new();
    if r.environment.hash != r.environment.compute_hash() {
        p.push("environment.hash does not match the environment".into());
    }
    if r.workload.hash != r.workload.compute_hash() {
        p.push("workload.hash does not match the workload".into());
    }
    if r.benchmarks.is_empty() {
        p.push("no benchmarks".into());
    }
    let boot = &r.settings.bootstrap;
    if !(boot.level > 0.0 && boot.level < 1.0) || boot.resamples == 0 {
        p.push("settings.bootstrap: level must be in (0, 1) and resamples positive".into());
    }
    for (i, b) in r.benchmarks.iter().enumerate() {
        let at = format!("benchmarks[{i}] (`{}`)", b.label);
        if let Some(c) = &b.command {
            if c.hash != c.compute_hash(&r.workload) {
                p.push(format!("{at}: command.hash does not match its argv and inputs"));
            }
        }
        let values = match metric_values(&b.runs, &b.metric.name) {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => {
                p.push(format!("{at}: no runs"));
                continue;
            }
            Err(e) => {
                p.push(format!("{at}: {e}"));
                continue;
            }
        };
        if !close_summary(&b.stats, &summarize(&values, boot)) {
            p.push(format!("{at}: stats do not match its runs"));
        }
        if b.outliers != crate::outliers::find(&values) {
            p.push(format!("{at}: outliers do not match its runs"));
        }
        if b.resources != crate::receipt::resources(&b.runs) {
            p.push(format!("{at}: resources do not match its runs"));
        }
    }
    let roles: Vec<Role> = r.benchmarks.iter().map(|b| b.role).collect();
    let ab = roles == [Role::Baseline, Role::Candidate];
    if !ab && !roles.iter().all(|&x| x == Role::Single) {
        p.push("benchmarks: roles must be all `single`, or `baseline` then `candidate`".into());
    }
    match (&r.comparison, ab) {
        (Some(c), true) => {
            let (b, k) = (&r.benchmarks[0], &r.benchmarks[1]);
            if let (Ok(bv), Ok(kv)) = (metric_values(&b.runs, &b.metric.name), metric_values(&k.runs, &k.metric.name)) {
                if !bv.is_empty() && !kv.is_empty() && !close_comparison(c, &paired(&bv, &kv, b.metric.better, boot, c.min_effect)) {
                    p.push("comparison does not match the runs".into());
                }
            }
            if (c.min_effect - r.settings.min_effect).abs() > 0.0 {
                p.push("comparison.min_effect differs from settings.min_effect".into());
            }
        }
        (None, true) => p.push("a baseline/candidate receipt has no comparison".into()),
        (Some(_), false) => p.push("a comparison without a baseline and a candidate".into()),
        (None, false) => {}
    }
    p
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn close_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn close_summary(a: &crate::stats::Summary, b: &crate::stats::Summary) -> bool {
    a.n == b.n
        && [
            (a.mean, b.mean),
            (a.median, b.median),
            (a.mad, b.mad),
            (a.min, b.min),
            (a.max, b.max),
            (a.p95, b.p95),
            (a.median_ci.low, b.median_ci.low),
            (a.median_ci.high, b.median_ci.high),
        ]
        .iter()
        .all(|&(x, y)| close(x, y))
        && close_opt(a.stddev, b.stddev)
        && close_opt(a.cv, b.cv)
}

fn close_comparison(a: &Comparison, b: &Comparison) -> bool {
    a.method == b.method
        && a.pairs == b.pairs
        && a.verdict == b.verdict
        && [
            (a.ratio, b.ratio),
            (a.ratio_ci.low, b.ratio_ci.low),
            (a.ratio_ci.high, b.ratio_ci.high),
            (a.improvement, b.improvement),
            (a.improvement_ci.low, b.improvement_ci.low),
            (a.improvement_ci.high, b.improvement_ci.high),
        ]
        .iter()
        .all(|&(x, y)| close(x, y))
}

/// One promotion rule and how it came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub rule: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub schema: String,
    pub promoted: bool,
    pub rules: Vec<Rule>,
    pub comparison: Option<Comparison>,
    /// The hardware the claim holds on, for people.
    pub hardware: String,
    /// One sentence: the claim, or the first rule that failed.
    pub verdict: String,
}

pub const PROMOTION_SCHEMA: &str = "mlxport.bench-promotion/v1";

/// The benchmark of a receipt that stands for it in a promotion: its only
/// one, or the one whose role matches.
pub fn primary(r: &Receipt, role: Role) -> Option<&Benchmark> {
    if r.benchmarks.len() == 1 {
        return r.benchmarks.first();
    }
    r.benchmarks.iter().find(|b| b.role == role)
}

/// The benchmarks compared in a promotion: the primary pair, or, when both
/// receipts hold several benchmarks of one role (a generation benchmark's
/// prompt lengths), every benchmark paired with the one of the same name.
/// Empty when they do not pair up.
pub fn pairs<'a>(base: &'a Receipt, cand: &'a Receipt) -> Vec<(&'a Benchmark, &'a Benchmark)> {
    if let (Some(b), Some(c)) = (primary(base, Role::Baseline), primary(cand, Role::Candidate)) {
        return vec![(b, c)];
    }
    let mut names: Vec<&str> = base.benchmarks.iter().map(|b| b.label.as_str()).collect();
    let mut other: Vec<&str> = cand.benchmarks.iter().map(|b| b.label.as_str()).collect();
    names.sort_unstable();
    other.sort_unstable();
    if names != other || names.windows(2).any(|w| w[0] == w[1]) {
        return Vec::new();
    }
    base.benchmarks.iter().filter_map(|b| cand.benchmarks.iter().find(|c| c.label == b.label).map(|c| (b, c))).collect()
}

/// Apply the promotion rules to two valid receipts.
pub fn promote(base: &Receipt, cand: &Receipt) -> Promotion {
    let mut rules = Vec::new();
    let mut rule = |name: &str, passed: bool, detail: String| rules.push(Rule { rule: name.into(), passed, detail });

    let env_diff = base.environment.differences(&cand.environment);
    let same_env = base.environment.hash == cand.environment.hash;
    rule(
        "same-environment",
        same_env,
        if same_env {
            format!("both {}", short(&base.environment.hash))
        } else {
            format!("environment hashes differ ({} vs {}): {}", short(&base.environment.hash), short(&cand.environment.hash), env_diff.join("; "))
        },
    );
    let pairs = pairs(base, cand);
    let same_metrics = !pairs.is_empty() && pairs.iter().all(|(b, c)| b.metric == c.metric);
    let same_work = base.workload.hash == cand.workload.hash && same_metrics;
    rule(
        "same-workload",
        same_work,
        if same_work {
            format!("`{}` ({})", base.workload.name, short(&base.workload.hash))
        } else {
            format!(
                "workloads differ: `{}` {} vs `{}` {} (name both with --workload and use the same --input files and metric)",
                base.workload.name,
                short(&base.workload.hash),
                cand.workload.name,
                short(&cand.workload.hash)
            )
        },
    );
    if pairs.is_empty() {
        rule("enough-runs", false, "the receipts' benchmarks do not pair up (by role, or by name when each holds several)".into());
        return finish(rules, None, base);
    }
    let label = |b: &Benchmark| {
        if pairs.len() > 1 {
            format!("`{}`: ", b.label)
        } else {
            String::new()
        }
    };
    let runs_ok = pairs.iter().all(|(b, c)| b.runs.len() >= MIN_RUNS && c.runs.len() >= MIN_RUNS);
    let runs_detail: Vec<String> = pairs.iter().map(|(b, c)| format!("{}baseline {}, candidate {} runs", label(b), b.runs.len(), c.runs.len())).collect();
    rule("enough-runs", runs_ok, format!("{} (need {MIN_RUNS} each)", runs_detail.join("; ")));
    let cv = |x: &Benchmark| x.stats.cv.unwrap_or(f64::INFINITY);
    let noise_ok = pairs.iter().all(|(b, c)| cv(b) <= MAX_CV && cv(c) <= MAX_CV);
    let noise_detail: Vec<String> = pairs.iter().map(|(b, c)| format!("{}baseline {:.1}%, candidate {:.1}%", label(b), cv(b) * 100.0, cv(c) * 100.0)).collect();
    rule("low-noise", noise_ok, format!("coefficient of variation {} (need {:.0}% or less each)", noise_detail.join("; "), MAX_CV * 100.0));
    // Every pair is compared; the one with the lowest improvement bound
    // speaks for the promotion (a claim must hold on every benchmark).
    let mut comparisons = Vec::new();
    for (b, c) in &pairs {
        match (metric_values(&b.runs, &b.metric.name), metric_values(&c.runs, &c.metric.name)) {
            (Ok(bv), Ok(cv)) if !bv.is_empty() && !cv.is_empty() => {
                comparisons.push((b.label.clone(), independent(&bv, &cv, b.metric.better, &cand.settings.bootstrap, cand.settings.min_effect)))
            }
            _ => comparisons.clear(),
        }
        if comparisons.is_empty() {
            break;
        }
    }
    let worst = comparisons.iter().min_by(|x, y| x.1.improvement_ci.low.total_cmp(&y.1.improvement_ci.low)).cloned();
    let comparison = worst.as_ref().map(|w| w.1.clone());
    match &worst {
        Some((name, k)) => rule(
            "improvement",
            k.improvement_ci.low > 1.0 + MIN_GAIN,
            format!(
                "{}{:.3}x, {:.0}% CI {:.3}..{:.3} (the interval must lie above {:.2}{})",
                if pairs.len() > 1 { format!("weakest of {} benchmarks, `{name}`: ", pairs.len()) } else { String::new() },
                k.improvement,
                cand.settings.bootstrap.level * 100.0,
                k.improvement_ci.low,
                k.improvement_ci.high,
                1.0 + MIN_GAIN,
                if pairs.len() > 1 { " on every benchmark" } else { "" }
            ),
        ),
        None => rule("improvement", false, "no measurements to compare".into()),
    }
    match &cand.quality_gate {
        Some(g) if g.passed => rule("quality-gate", true, format!("{} passed ({})", g.file, short(&g.sha256))),
        Some(g) => rule("quality-gate", false, format!("{} failed", g.file)),
        None => rule("quality-gate", false, "the candidate receipt has no quality-gate result (bench --quality-gate FILE)".into()),
    }
    finish(rules, comparison, cand)
}

fn finish(rules: Vec<Rule>, comparison: Option<Comparison>, r: &Receipt) -> Promotion {
    let promoted = rules.iter().all(|x| x.passed);
    let hardware = hardware(r);
    let verdict = match (promoted, &comparison) {
        (true, Some(k)) => format!(
            "promoted: the candidate is {:.3}x better ({:.0}% CI {:.3}..{:.3}) on `{}`, validated locally on {hardware}",
            k.improvement,
            r.settings.bootstrap.level * 100.0,
            k.improvement_ci.low,
            k.improvement_ci.high,
            r.workload.name
        ),
        _ => {
            let failed: Vec<String> = rules.iter().filter(|x| !x.passed).map(|x| format!("{} ({})", x.rule, x.detail)).collect();
            format!("not promoted: {}", failed.join("; "))
        }
    };
    Promotion { schema: PROMOTION_SCHEMA.into(), promoted, rules, comparison, hardware, verdict }
}

/// The schema of a promotion claim, the record `mlxport recommend
/// --receipts DIR` reads to call a technique "validated locally".
pub const CLAIM_SCHEMA: &str = "mlxport.receipt/v1";

/// One measured number of a claim: the baseline's and the candidate's
/// medians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub metric: String,
    pub unit: String,
    pub baseline: f64,
    pub candidate: f64,
}

/// A promotion decision about one technique on one model, in the form the
/// knowledge base reads (`schema` starting with `mlxport.receipt/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub schema: String,
    pub technique: String,
    pub model_fingerprint: String,
    /// Promoted: every rule held, the quality gate included.
    pub passed: bool,
    /// `pass`, `fail`, or absent when the candidate had no gate.
    pub quality_gate: Option<String>,
    pub hardware: String,
    pub verdict: String,
    pub environment_hash: String,
    pub workload: String,
    pub measurements: Vec<Measurement>,
    pub improvement: Option<crate::stats::Interval>,
    pub rules: Vec<Rule>,
}

/// The claim of a promotion. The candidate must carry a model fingerprint
/// (`bench --model-fingerprint`), else the claim is an
/// [`Error::InvalidInput`](crate::Error::InvalidInput).
pub fn claim(p: &Promotion, base: &Receipt, cand: &Receipt, technique: &str) -> crate::Result<Claim> {
    let model_fingerprint = cand
        .model_fingerprint
        .clone()
        .ok_or_else(|| crate::Error::InvalidInput("the candidate receipt has no model fingerprint (bench --model-fingerprint)".into()))?;
    let measurements = pairs(base, cand)
        .into_iter()
        .map(|(b, c)| Measurement {
            metric: if base.benchmarks.len() > 1 { format!("{} ({})", c.metric.name, c.label) } else { c.metric.name.clone() },
            unit: c.metric.unit.clone(),
            baseline: b.stats.median,
            candidate: c.stats.median,
        })
        .collect();
    Ok(Claim {
        schema: CLAIM_SCHEMA.into(),
        technique: technique.into(),
        model_fingerprint,
        passed: p.promoted,
        quality_gate: cand.quality_gate.as_ref().map(|g| if g.passed { "pass".into() } else { "fail".into() }),
        hardware: p.hardware.clone(),
        verdict: p.verdict.clone(),
        environment_hash: cand.environment.hash.clone(),
        workload: cand.workload.name.clone(),
        measurements,
        improvement: p.comparison.as_ref().map(|c| c.improvement_ci),
        rules: p.rules.clone(),
    })
}

/// "Apple M2 Pro, 32 GiB, macOS 14.5" / "AMD EPYC 7B13 (2 cores), 24 GiB, Debian 12".
pub fn hardware(r: &Receipt) -> String {
    let e = &r.environment;
    let mut parts = vec![format!("{} ({} cores)", e.cpu_model.as_deref().unwrap_or("unknown CPU"), e.logical_cores)];
    if let Some(m) = e.memory_bytes {
        parts.push(format!("{:.0} GiB", m as f64 / (1u64 << 30) as f64));
    }
    if let Some(v) = &e.os_version {
        parts.push(v.clone());
    }
    parts.join(", ")
}

fn short(h: &str) -> String {
    let hex = h.strip_prefix("sha256:").unwrap_or(h);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::QualityGate;
    use crate::testutil::receipt;

    fn noisy(base: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut r = crate::rng::Rng::new(seed);
        (0..n).map(|_| base * (1.0 + (r.below(2001) as f64 - 1000.0) * 2e-5)).collect()
    }

    fn passed_gate() -> QualityGate {
        QualityGate { file: "gate.json".into(), sha256: crate::hash::sha256(b"{}"), passed: true, result: serde_json::json!({"passed": true}) }
    }

    #[test]
    fn valid_receipts_validate_and_tampering_is_found() {
        for r in [receipt(&noisy(0.1, 8, 1), None), receipt(&noisy(0.1, 8, 1), Some(&noisy(0.13, 8, 2)))] {
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(validate(&v).unwrap(), r);
            let text = serde_json::to_string_pretty(&r).unwrap();
            assert!(validate(&serde_json::from_str(&text).unwrap()).is_ok(), "round trip through text");

            let mut t = v.clone();
            t["benchmarks"][0]["runs"][0]["wall_s"] = serde_json::json!(0.5);
            let p = validate(&t).unwrap_err();
            assert!(p.iter().any(|x| x.contains("stats do not match")), "{p:?}");

            let mut t = v.clone();
            t["environment"]["cpu_model"] = serde_json::json!("Other CPU");
            assert!(validate(&t).unwrap_err().iter().any(|x| x.contains("environment.hash")));

            let mut t = v.clone();
            t["workload"]["name"] = serde_json::json!("renamed");
            assert!(validate(&t).unwrap_err().iter().any(|x| x.contains("workload.hash")));

            let mut t = v.clone();
            t["schema"] = serde_json::json!("mlxport.bench-receipt/v0");
            assert!(validate(&t).unwrap_err()[0].contains("expected `mlxport.bench-receipt/v1`"));

            let mut t = v.clone();
            t.as_object_mut().unwrap().remove("settings");
            assert!(validate(&t).unwrap_err()[0].contains("missing field `settings`"));
        }
        let mut v = serde_json::to_value(receipt(&noisy(0.1, 8, 1), Some(&noisy(0.13, 8, 2)))).unwrap();
        v["comparison"]["verdict"] = serde_json::json!("faster");
        assert!(validate(&v).unwrap_err().iter().any(|x| x.contains("comparison does not match")));
    }

    #[test]
    fn promotion_rules() {
        let base = receipt(&noisy(0.13, 10, 1), None);
        let mut cand = receipt(&noisy(0.10, 10, 2), None);
        cand.quality_gate = Some(passed_gate());
        let p = promote(&base, &cand);
        assert!(p.promoted, "{p:?}");
        assert!(p.verdict.starts_with("promoted: the candidate is 1.3"), "{}", p.verdict);
        assert!(p.verdict.contains("validated locally on Test CPU (2 cores), 24 GiB"), "{}", p.verdict);

        let fails = |p: &Promotion| p.rules.iter().filter(|r| !r.passed).map(|r| r.rule.clone()).collect::<Vec<_>>();

        // No gate, failed gate.
        let mut c = cand.clone();
        c.quality_gate = None;
        assert_eq!(fails(&promote(&base, &c)), ["quality-gate"]);
        c.quality_gate = Some(QualityGate { passed: false, ..passed_gate() });
        assert_eq!(fails(&promote(&base, &c)), ["quality-gate"]);

        // Too few runs.
        let mut c = receipt(&noisy(0.10, 4, 2), None);
        c.quality_gate = Some(passed_gate());
        assert_eq!(fails(&promote(&base, &c)), ["enough-runs"]);

        // Noisy.
        let mut wild = noisy(0.10, 10, 2);
        wild[3] = 0.2;
        wild[7] = 0.05;
        let mut c = receipt(&wild, None);
        c.quality_gate = Some(passed_gate());
        assert!(fails(&promote(&base, &c)).contains(&"low-noise".to_string()));

        // Improvement too small: 1% faster.
        let mut c = receipt(&noisy(0.13 / 1.01, 10, 2), None);
        c.quality_gate = Some(passed_gate());
        let p = promote(&base, &c);
        assert_eq!(fails(&p), ["improvement"], "{p:?}");
        assert!(p.verdict.starts_with("not promoted: improvement"), "{}", p.verdict);

        // Slower.
        let mut c = receipt(&noisy(0.2, 10, 2), None);
        c.quality_gate = Some(passed_gate());
        assert_eq!(fails(&promote(&base, &c)), ["improvement"]);

        // Other machine, other workload.
        let mut c = cand.clone();
        c.environment.cpu_model = Some("Other CPU".into());
        c.environment.hash = c.environment.compute_hash();
        let p = promote(&base, &c);
        assert_eq!(fails(&p), ["same-environment"]);
        assert!(p.rules[0].detail.contains("cpu_model"), "{}", p.rules[0].detail);
        let mut c = cand.clone();
        c.workload = crate::receipt::Workload::new(crate::receipt::WorkloadKind::Command, "other", None, &[]).unwrap();
        assert_eq!(fails(&promote(&base, &c)), ["same-workload"]);
    }

    #[test]
    fn claims_for_the_knowledge_base() {
        let base = receipt(&noisy(0.13, 10, 1), None);
        let mut cand = receipt(&noisy(0.10, 10, 2), None);
        cand.quality_gate = Some(passed_gate());
        let p = promote(&base, &cand);
        assert!(claim(&p, &base, &cand, "quantize-4bit").is_err(), "needs a model fingerprint");
        cand.model_fingerprint = Some("sha256:model".into());
        let c = claim(&p, &base, &cand, "quantize-4bit").unwrap();
        assert!(c.schema.starts_with("mlxport.receipt/") && c.passed);
        assert_eq!(c.quality_gate.as_deref(), Some("pass"));
        assert_eq!(c.measurements[0].metric, "wall_s");
        assert!(c.measurements[0].candidate < c.measurements[0].baseline);
    }

    #[test]
    fn generate_receipts_fit_the_same_rules() {
        // Throughput: higher is better, so 20% more tokens/s is promoted.
        let base = crate::testutil::generate_receipt(&noisy(100.0, 8, 1));
        let mut cand = crate::testutil::generate_receipt(&noisy(120.0, 8, 2));
        assert!(validate(&serde_json::to_value(&cand).unwrap()).is_ok());
        cand.quality_gate = Some(passed_gate());
        let p = promote(&base, &cand);
        assert!(p.promoted, "{p:?}");
        assert!((p.comparison.as_ref().unwrap().improvement - 1.2).abs() < 0.02);
        assert!(!promote(&cand, &base).promoted);
    }

    #[test]
    fn several_prompt_lengths_must_all_improve() {
        let receipt = |short: f64, long: f64, seed: u64| {
            let mut r = crate::testutil::generate_receipt(&noisy(short, 8, seed));
            let mut b = crate::testutil::generate_receipt(&noisy(long, 8, seed + 10)).benchmarks.remove(0);
            b.label = "prompt 1024".into();
            r.benchmarks.push(b);
            r
        };
        let base = receipt(100.0, 50.0, 1);
        let mut both = receipt(120.0, 60.0, 2);
        both.quality_gate = Some(passed_gate());
        let p = promote(&base, &both);
        assert!(p.promoted, "{p:?}");
        let c = claim(&p, &base, &both, "t").unwrap();
        assert_eq!(c.measurements.len(), 2);

        // Faster on short prompts only: the long prompt speaks against it.
        let mut one = receipt(120.0, 50.0, 3);
        one.quality_gate = Some(passed_gate());
        let p = promote(&base, &one);
        assert!(!p.promoted);
        assert!(p.verdict.contains("prompt 1024"), "{}", p.verdict);

        // Different prompt lengths do not pair up.
        let mut other = receipt(120.0, 60.0, 4);
        other.benchmarks[1].label = "prompt 4096".into();
        other.quality_gate = Some(passed_gate());
        let p = promote(&base, &other);
        assert!(!p.promoted);
        assert!(p.rules.iter().any(|r| r.rule == "enough-runs" && !r.passed));
    }
}
