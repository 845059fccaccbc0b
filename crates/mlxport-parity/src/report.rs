//! The comparison report (`"schema": "mlxport.compare/v1"`), and the run
//! that produces it: match names, compare pairs or climb a ladder.

use std::collections::BTreeMap;

use mlxport_tensor::TensorSource;
use serde::{Deserialize, Serialize};

use crate::atlas;
use crate::compare::{compare_pair, match_names, NameMap, PairReport, Settings, Status};
use crate::ladder::{self, Kind, Rung};
use crate::tolerance::Overrides;

/// Version of the JSON report.
pub const SCHEMA: &str = "mlxport.compare/v1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceInfo {
    pub path: String,
    pub format: String,
    pub tensors: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleInfo {
    pub pattern: String,
    pub tolerance: Overrides,
}

/// The settings, as reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SettingsInfo {
    /// `same`, `map` or `rename`.
    pub names: String,
    pub include: Option<String>,
    pub exclude: Option<String>,
    pub tolerance: Overrides,
    pub rules: Vec<RuleInfo>,
    pub logits: Option<String>,
    pub top_k: usize,
}

/// A hint from the failure atlas.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hint {
    pub id: String,
    pub title: String,
    pub causes: Vec<String>,
    pub checks: Vec<String>,
    /// Symptom entries that also apply (non-finite values, shapes...).
    pub symptoms: Vec<Symptom>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Symptom {
    pub id: String,
    pub title: String,
    pub causes: Vec<String>,
}

/// How a rung of a climbed ladder ended (`"pass"`, `"fail"`, `"skipped"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RungStatus {
    Pass,
    Fail,
    /// An earlier rung diverged (without `--all`), or the rung did not run.
    Skipped,
}

impl RungStatus {
    /// The string the report writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            RungStatus::Pass => "pass",
            RungStatus::Fail => "fail",
            RungStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for RungStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the string the report writes (`status == "pass"`).
impl PartialEq<&str> for RungStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One rung of a climbed ladder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RungReport {
    pub index: usize,
    pub name: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<u64>,
    /// The failure atlas's stage for this rung.
    pub stage: String,
    /// `skipped` when an earlier rung diverged (without `--all`).
    pub status: RungStatus,
    pub tensors: Vec<String>,
    pub max_abs: Option<f64>,
    pub max_rel: Option<f64>,
    /// The smallest cosine over the rung's tensors.
    pub cosine: Option<f64>,
    /// The largest absolute tolerance over the rung's tensors.
    pub atol: Option<f64>,
    pub violations: u64,
    pub nonfinite: u64,
    pub failures: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
}

impl RungReport {
    /// A rung not climbed yet: `skipped`, no figures.
    pub fn skipped(index: usize, name: &str, kind: Kind, layer: Option<u64>, stage: &str, tensors: Vec<String>) -> RungReport {
        RungReport {
            index,
            name: name.to_string(),
            kind,
            layer,
            stage: stage.to_string(),
            status: RungStatus::Skipped,
            tensors,
            max_abs: None,
            max_rel: None,
            cosine: None,
            atol: None,
            violations: 0,
            nonfinite: 0,
            failures: Vec::new(),
            hint: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FirstDivergence {
    pub rung: usize,
    pub name: String,
    pub stage: String,
    pub hint: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LadderReport {
    /// `file`, `manifest` or `inferred` (`parity` for the parity pipeline's).
    pub source: String,
    pub all: bool,
    pub rungs: Vec<RungReport>,
    pub first_divergence: Option<FirstDivergence>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub pairs: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub unmatched_a: usize,
    pub unmatched_b: usize,
}

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub status: Status,
    pub a: SourceInfo,
    pub b: SourceInfo,
    pub settings: SettingsInfo,
    pub summary: Summary,
    pub pairs: Vec<PairReport>,
    pub unmatched_a: Vec<String>,
    pub unmatched_b: Vec<String>,
    pub ladder: Option<LadderReport>,
}

/// Which ladder to climb, if any.
#[derive(Clone, Debug)]
pub enum LadderChoice {
    None,
    /// Inferred from A's names.
    Auto,
    /// Read from a file: (rungs, `"file"` or `"manifest"`).
    Given(Vec<Rung>, &'static str),
}

/// Options of a run beyond the pair settings.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub ladder: LadderChoice,
    /// Climb every rung instead of stopping at the first divergence.
    pub all: bool,
    /// Unmatched names do not fail the comparison.
    pub allow_unmatched: bool,
}

fn source_info(s: &dyn TensorSource) -> SourceInfo {
    SourceInfo { path: s.path().display().to_string(), format: s.format().name().to_string(), tensors: s.tensors().len() }
}

fn settings_info(s: &Settings) -> SettingsInfo {
    SettingsInfo {
        names: match s.names {
            NameMap::Same => "same",
            NameMap::Table(_) => "map",
            NameMap::Rename(_) => "rename",
        }
        .to_string(),
        include: s.include.as_ref().map(|r| r.as_str().to_string()),
        exclude: s.exclude.as_ref().map(|r| r.as_str().to_string()),
        tolerance: s.global.clone(),
        rules: s.rules.iter().map(|r| RuleInfo { pattern: r.pattern.as_str().to_string(), tolerance: r.overrides.clone() }).collect(),
        logits: s.logits.as_ref().map(|r| r.as_str().to_string()),
        top_k: s.top_k,
    }
}

/// The atlas hint for a failing rung.
pub fn hint_for(stage: &str, pairs: &[&PairReport], missing: bool) -> Option<Hint> {
    let e = atlas::for_stage(stage)?;
    let mut symptoms = Vec::new();
    let mut add = |s: &str| {
        if let Some(x) = atlas::for_symptom(s) {
            symptoms.push(Symptom { id: x.id.clone(), title: x.title.clone(), causes: x.causes.clone() });
        }
    };
    if pairs.iter().any(|p| p.nonfinite() > 0) {
        add("nonfinite");
    }
    if pairs.iter().any(|p| p.shape_mismatch()) {
        add("shape");
    }
    if missing {
        add("missing");
    }
    if pairs.iter().any(|p| p.cosine().is_some_and(|c| c < 0.5)) {
        add("low_cosine");
    }
    Some(Hint { id: e.id.clone(), title: e.title.clone(), causes: e.causes.clone(), checks: e.checks.clone(), symptoms })
}

/// Compare `a` against the reference `b`.
pub fn run(
    a: &dyn TensorSource,
    b: &dyn TensorSource,
    settings: &Settings,
    opts: &RunOptions,
    progress: &mut dyn FnMut(&str, u64),
) -> mlxport_tensor::Result<Report> {
    let matching = match_names(a, b, settings);
    let target: BTreeMap<&str, &str> = matching.pairs.iter().map(|(x, y)| (x.as_str(), y.as_str())).collect();
    let mut pairs: Vec<PairReport> = Vec::new();
    let mut ladder_report = None;
    let rungs = match &opts.ladder {
        LadderChoice::None => None,
        LadderChoice::Auto => {
            let names: Vec<String> = matching.pairs.iter().map(|(x, _)| x.clone()).chain(matching.unmatched_a.iter().cloned()).collect();
            let order: BTreeMap<&str, usize> = a.tensors().iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
            let mut names = names;
            names.sort_by_key(|n| order.get(n.as_str()).copied().unwrap_or(usize::MAX));
            Some((ladder::infer(&names), "inferred"))
        }
        LadderChoice::Given(r, src) => Some((r.clone(), *src)),
    };
    match rungs {
        None => {
            for (x, y) in &matching.pairs {
                pairs.push(compare_pair(a, b, x, y, settings, None, &mut |d| progress(x, d))?);
            }
        }
        Some((rungs, source)) => {
            let first_layer = rungs.iter().filter(|r| r.kind == Kind::Layer).filter_map(|r| r.layer).min();
            let mut reports = Vec::new();
            let mut first = None;
            for (i, rung) in rungs.iter().enumerate() {
                let stage = ladder::stage(rung, first_layer);
                let mut rr = RungReport::skipped(i, &rung.name, rung.kind, rung.layer, stage, rung.tensors.clone());
                if first.is_some() && !opts.all {
                    reports.push(rr);
                    continue;
                }
                let start = pairs.len();
                let mut missing = false;
                for t in &rung.tensors {
                    let mapped = settings.names.map(t);
                    let in_a = a.tensors().iter().any(|x| &x.name == t);
                    let in_b = target.contains_key(t.as_str()) || b.tensors().iter().any(|x| x.name == mapped);
                    if !in_a || !in_b {
                        missing = true;
                        let side = if !in_a { "A" } else { "B" };
                        rr.failures.push(format!("tensor '{}' is missing from {side}", if in_a { &mapped } else { t }));
                        continue;
                    }
                    let tb = target.get(t.as_str()).map(|s| s.to_string()).unwrap_or(mapped);
                    pairs.push(compare_pair(a, b, t, &tb, settings, Some(&rung.tolerance), &mut |d| progress(t, d))?);
                }
                let done: Vec<&PairReport> = pairs[start..].iter().collect();
                let fmax = |f: &dyn Fn(&PairReport) -> Option<f64>| {
                    done.iter().filter_map(|p| f(p)).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| if x > m || x.is_nan() { x } else { m })))
                };
                rr.max_abs = fmax(&|p| p.max_abs());
                rr.max_rel = fmax(&|p| p.float.as_ref().and_then(|f| f.rel_linf.or(f.max_rel)));
                rr.atol = fmax(&|p| p.tolerance.atol);
                rr.cosine =
                    done.iter().filter_map(|p| p.cosine()).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| if x < m || x.is_nan() { x } else { m })));
                rr.violations =
                    done.iter().map(|p| p.float.as_ref().map(|f| f.allclose.violations).or(p.exact.as_ref().map(|e| e.mismatches)).unwrap_or(0)).sum();
                rr.nonfinite = done.iter().map(|p| p.nonfinite()).sum();
                for p in &done {
                    for f in &p.failures {
                        rr.failures.push(format!("{}: {f}", p.name));
                    }
                }
                let failed = missing || done.iter().any(|p| p.status != Status::Pass);
                rr.status = if failed { RungStatus::Fail } else { RungStatus::Pass };
                if failed {
                    rr.hint = hint_for(stage, &done, missing);
                    if first.is_none() {
                        first = Some(FirstDivergence {
                            rung: i,
                            name: rung.name.clone(),
                            stage: stage.to_string(),
                            hint: rr.hint.as_ref().map(|h| h.id.clone()).unwrap_or_default(),
                        });
                    }
                }
                reports.push(rr);
            }
            ladder_report = Some(LadderReport { source: source.to_string(), all: opts.all, rungs: reports, first_divergence: first });
        }
    }
    let summary = Summary {
        pairs: pairs.len(),
        passed: pairs.iter().filter(|p| p.status == Status::Pass).count(),
        failed: pairs.iter().filter(|p| p.status == Status::Fail).count(),
        errors: pairs.iter().filter(|p| p.status == Status::Error).count(),
        unmatched_a: matching.unmatched_a.len(),
        unmatched_b: matching.unmatched_b.len(),
    };
    let failed = match &ladder_report {
        Some(l) => l.first_divergence.is_some(),
        None => summary.failed + summary.errors > 0 || (!opts.allow_unmatched && summary.unmatched_a + summary.unmatched_b > 0),
    };
    Ok(Report {
        schema: SCHEMA.to_string(),
        status: if failed { Status::Fail } else { Status::Pass },
        a: source_info(a),
        b: source_info(b),
        settings: settings_info(settings),
        summary,
        pairs,
        unmatched_a: matching.unmatched_a,
        unmatched_b: matching.unmatched_b,
        ladder: ladder_report,
    })
}
