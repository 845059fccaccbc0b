//! The `map validate` report: what the map does with every source tensor,
//! and every problem, as versioned JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{Issue, Plan};

/// Schema id of the report.
pub const SCHEMA: &str = "mlxport.map_validation/v1";

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub ok: bool,
    pub summary: Summary,
    /// Per rule: its source pattern(s) and how many jobs it expanded to.
    pub rules: Vec<RuleUse>,
    /// Source tensors deliberately not converted.
    pub categorized: Vec<crate::plan::Categorized>,
    pub issues: Vec<Issue>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub source_tensors: usize,
    /// Source tensors consumed by rules.
    pub mapped: usize,
    /// Categorized source tensors by category.
    pub categorized: BTreeMap<&'static str, usize>,
    pub target_tensors: usize,
    pub ties: usize,
    pub target_checked: bool,
    /// The target implementation whose parameters the map was checked
    /// against (`mlx-lm`, `scaffold`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implementation_checked: Option<String>,
    pub dtype: String,
    pub errors: usize,
    pub warnings: usize,
    /// Errors by code.
    pub by_code: BTreeMap<&'static str, usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleUse {
    pub rule: usize,
    pub source: Vec<String>,
    pub target: Vec<String>,
    pub jobs: usize,
}

/// Build the report for a plan.
pub fn report(map: &crate::WeightMap, p: &Plan, target_checked: bool, dtype: &str) -> Report {
    let mut categorized: BTreeMap<&'static str, usize> = BTreeMap::new();
    for c in &p.categorized {
        *categorized.entry(c.category.as_str()).or_default() += 1;
    }
    let mut by_code: BTreeMap<&'static str, usize> = BTreeMap::new();
    for i in &p.issues {
        *by_code.entry(i.code).or_default() += 1;
    }
    let mapped = p.jobs.iter().map(|j| j.inputs.len()).sum();
    Report {
        schema: SCHEMA,
        ok: p.errors() == 0,
        summary: Summary {
            source_tensors: p.source_tensors,
            mapped,
            categorized,
            target_tensors: p.targets().len(),
            ties: p.ties.len(),
            target_checked,
            implementation_checked: None,
            dtype: dtype.to_string(),
            errors: p.errors(),
            warnings: p.warnings(),
            by_code,
        },
        rules: map
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleUse { rule: i, source: r.source.to_vec(), target: r.target.to_vec(), jobs: p.rule_hits.get(i).copied().unwrap_or(0) })
            .collect(),
        categorized: p.categorized.clone(),
        issues: p.issues.clone(),
    }
}
