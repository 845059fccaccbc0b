//! Greedy continuations: does the candidate write what the reference
//! writes, and does it fall into loops the reference does not?

use serde::{Deserialize, Serialize};

/// One prompt's comparison.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PromptResult {
    pub exact_match: bool,
    /// First index where the continuations differ (`None`: identical).
    pub first_divergence: Option<usize>,
    pub reference_degeneration: Degeneration,
    pub candidate_degeneration: Degeneration,
}

/// Over every prompt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GreedySummary {
    pub prompts: usize,
    pub tokens: usize,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub exact_match_rate: f64,
    /// Mean over prompts of (first divergence, or the length when equal) / length.
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub mean_matching_prefix: f64,
    pub min_first_divergence: Option<usize>,
    /// Prompts whose candidate continuation is degenerate.
    pub candidate_degenerate: usize,
    pub reference_degenerate: usize,
    /// Degenerate under the candidate but not under the reference.
    pub new_degenerate: usize,
    pub per_prompt: Vec<PromptResult>,
}

/// Repetition found in a token sequence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Degeneration {
    /// Longest run of one token repeated back to back.
    pub longest_run: usize,
    /// The shortest period p (1..=MAX_PERIOD) with which the sequence's
    /// tail repeats, and the tail's length; `None` when no tail repeats at
    /// least three whole times.
    pub loop_period: Option<usize>,
    pub loop_span: usize,
    /// Distinct 3-grams / all 3-grams (1.0 when fewer than 3 tokens).
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub distinct_3gram_ratio: f64,
    pub degenerate: bool,
}

/// Longest period a loop is looked for at.
pub const MAX_PERIOD: usize = 16;
/// A run of one token this long is degenerate.
pub const RUN_LIMIT: usize = 8;
/// A periodic tail covering at least this fraction of the sequence (and
/// repeating at least three times) is degenerate.
pub const LOOP_FRACTION: f64 = 0.5;

/// Repeated tokens and n-gram loops in `ids`.
pub fn degeneration(ids: &[i64]) -> Degeneration {
    let mut longest = usize::from(!ids.is_empty());
    let mut run = 1;
    for w in ids.windows(2) {
        run = if w[0] == w[1] { run + 1 } else { 1 };
        longest = longest.max(run);
    }
    let mut loop_period = None;
    let mut loop_span = 0;
    for p in 1..=MAX_PERIOD.min(ids.len() / 3) {
        // Length of the tail that is periodic with period p.
        let mut span = p;
        while span < ids.len() && ids[ids.len() - 1 - span] == ids[ids.len() - 1 - span + p] {
            span += 1;
        }
        if span >= 3 * p {
            loop_period = Some(p);
            loop_span = span;
            break;
        }
    }
    let distinct = if ids.len() < 3 {
        1.0
    } else {
        let mut grams: Vec<&[i64]> = ids.windows(3).collect();
        let total = grams.len();
        grams.sort();
        grams.dedup();
        grams.len() as f64 / total as f64
    };
    let degenerate = longest >= RUN_LIMIT || (loop_period.is_some() && loop_span as f64 >= LOOP_FRACTION * ids.len() as f64);
    Degeneration { longest_run: longest, loop_period, loop_span, distinct_3gram_ratio: distinct, degenerate }
}

/// Compare `[prompts, tokens]` greedy ids row by row.
pub fn compare(reference: &[i64], candidate: &[i64], prompts: usize) -> crate::Result<GreedySummary> {
    if reference.len() != candidate.len() || prompts == 0 || !reference.len().is_multiple_of(prompts) {
        return Err(crate::Error::Mismatch(format!(
            "greedy ids: {} and {} tokens do not form the same [{prompts}, N] layout",
            reference.len(),
            candidate.len()
        )));
    }
    let n = reference.len() / prompts;
    let mut per = Vec::with_capacity(prompts);
    for i in 0..prompts {
        let (r, c) = (&reference[i * n..(i + 1) * n], &candidate[i * n..(i + 1) * n]);
        let first = r.iter().zip(c).position(|(a, b)| a != b);
        per.push(PromptResult {
            exact_match: first.is_none(),
            first_divergence: first,
            reference_degeneration: degeneration(r),
            candidate_degeneration: degeneration(c),
        });
    }
    let pf = prompts as f64;
    Ok(GreedySummary {
        prompts,
        tokens: n,
        exact_match_rate: per.iter().filter(|p| p.exact_match).count() as f64 / pf,
        mean_matching_prefix: if n == 0 { 1.0 } else { per.iter().map(|p| p.first_divergence.unwrap_or(n) as f64 / n as f64).sum::<f64>() / pf },
        min_first_divergence: per.iter().filter_map(|p| p.first_divergence).min(),
        candidate_degenerate: per.iter().filter(|p| p.candidate_degeneration.degenerate).count(),
        reference_degenerate: per.iter().filter(|p| p.reference_degeneration.degenerate).count(),
        new_degenerate: per.iter().filter(|p| p.candidate_degeneration.degenerate && !p.reference_degeneration.degenerate).count(),
        per_prompt: per,
    })
}
