//! The verdict: every metric checked against its threshold, the reasons
//! for a failure, and the report as versioned JSON and Markdown.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encoder::EncoderMetrics;
use crate::greedy::GreedySummary;
use crate::lm::LmMetrics;
use crate::thresholds::{Thresholds, KEYS};
use crate::vision::VisionMetrics;

pub const SCHEMA: &str = "mlxport.quality/v1";

/// Whichever metrics were measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub lm: Option<LmMetrics>,
    pub greedy: Option<GreedySummary>,
    pub encoder: Option<EncoderMetrics>,
    pub vision: Option<VisionMetrics>,
}

/// One metric against one limit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// The threshold key (see [`KEYS`]).
    pub name: String,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub value: f64,
    /// `<=` or `>=`.
    pub op: String,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub limit: f64,
    pub pass: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QualityReport {
    pub schema: String,
    /// `language-model` or `encoder`.
    pub kind: String,
    pub reference: String,
    pub candidate: String,
    /// What was run (data, window, token counts, library versions).
    pub run: Value,
    pub thresholds: Thresholds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lm: Option<LmMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greedy: Option<GreedySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<VisionMetrics>,
    pub checks: Vec<Check>,
    /// `pass` or `fail`.
    pub verdict: String,
    pub reasons: Vec<String>,
}

fn check(th: &Thresholds, key: &str, value: f64) -> Check {
    let (_, dir, _) = KEYS.iter().find(|k| k.0 == key).expect("known key");
    let limit = th.get(key).expect("known key");
    let (op, pass) = if *dir == "max" { ("<=", value <= limit) } else { (">=", value >= limit) };
    Check { name: key.into(), value, op: op.into(), limit, pass: pass && value.is_finite() }
}

fn describe(key: &str) -> &'static str {
    KEYS.iter().find(|k| k.0 == key).map(|k| k.2).unwrap_or("")
}

impl QualityReport {
    /// Build the report and its verdict from whichever metrics were measured.
    pub fn new(kind: &str, reference: String, candidate: String, run: Value, thresholds: Thresholds, measured: Measured) -> Self {
        let Measured { lm, greedy, encoder, vision } = measured;
        let th = &thresholds;
        let mut checks = Vec::new();
        if let Some(m) = &lm {
            checks.push(check(th, "ppl_ratio", m.perplexity_ratio));
            checks.push(check(th, "kl_mean", m.kl_mean));
            checks.push(check(th, "kl_p99", m.kl_p99));
            checks.push(check(th, "top1", m.top1_agreement));
            checks.push(check(th, "top5", m.top5_overlap));
        }
        if let Some(g) = &greedy {
            checks.push(check(th, "greedy_prefix", g.mean_matching_prefix));
            checks.push(check(th, "new_degenerate", g.new_degenerate as f64));
        }
        if let Some(e) = &encoder {
            checks.push(check(th, "cosine_mean", e.cosine_mean));
            checks.push(check(th, "cosine_min", e.cosine_min));
            checks.push(check(th, "overlap", e.overlap_at_k));
            checks.push(check(th, "spearman", e.spearman_mean));
        }
        if let Some(v) = &vision {
            if let (Some(t1), Some(t5)) = (v.top1_agreement, v.top5_overlap) {
                checks.push(check(th, "top1", t1));
                checks.push(check(th, "top5", t5));
            }
            checks.push(check(th, "cosine_mean", v.cosine_mean));
            checks.push(check(th, "cosine_min", v.cosine_min));
        }
        let reasons: Vec<String> = checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| format!("{} = {} fails {} {} ({})", c.name, fmt(c.value), c.op, fmt(c.limit), describe(&c.name)))
            .collect();
        let verdict = if reasons.is_empty() && !checks.is_empty() { "pass" } else { "fail" };
        QualityReport {
            schema: SCHEMA.into(),
            kind: kind.into(),
            reference,
            candidate,
            run,
            thresholds,
            lm,
            greedy,
            encoder,
            vision,
            checks,
            verdict: verdict.into(),
            reasons,
        }
    }

    /// Parse a report; `path` names the file in errors.
    pub fn parse(text: &str, path: &std::path::Path) -> Result<QualityReport, mlxport_contract::DocumentError> {
        mlxport_contract::document::parse(text, path, &[SCHEMA])
    }

    /// Read a report written by [`QualityReport::to_json`]; the schema is
    /// checked first and errors name the file.
    pub fn read(path: &std::path::Path) -> Result<QualityReport, mlxport_contract::DocumentError> {
        mlxport_contract::document::read(path, &[SCHEMA])
    }

    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serializable") + "\n"
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("# Quality: {}\n\n", if self.passed() { "PASS" } else { "FAIL" }));
        s.push_str(&format!("- kind: {}\n- reference: `{}`\n- candidate: `{}`\n", self.kind, self.reference, self.candidate));
        if let Some(m) = &self.lm {
            s.push_str(&format!("- scored positions: {} (vocabulary {})\n", m.positions, m.vocab));
        }
        if let Some(e) = &self.encoder {
            s.push_str(&format!("- sentences: {}, queries: {}, k = {}\n", e.sentences, e.queries, e.k));
        }
        if let Some(v) = &self.vision {
            let head = if v.classes > 0 { format!("a classifier of {} classes (top-{})", v.classes, v.k.unwrap_or(5)) } else { "a feature model".into() };
            s.push_str(&format!("- images: {} (features of width {}), {head}\n", v.images, v.hidden));
        }
        s.push_str("\n| check | value | limit | result |\n|---|---|---|---|\n");
        for c in &self.checks {
            s.push_str(&format!("| {} | {} | {} {} | {} |\n", c.name, fmt(c.value), c.op, fmt(c.limit), if c.pass { "pass" } else { "**fail**" }));
        }
        if let Some(m) = &self.lm {
            s.push_str("\n## Next-token metrics\n\n| metric | value |\n|---|---|\n");
            for (k, v) in [
                ("perplexity (reference)", m.perplexity_reference),
                ("perplexity (candidate)", m.perplexity_candidate),
                ("perplexity ratio", m.perplexity_ratio),
                ("KL mean (nats)", m.kl_mean),
                ("KL p99 (nats)", m.kl_p99),
                ("KL max (nats)", m.kl_max),
                ("top-1 agreement", m.top1_agreement),
                ("top-5 overlap", m.top5_overlap),
            ] {
                s.push_str(&format!("| {k} | {} |\n", fmt(v)));
            }
        }
        if let Some(g) = &self.greedy {
            s.push_str(&format!(
                "\n## Greedy continuations ({} prompts, {} tokens)\n\nexact match {}, mean matching prefix {}, degenerate: candidate {} / reference {} (new {})\n\n| prompt | exact | first divergence | candidate degenerate | reference degenerate |\n|---|---|---|---|---|\n",
                g.prompts,
                g.tokens,
                fmt(g.exact_match_rate),
                fmt(g.mean_matching_prefix),
                g.candidate_degenerate,
                g.reference_degenerate,
                g.new_degenerate
            ));
            for (i, p) in g.per_prompt.iter().enumerate() {
                s.push_str(&format!(
                    "| {i} | {} | {} | {} | {} |\n",
                    if p.exact_match { "yes" } else { "no" },
                    p.first_divergence.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                    yes(p.candidate_degeneration.degenerate),
                    yes(p.reference_degeneration.degenerate)
                ));
            }
        }
        if let Some(e) = &self.encoder {
            s.push_str("\n## Embeddings and retrieval\n\n| metric | value |\n|---|---|\n");
            for (k, v) in [
                ("cosine mean", e.cosine_mean),
                ("cosine min", e.cosine_min),
                ("overlap@k", e.overlap_at_k),
                ("overlap@k min", e.overlap_at_k_min),
                ("Spearman mean", e.spearman_mean),
                ("Spearman min", e.spearman_min),
                ("top-1 neighbour agreement", e.top1_agreement),
            ] {
                s.push_str(&format!("| {k} | {} |\n", fmt(v)));
            }
        }
        if let Some(v) = &self.vision {
            s.push_str("\n## Images\n\n| metric | value |\n|---|---|\n");
            let mut rows = vec![("feature cosine mean", v.cosine_mean), ("feature cosine min", v.cosine_min)];
            if let (Some(t1), Some(t5)) = (v.top1_agreement, v.top5_overlap) {
                rows.push(("top-1 class agreement", t1));
                rows.push(("top-5 class overlap", t5));
            }
            for (k, x) in rows {
                s.push_str(&format!("| {k} | {} |\n", fmt(x)));
            }
            s.push_str(&format!("\nthe least similar features: image {}\n", v.cosine_min_image));
        }
        if !self.reasons.is_empty() {
            s.push_str("\n## Why it fails\n\n");
            for r in &self.reasons {
                s.push_str(&format!("- {r}\n"));
            }
        }
        s
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Six significant digits, fixed or scientific as suits the magnitude.
pub fn fmt(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() >= 1e-3 && v.abs() < 1e6 {
        let digits = (5 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.5e}")
    }
}
