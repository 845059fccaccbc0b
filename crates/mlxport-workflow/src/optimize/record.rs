//! Records of the loop: one per candidate (hypothesis, change,
//! correctness, speed, memory, quality, keep or revert with the reason),
//! the decisions by objective, the chosen configuration, and the
//! OPTIMIZATIONS.md rendering of it all.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::optimize::candidate::Candidate;
use crate::optimize::measure::{Measured, SpeedRow};
use crate::optimize::{Objective, OptimizeRequest, SCHEMA};

/// How a candidate checkpoint was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Produced {
    /// mlx-lm's bits per weight (quantized candidates).
    pub bpw: Option<f64>,
    /// Bytes of the safetensors files.
    pub weight_bytes: u64,
    pub quantized_layers: usize,
    pub left_float: usize,
    pub seconds: f64,
}

/// Does it load and run, and does it pass the quality gate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Correctness {
    pub loads: bool,
    /// `pass` or `fail`; none when the gate could not run.
    pub quality_verdict: Option<String>,
    pub reasons: Vec<String>,
    pub error: Option<String>,
}

/// The gate's headline metrics (see the full report for the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    pub perplexity_reference: Option<f64>,
    pub perplexity_candidate: Option<f64>,
    pub perplexity_ratio: Option<f64>,
    pub kl_mean: Option<f64>,
    pub kl_p99: Option<f64>,
    pub top1_agreement: Option<f64>,
    pub top5_overlap: Option<f64>,
    pub greedy_exact_match: Option<f64>,
    pub new_degenerate: Option<f64>,
    pub cosine_mean: Option<f64>,
    pub cosine_min: Option<f64>,
    pub overlap_at_k: Option<f64>,
    pub spearman_mean: Option<f64>,
}

/// Keep or revert, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub keep: bool,
    pub reason: String,
    /// The objective's score (higher is better; see [`score`]).
    pub score: Option<f64>,
}

/// One candidate (or the baseline) and what happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub dimension: String,
    pub change: String,
    pub hypothesis: String,
    /// A kept earlier change this candidate was made on top of (`bf16`).
    pub on_top_of: Option<String>,
    /// The knowledge-base technique it would validate.
    pub technique: Option<String>,
    /// Digest of everything that decides the measurements (reuse key).
    pub inputs_sha256: String,
    pub produced: Option<Produced>,
    pub correctness: Correctness,
    pub quality: Option<QualitySummary>,
    /// The quality report, relative to the work directory.
    pub quality_report: Option<String>,
    pub speed: Vec<SpeedRow>,
    /// The generation receipt, relative to the work directory.
    pub receipt: Option<String>,
    #[serde(default)]
    pub bench_warnings: Vec<String>,
    pub decision: Option<Decision>,
    /// Taken from an earlier run with the same inputs.
    #[serde(default)]
    pub reused: bool,
}

/// A figure as the record keeps it: non-finite values (JSON `null`) as none.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Record {
    /// A record with nothing measured yet.
    fn unmeasured(id: String, dimension: String, change: String, hypothesis: String, inputs_sha256: String) -> Record {
        Record {
            id,
            dimension,
            change,
            hypothesis,
            on_top_of: None,
            technique: None,
            inputs_sha256,
            produced: None,
            correctness: Correctness::default(),
            quality: None,
            quality_report: None,
            speed: Vec::new(),
            receipt: None,
            bench_warnings: Vec::new(),
            decision: None,
            reused: false,
        }
    }

    pub fn new(c: &Candidate, inputs_sha256: String, on_top_of: Option<String>) -> Record {
        let mut r = Record::unmeasured(c.id.clone(), c.dimension.as_str().into(), c.describe(), c.hypothesis(), inputs_sha256);
        r.on_top_of = on_top_of;
        r.technique = c.technique().map(String::from);
        r
    }

    pub fn new_baseline(path: &Path, inputs_sha256: String, encoder: bool) -> Record {
        let hypothesis = if encoder {
            "the reference: every candidate is gated against it"
        } else {
            "the reference: every candidate is gated against it and measured relative to its speed and memory"
        };
        let mut r = Record::unmeasured(
            "baseline".into(),
            "baseline".into(),
            format!("none: the float checkpoint {}", path.display()),
            hypothesis.into(),
            inputs_sha256,
        );
        r.correctness.loads = true;
        r
    }

    pub fn set_quality(&mut self, q: &mlxport_quality::QualityReport, path: String) {
        self.correctness.loads = true;
        self.correctness.quality_verdict = Some(q.verdict.clone());
        self.correctness.reasons = q.reasons.clone();
        let (lm, greedy, enc, vis) = (q.lm.as_ref(), q.greedy.as_ref(), q.encoder.as_ref(), q.vision.as_ref());
        self.quality = Some(QualitySummary {
            perplexity_reference: lm.and_then(|m| finite(m.perplexity_reference)),
            perplexity_candidate: lm.and_then(|m| finite(m.perplexity_candidate)),
            perplexity_ratio: lm.and_then(|m| finite(m.perplexity_ratio)),
            kl_mean: lm.and_then(|m| finite(m.kl_mean)),
            kl_p99: lm.and_then(|m| finite(m.kl_p99)),
            top1_agreement: lm.and_then(|m| finite(m.top1_agreement)).or_else(|| vis.and_then(|v| v.top1_agreement).and_then(finite)),
            top5_overlap: lm.and_then(|m| finite(m.top5_overlap)).or_else(|| vis.and_then(|v| v.top5_overlap).and_then(finite)),
            greedy_exact_match: greedy.and_then(|g| finite(g.exact_match_rate)),
            new_degenerate: greedy.map(|g| g.new_degenerate as f64),
            cosine_mean: enc.map(|e| e.cosine_mean).or(vis.map(|v| v.cosine_mean)).and_then(finite),
            cosine_min: enc.map(|e| e.cosine_min).or(vis.map(|v| v.cosine_min)).and_then(finite),
            overlap_at_k: enc.and_then(|e| finite(e.overlap_at_k)),
            spearman_mean: enc.and_then(|e| finite(e.spearman_mean)),
        });
        self.quality_report = Some(path);
    }

    pub fn set_speed(&mut self, m: Measured) {
        self.speed = m.rows;
        self.bench_warnings = m.warnings;
        self.receipt = m.receipt.file_name().map(|n| format!("receipts/{}", n.to_string_lossy()));
    }

    pub fn passed_gate(&self) -> bool {
        self.correctness.loads && self.correctness.error.is_none() && self.correctness.quality_verdict.as_deref() == Some("pass")
    }

    /// Mean over prompt lengths of the median decode throughput.
    pub fn decode(&self) -> Option<f64> {
        mean(self.speed.iter().map(|s| s.decode_tokens_per_s))
    }

    /// Mean over prompt lengths of the decode CI's lower end.
    pub fn decode_low(&self) -> Option<f64> {
        mean(self.speed.iter().map(|s| s.decode_ci[0]))
    }

    /// Largest MLX peak memory while generating; encoders (no generation
    /// benchmark): the weight bytes.
    pub fn peak(&self) -> Option<f64> {
        if self.speed.is_empty() {
            return self.produced.as_ref().map(|p| p.weight_bytes as f64);
        }
        self.speed.iter().map(|s| s.peak_memory_bytes).fold(None, |a, x| Some(a.map_or(x, |a: f64| a.max(x))))
    }

    /// Whether bf16 (or any candidate) would be kept: used to carry a kept
    /// dtype change into later candidates.
    pub fn decision_keep_hint(&self, base: &Record, objective: Objective) -> bool {
        decide_one(self, base, objective).keep
    }

    /// One line for progress output.
    pub fn one_line(&self) -> String {
        let gate = match (&self.correctness.error, &self.correctness.quality_verdict) {
            (Some(e), _) => format!("error: {}", e.lines().next().unwrap_or_default()),
            (None, Some(v)) => format!("quality {v}"),
            _ => "not gated".into(),
        };
        let speed = self.decode().map(|d| format!(", decode {d:.1} tok/s")).unwrap_or_default();
        let mem = self.peak().map(|p| format!(", peak {}", human_bytes(p))).unwrap_or_default();
        format!("{gate}{speed}{mem}")
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The objective's score of a record relative to the baseline (higher is
/// better): decode tokens/s; the negated peak memory in bytes; or the
/// geometric mean of the decode speed-up and the memory reduction.
pub fn score(r: &Record, base: &Record, objective: Objective) -> Option<f64> {
    match objective {
        Objective::DecodeThroughput if !base.speed.is_empty() => r.decode(),
        Objective::DecodeThroughput | Objective::PeakMemory => r.peak().map(|p| -p),
        Objective::Balanced => {
            let mem = base.peak()? / r.peak()?;
            match (r.decode(), base.decode()) {
                (Some(d), Some(b)) => Some((d / b * mem).sqrt()),
                _ => Some(mem),
            }
        }
    }
}

/// The objective as the decisions apply it: without a generation
/// benchmark (encoders), decode throughput falls back to peak memory.
fn objective_text(objective: Objective, base: &Record) -> String {
    if objective == Objective::DecodeThroughput && base.speed.is_empty() {
        "decode-throughput (no generation benchmark for this model: weight memory decides)".into()
    } else {
        objective.as_str().into()
    }
}

fn ratio_text(r: &Record, base: &Record) -> String {
    let mut parts = Vec::new();
    if let (Some(d), Some(b)) = (r.decode(), base.decode()) {
        parts.push(format!("decode {:.2}x the baseline ({d:.1} vs {b:.1} tok/s)", d / b));
    }
    if let (Some(p), Some(b)) = (r.peak(), base.peak()) {
        parts.push(format!("peak memory {:.2}x ({} vs {})", p / b, human_bytes(p), human_bytes(b)));
    }
    parts.join(", ")
}

/// Keep or revert one candidate against the baseline.
pub fn decide_one(r: &Record, base: &Record, objective: Objective) -> Decision {
    let s = score(r, base, objective);
    if let Some(e) = &r.correctness.error {
        return Decision { keep: false, reason: format!("revert: {}", e.lines().next().unwrap_or_default()), score: None };
    }
    if !r.passed_gate() {
        let faster = match (r.decode(), base.decode()) {
            (Some(d), Some(b)) if d > b => format!(" although it decodes {:.2}x as fast as the baseline", d / b),
            _ => String::new(),
        };
        let why = if r.correctness.reasons.is_empty() { "no check ran".to_string() } else { r.correctness.reasons.join("; ") };
        return Decision { keep: false, reason: format!("revert: rejected by the quality gate{faster} ({why})"), score: s };
    }
    let ratios = ratio_text(r, base);
    let improved = match objective {
        Objective::DecodeThroughput if !base.speed.is_empty() => match (r.decode_low(), base.decode()) {
            // Faster beyond noise: the candidate's CI lies above the baseline's median.
            (Some(low), Some(b)) => low > b,
            _ => false,
        },
        Objective::DecodeThroughput | Objective::PeakMemory => matches!((r.peak(), base.peak()), (Some(p), Some(b)) if p < 0.99 * b),
        Objective::Balanced => s.is_some_and(|x| x > 1.02),
    };
    if improved {
        Decision { keep: true, reason: format!("keep: passes the quality gate and improves {}: {ratios}", objective_text(objective, base)), score: s }
    } else {
        Decision {
            keep: false,
            reason: format!("revert: passes the quality gate but does not measurably improve {}: {ratios}", objective_text(objective, base)),
            score: s,
        }
    }
}

/// The chosen configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    pub id: String,
    pub change: String,
    /// Relative to the work directory.
    pub checkpoint: String,
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub path: String,
    pub fingerprint: String,
    /// `language-model` or `encoder`.
    pub kind: String,
    /// The float checkpoint the candidates are made from.
    pub baseline: String,
    /// Whether the baseline is a conversion made by this run.
    pub baseline_converted: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hardware: String,
    pub environment_hash: String,
    pub mlx: Option<String>,
}

/// `optimize.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizeDoc {
    pub schema: String,
    pub tool: Tool,
    pub model: ModelInfo,
    pub machine: Machine,
    pub objective: Objective,
    pub command: Vec<String>,
    /// What decides the measurements (gate, thresholds, benchmark).
    pub settings: Value,
    pub baseline: Record,
    pub records: Vec<Record>,
    pub chosen: Chosen,
    /// The serving switches measured on the chosen weights (decoder
    /// packages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<crate::optimize::serving::Doc>,
}

impl OptimizeDoc {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        req: &OptimizeRequest,
        baseline: &Path,
        converted: bool,
        fingerprint: &str,
        kind: &str,
        hardware: &str,
        env_hash: &str,
        settings: Value,
        base: Record,
        records: Vec<Record>,
    ) -> OptimizeDoc {
        let rel = |p: &Path| p.strip_prefix(&req.work_dir).map(|x| x.display().to_string()).unwrap_or_else(|_| p.display().to_string());
        let mlx = base
            .receipt
            .as_ref()
            .and_then(|p| std::fs::read(req.work_dir.join(p)).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["environment"]["python"]["packages"]["mlx"].as_str().map(String::from));
        OptimizeDoc {
            schema: SCHEMA.into(),
            tool: Tool { name: "mlxport".into(), version: env!("CARGO_PKG_VERSION").into() },
            model: ModelInfo {
                path: req.model.display().to_string(),
                fingerprint: fingerprint.into(),
                kind: kind.into(),
                baseline: rel(baseline),
                baseline_converted: converted,
            },
            machine: Machine { hardware: hardware.into(), environment_hash: env_hash.into(), mlx },
            objective: req.objective,
            command: req.command.clone(),
            settings,
            baseline: base,
            records,
            chosen: Chosen { id: "baseline".into(), change: String::new(), checkpoint: String::new(), why: String::new() },
            serving: None,
        }
    }

    /// Decide every record and choose: the best score among the kept.
    pub fn decide(&mut self) {
        let obj = self.objective;
        for r in &mut self.records {
            r.decision = Some(decide_one(r, &self.baseline, obj));
        }
        self.baseline.decision = Some(Decision { keep: true, reason: "the reference".into(), score: score(&self.baseline, &self.baseline, obj) });
        let mut kept: Vec<&Record> = self.records.iter().filter(|r| r.decision.as_ref().is_some_and(|d| d.keep)).collect();
        kept.sort_by(|a, b| {
            let (sa, sb) = (
                a.decision.as_ref().and_then(|d| d.score).unwrap_or(f64::NEG_INFINITY),
                b.decision.as_ref().and_then(|d| d.score).unwrap_or(f64::NEG_INFINITY),
            );
            sb.total_cmp(&sa).then_with(|| {
                let kl = |r: &Record| r.quality.as_ref().and_then(|q| q.kl_mean.or(q.cosine_mean.map(|c| 1.0 - c))).unwrap_or(f64::INFINITY);
                kl(a).total_cmp(&kl(b))
            })
        });
        let rejected_faster: Vec<String> = self
            .records
            .iter()
            .filter(|r| !r.passed_gate() && r.correctness.error.is_none() && matches!((r.decode(), self.baseline.decode()), (Some(d), Some(b)) if d > b))
            .map(|r| r.id.clone())
            .collect();
        let rej = if rejected_faster.is_empty() { String::new() } else { format!(" Faster but rejected by the quality gate: {}.", rejected_faster.join(", ")) };
        self.chosen = match kept.first() {
            Some(best) => {
                let runner = kept.get(1).map(|r| format!("; runner-up {} ({})", r.id, ratio_text(r, &self.baseline))).unwrap_or_default();
                Chosen {
                    id: best.id.clone(),
                    change: best.change.clone(),
                    checkpoint: String::new(),
                    why: format!(
                        "best {} among {} kept candidate(s) that passed the quality gate: {}{runner}.{rej}",
                        objective_text(obj, &self.baseline),
                        kept.len(),
                        ratio_text(best, &self.baseline)
                    ),
                }
            }
            None => Chosen {
                id: "baseline".into(),
                change: self.baseline.change.clone(),
                checkpoint: String::new(),
                why: format!(
                    "no candidate both passed the quality gate and measurably improved {}; the float baseline stays.{rej}",
                    objective_text(obj, &self.baseline)
                ),
            },
        };
    }

    /// OPTIMIZATIONS.md.
    pub fn to_markdown(&self) -> String {
        let vlm = self.model.kind == "vision-language";
        let lm = self.model.kind == "language-model" || vlm;
        let mut s = format!("# Optimizations: {}\n\n", self.model.path);
        s.push_str(&format!("- model: `{}` ({}), fingerprint `{}`\n", self.model.path, self.model.kind, self.model.fingerprint));
        s.push_str(&format!(
            "- baseline: `{}`{}\n",
            self.model.baseline,
            if self.model.baseline_converted { " (converted here to mlx-lm layout, dtype kept)" } else { "" }
        ));
        s.push_str(&format!("- machine: {}{}\n", self.machine.hardware, self.machine.mlx.as_ref().map(|m| format!(", MLX {m}")).unwrap_or_default()));
        s.push_str(&format!("- objective: {}\n", self.objective.as_str()));
        if !self.command.is_empty() {
            s.push_str(&format!("- command: `{}`\n", self.command.join(" ")));
        }
        if vlm {
            s.push_str(&format!(
                "- quality gate: greedy captions of photographs (as read and mirrored, one question each) and next-token agreement on the baseline's captions, against the baseline; thresholds {}\n",
                self.settings["thresholds"]
            ));
        }
        if lm {
            let l = &self.settings["lm"];
            let b = &self.settings["bench"];
            if !vlm {
                s.push_str(&format!(
                    "- quality gate: against the baseline, up to {} tokens of the corpus (window {}, stride {}), {} greedy tokens per prompt; thresholds {}\n",
                    if l["max_tokens"] == 0 { "all".to_string() } else { l["max_tokens"].to_string() },
                    l["window"],
                    l["stride"],
                    l["generate"],
                    self.settings["thresholds"]
                ));
            }
            s.push_str(&format!(
                "- benchmark: {} generation, prompts of {} tokens{}, {} new tokens, {} warmup + {} runs; 95% bootstrap CIs of the medians\n",
                if self.settings["package"].is_string() { "the package's own" } else { "mlx-lm" },
                b["prompt_tokens"],
                if vlm { " after one photograph's image tokens" } else { "" },
                b["gen_tokens"],
                b["warmup"],
                b["runs"]
            ));
        } else {
            let (what, kind) = if self.model.kind == "vision" {
                ("class (or caption) agreement and image-feature cosine on photographs", "image model")
            } else {
                ("embedding cosine and retrieval agreement", "encoder")
            };
            s.push_str(&format!(
                "- quality gate: {what} against the baseline; thresholds {}\n- no generation benchmark ({kind}): memory is the weight bytes\n",
                self.settings["thresholds"]
            ));
        }
        s.push_str(&format!("\n## Chosen: {}\n\n{}\n\n", self.chosen.id, self.chosen.why));
        if !self.chosen.checkpoint.is_empty() {
            s.push_str(&format!(
                "Checkpoint: `{}/` ({}).\n\n",
                self.chosen.checkpoint,
                if self.chosen.change.is_empty() { "baseline" } else { &self.chosen.change }
            ));
        }
        s.push_str("## Table\n\n");
        if lm {
            s.push_str("| candidate | dimension | bpw | weights | gate | ppl ratio | KL mean | top-1 | decode tok/s [95% CI] | prefill tok/s [95% CI] | peak memory | decision |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        } else if self.model.kind == "vision" {
            s.push_str("| candidate | dimension | bpw | weights | gate | feature cosine mean | feature cosine min | top-1 | top-5 | decision |\n|---|---|---|---|---|---|---|---|---|---|\n");
        } else {
            s.push_str("| candidate | dimension | bpw | weights | gate | cosine mean | cosine min | overlap@k | Spearman | decision |\n|---|---|---|---|---|---|---|---|---|---|\n");
        }
        for r in std::iter::once(&self.baseline).chain(&self.records) {
            let q = r.quality.clone().unwrap_or_default();
            let f = |v: Option<f64>| v.map(mlxport_quality::report::fmt).unwrap_or_else(|| "-".into());
            let bpw = r.produced.as_ref().and_then(|p| p.bpw).map(|b| format!("{b:.2}")).unwrap_or_else(|| "-".into());
            let weights = r.produced.as_ref().map(|p| human_bytes(p.weight_bytes as f64)).unwrap_or_else(|| "-".into());
            let gate = if r.id == "baseline" {
                "reference".to_string()
            } else if r.correctness.error.is_some() {
                "error".into()
            } else {
                r.correctness.quality_verdict.clone().unwrap_or_else(|| "-".into())
            };
            let decision = r
                .decision
                .as_ref()
                .map(|d| {
                    if r.id == "baseline" {
                        "reference".to_string()
                    } else if d.keep {
                        "keep".into()
                    } else {
                        "revert".into()
                    }
                })
                .unwrap_or_default();
            let decision = if r.id == self.chosen.id { format!("**{decision}, chosen**") } else { decision };
            if lm {
                let sp = |pick: &dyn Fn(&SpeedRow) -> (f64, [f64; 2])| -> String {
                    if r.speed.is_empty() {
                        return "-".into();
                    }
                    r.speed.iter().map(pick).map(|(m, ci)| format!("{m:.1} [{:.1}, {:.1}]", ci[0], ci[1])).collect::<Vec<_>>().join("; ")
                };
                let peak = if r.speed.is_empty() { "-".into() } else { human_bytes(r.peak().unwrap_or(f64::NAN)) };
                s.push_str(&format!(
                    "| {} | {} | {bpw} | {weights} | {gate} | {} | {} | {} | {} | {} | {peak} | {decision} |\n",
                    r.id,
                    r.dimension,
                    f(q.perplexity_ratio),
                    f(q.kl_mean),
                    f(q.top1_agreement),
                    sp(&|x: &SpeedRow| (x.decode_tokens_per_s, x.decode_ci)),
                    sp(&|x: &SpeedRow| (x.prefill_tokens_per_s, x.prefill_ci))
                ));
            } else {
                s.push_str(&format!(
                    "| {} | {} | {bpw} | {weights} | {gate} | {} | {} | {} | {} | {decision} |\n",
                    r.id,
                    r.dimension,
                    f(q.cosine_mean),
                    f(q.cosine_min),
                    f(if self.model.kind == "vision" { q.top1_agreement } else { q.overlap_at_k }),
                    f(if self.model.kind == "vision" { q.top5_overlap } else { q.spearman_mean })
                ));
            }
        }
        s.push_str("\n## Records\n");
        for r in std::iter::once(&self.baseline).chain(&self.records) {
            s.push_str(&format!("\n### {}: {}\n\n", r.id, r.change));
            s.push_str(&format!(
                "- dimension: {}{}\n",
                r.dimension,
                r.on_top_of.as_ref().map(|o| format!(" (made on top of the kept {o})")).unwrap_or_default()
            ));
            s.push_str(&format!("- hypothesis: {}\n", r.hypothesis));
            if let Some(p) = &r.produced {
                s.push_str(&format!(
                    "- produced: {} of weights{}{}\n",
                    human_bytes(p.weight_bytes as f64),
                    p.bpw.map(|b| format!(", {b:.3} bits per weight")).unwrap_or_default(),
                    if p.quantized_layers > 0 { format!(", {} layers quantized, {} left float", p.quantized_layers, p.left_float) } else { String::new() }
                ));
            }
            let corr = match (&r.correctness.error, &r.correctness.quality_verdict) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(v)) => format!(
                    "loads; quality gate {}{}",
                    v.to_uppercase(),
                    if r.correctness.reasons.is_empty() { String::new() } else { format!(": {}", r.correctness.reasons.join("; ")) }
                ),
                (None, None) => "loads (the reference)".into(),
            };
            s.push_str(&format!("- correctness: {corr}\n"));
            if let Some(q) = &r.quality {
                let f = |v: Option<f64>| v.map(mlxport_quality::report::fmt).unwrap_or_else(|| "-".into());
                if lm {
                    s.push_str(&format!(
                        "- quality: perplexity {} -> {} (ratio {}), KL mean {} / p99 {}, top-1 {}, top-5 {}, greedy exact {}, new degenerate {}{}\n",
                        f(q.perplexity_reference),
                        f(q.perplexity_candidate),
                        f(q.perplexity_ratio),
                        f(q.kl_mean),
                        f(q.kl_p99),
                        f(q.top1_agreement),
                        f(q.top5_overlap),
                        f(q.greedy_exact_match),
                        f(q.new_degenerate),
                        r.quality_report.as_ref().map(|p| format!(" (`{p}`)")).unwrap_or_default()
                    ));
                } else {
                    s.push_str(&format!(
                        "- quality: cosine mean {} / min {}, overlap@k {}, Spearman {}{}\n",
                        f(q.cosine_mean),
                        f(q.cosine_min),
                        f(q.overlap_at_k),
                        f(q.spearman_mean),
                        r.quality_report.as_ref().map(|p| format!(" (`{p}`)")).unwrap_or_default()
                    ));
                }
            }
            for x in &r.speed {
                s.push_str(&format!(
                    "- speed (prompt {}, {} runs): decode {:.2} tok/s [{:.2}, {:.2}], prefill {:.1} tok/s [{:.1}, {:.1}], TTFT {:.3} s; peak memory {}{}\n",
                    x.prompt_tokens,
                    x.runs,
                    x.decode_tokens_per_s,
                    x.decode_ci[0],
                    x.decode_ci[1],
                    x.prefill_tokens_per_s,
                    x.prefill_ci[0],
                    x.prefill_ci[1],
                    x.ttft_s,
                    human_bytes(x.peak_memory_bytes),
                    r.receipt.as_ref().map(|p| format!(" (`{p}`)")).unwrap_or_default()
                ));
            }
            for w in &r.bench_warnings {
                s.push_str(&format!("- benchmark warning: {w}\n"));
            }
            if let Some(d) = &r.decision {
                if r.id != "baseline" {
                    s.push_str(&format!("- decision: {}\n", d.reason));
                }
            }
            if r.reused {
                s.push_str("- reused from an earlier run with the same inputs\n");
            }
        }
        if let Some(d) = &self.serving {
            s.push_str(&crate::optimize::serving::to_markdown(d));
        }
        s
    }
}

/// Bytes with binary units (`123.4 MiB`); `-` when unknown.
pub fn human_bytes(b: f64) -> String {
    mlxport_util::human::bytes_f64(b, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimize::candidate::Candidate;

    fn rec(id: &str, verdict: &str, decode: f64, ci: [f64; 2], peak: f64) -> Record {
        let mut r = Record::new(&Candidate::parse(id).unwrap(), String::new(), None);
        r.correctness = Correctness {
            loads: true,
            quality_verdict: Some(verdict.into()),
            reasons: if verdict == "fail" { vec!["kl_mean = 13.5 fails <= 0.05".into()] } else { vec![] },
            error: None,
        };
        r.speed = vec![SpeedRow {
            prompt_tokens: 16,
            runs: 3,
            decode_tokens_per_s: decode,
            decode_ci: ci,
            prefill_tokens_per_s: 100.0,
            prefill_ci: [90.0, 110.0],
            ttft_s: 0.1,
            peak_memory_bytes: peak,
        }];
        r
    }

    #[test]
    fn a_faster_candidate_that_fails_the_gate_is_reverted() {
        let mut base = rec("bf16", "pass", 10.0, [9.5, 10.5], 500e6);
        base.id = "baseline".into();
        let q2 = rec("q2g64", "fail", 30.0, [29.0, 31.0], 60e6);
        let q8 = rec("q8g64", "pass", 20.0, [19.0, 21.0], 150e6);
        let noisy = rec("q6g64", "pass", 11.0, [8.0, 14.0], 120e6);
        for obj in [Objective::DecodeThroughput, Objective::PeakMemory, Objective::Balanced] {
            let d = decide_one(&q2, &base, obj);
            assert!(!d.keep && d.reason.starts_with("revert: rejected by the quality gate although it decodes 3.00x"), "{}", d.reason);
            assert!(decide_one(&q8, &base, obj).keep);
        }
        // Faster only within noise: not kept for decode throughput, kept for memory.
        assert!(!decide_one(&noisy, &base, Objective::DecodeThroughput).keep);
        assert!(decide_one(&noisy, &base, Objective::PeakMemory).keep);
        let mut err = rec("q4g64", "pass", 40.0, [39.0, 41.0], 90e6);
        err.correctness.error = Some("does not load or run: boom".into());
        assert!(!decide_one(&err, &base, Objective::DecodeThroughput).keep);
    }
}
