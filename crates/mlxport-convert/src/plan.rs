//! A map expanded against a real source: concrete jobs (source names in,
//! target names out, shapes and dtypes inferred through every transform)
//! and every problem found on the way.
//!
//! [`plan`] is what `map validate` reports and what `convert` executes;
//! the two can never disagree about what a map means.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mlxport_tensor::{DType, Encoding, TensorInfo};
use serde::Serialize;

use crate::map::{Category, WeightMap};
use crate::pattern::{Bindings, Pattern};
use crate::transform::{infer_all, parse_dtype, Meta};

/// How bad an issue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One finding, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// `unmapped_source`, `missing_source`, `missing_target`,
    /// `extra_target`, `shape_mismatch`, `transform_error`,
    /// `double_mapped_target`, `double_mapped_source`, `dtype_conflict`,
    /// `gather_gap`, `arity`, `unresolved`, `unsupported`, `bad_map`,
    /// `unused_rule`; against a target implementation ([`check_parameters`]):
    /// `missing_parameter`, `unexpected_weight`, `parameter_shape`,
    /// `target_build`.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Index of the rule in the map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
}

/// How converted floating tensors get their dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtypePolicy {
    /// As in the source (dequantized GGUF blocks: F32).
    Keep,
    /// Every floating tensor to this dtype (rules may pin their own).
    To(DType),
}

impl DtypePolicy {
    pub fn parse(s: &str) -> Option<DtypePolicy> {
        if s.eq_ignore_ascii_case("keep") {
            return Some(DtypePolicy::Keep);
        }
        parse_dtype(s).filter(|d| matches!(d, DType::F16 | DType::BF16 | DType::F32)).map(DtypePolicy::To)
    }
    pub fn name(self) -> &'static str {
        match self {
            DtypePolicy::Keep => "keep",
            DtypePolicy::To(d) => d.name(),
        }
    }
}

/// One concrete conversion step: source tensors in, target tensors out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub rule: usize,
    pub bindings: Bindings,
    /// Source tensor names, in input order.
    pub inputs: Vec<String>,
    pub targets: Vec<String>,
    /// Shapes of the targets.
    pub shapes: Vec<Vec<u64>>,
    /// The dtype each target is written in (after the policy).
    pub dtypes: Vec<DType>,
}

/// A target written as a copy of another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TieJob {
    pub target: String,
    pub from: String,
    pub shape: Vec<u64>,
    pub dtype: DType,
}

/// A source tensor the map deliberately leaves out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Categorized {
    pub source: String,
    pub category: Category,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<String>,
}

/// A planned target tensor, in parameter order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTarget {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: DType,
}

/// The expanded map.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    pub ties: Vec<TieJob>,
    pub categorized: Vec<Categorized>,
    pub issues: Vec<Issue>,
    /// How many jobs each rule produced.
    pub rule_hits: Vec<usize>,
    pub source_tensors: usize,
}

impl Plan {
    pub fn errors(&self) -> usize {
        self.issues.iter().filter(|i| i.severity == Severity::Error).count()
    }
    pub fn warnings(&self) -> usize {
        self.issues.iter().filter(|i| i.severity == Severity::Warning).count()
    }
    /// Every target tensor in parameter order (jobs in source order, then
    /// ties).
    pub fn targets(&self) -> Vec<PlannedTarget> {
        let mut out = Vec::new();
        for j in &self.jobs {
            for ((n, s), d) in j.targets.iter().zip(&j.shapes).zip(&j.dtypes) {
                out.push(PlannedTarget { name: n.clone(), shape: s.clone(), dtype: *d });
            }
        }
        for t in &self.ties {
            out.push(PlannedTarget { name: t.target.clone(), shape: t.shape.clone(), dtype: t.dtype });
        }
        out
    }
}

fn issue(code: &'static str, message: String) -> Issue {
    Issue { severity: Severity::Error, code, message, source: None, target: None, rule: None }
}

impl Issue {
    fn src(mut self, s: &str) -> Self {
        self.source = Some(s.to_string());
        self
    }
    fn tgt(mut self, s: &str) -> Self {
        self.target = Some(s.to_string());
        self
    }
    fn rule(mut self, r: usize) -> Self {
        self.rule = Some(r);
        self
    }
    fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}

/// The dtype a source tensor enters the transforms with: its own, or F32
/// for block-quantized GGUF tensors (dequantized).
pub fn input_dtype(t: &TensorInfo) -> DType {
    match &t.encoding {
        Encoding::Dense(d) => *d,
        Encoding::Ggml { .. } => DType::F32,
    }
}

struct CompiledRule {
    sources: Vec<Pattern>,
    targets: Vec<Pattern>,
    /// Placeholders in sources and targets (one job per distinct binding).
    keys: BTreeSet<String>,
    /// A placeholder only the target has: it numbers the parts the
    /// transforms produce (`experts.{e}` after an unstack).
    scatter: Option<String>,
}

/// Expand `map` against the source tensors. `policy` overrides the map's
/// own dtype policy (`convert --dtype`).
pub fn plan(map: &WeightMap, sources: &[TensorInfo], policy: Option<DtypePolicy>) -> Plan {
    let mut p = Plan { source_tensors: sources.len(), rule_hits: vec![0; map.rules.len()], ..Plan::default() };
    let policy = match policy {
        Some(pol) => pol,
        None => DtypePolicy::parse(&map.dtype).unwrap_or_else(|| {
            p.issues.push(issue("dtype_conflict", format!("the map's dtype policy '{}' is not keep, BF16, F16 or F32", map.dtype)));
            DtypePolicy::Keep
        }),
    };
    let by_name: HashMap<&str, &TensorInfo> = sources.iter().map(|t| (t.name.as_str(), t)).collect();
    let position: HashMap<&str, usize> = sources.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();

    // Compile the rules.
    let mut rules: Vec<Option<CompiledRule>> = Vec::new();
    for (ri, r) in map.rules.iter().enumerate() {
        let compile = |v: Vec<String>| v.iter().map(|s| Pattern::new(s)).collect::<Result<Vec<_>, _>>();
        match (compile(r.source.to_vec()), compile(r.target.to_vec())) {
            (Ok(sources), Ok(targets)) => {
                let src_names: BTreeSet<String> = sources.iter().flat_map(|s| s.names().iter().cloned()).collect();
                let tgt_names: BTreeSet<String> = targets.iter().flat_map(|t| t.names().iter().cloned()).collect();
                let keys: BTreeSet<String> = tgt_names.intersection(&src_names).cloned().collect();
                let scatter: Vec<String> = tgt_names.difference(&src_names).cloned().collect();
                if scatter.len() > 1 || (!scatter.is_empty() && targets.len() != 1) {
                    p.issues.push(issue("bad_map", format!("target placeholders {scatter:?} appear in no source pattern (one is allowed, in a single target pattern, to number the parts of a split or unstack)")).rule(ri));
                    rules.push(None);
                    continue;
                }
                if sources.is_empty() || targets.is_empty() {
                    p.issues.push(issue("bad_map", "a rule needs at least one source and one target".into()).rule(ri));
                    rules.push(None);
                    continue;
                }
                rules.push(Some(CompiledRule { sources, targets, keys, scatter: scatter.into_iter().next() }));
            }
            (Err(e), _) | (_, Err(e)) => {
                p.issues.push(issue("bad_map", e.to_string()).rule(ri));
                rules.push(None);
            }
        }
    }
    let unmapped: Vec<(Option<Pattern>, &crate::map::Unmapped)> = map
        .unmapped
        .iter()
        .map(|u| match Pattern::new(&u.source) {
            Ok(pat) => (Some(pat), u),
            Err(e) => {
                p.issues.push(issue("bad_map", e.to_string()));
                (None, u)
            }
        })
        .collect();

    // Match every source tensor: (rule, pattern index, bindings).
    // instances[rule][key bindings][pattern index] = [(gathered bindings, name)]
    type Inst<'s> = BTreeMap<Bindings, Vec<Vec<(Bindings, &'s str)>>>;
    let mut instances: Vec<Inst> = (0..map.rules.len()).map(|_| BTreeMap::new()).collect();
    let mut seen_unmapped = vec![false; unmapped.len()];
    for t in sources {
        let mut hits: Vec<String> = Vec::new();
        for (ri, cr) in rules.iter().enumerate() {
            let Some(cr) = cr else { continue };
            for (pi, pat) in cr.sources.iter().enumerate() {
                if let Some(b) = pat.matches(&t.name) {
                    hits.push(format!("rule {ri}"));
                    let key: Bindings = b.iter().filter(|(k, _)| cr.keys.contains(*k)).map(|(k, v)| (k.clone(), *v)).collect();
                    let gathered: Bindings = b.into_iter().filter(|(k, _)| !cr.keys.contains(k)).collect();
                    let slots = instances[ri].entry(key).or_insert_with(|| vec![Vec::new(); cr.sources.len()]);
                    slots[pi].push((gathered, t.name.as_str()));
                }
            }
        }
        let mut cat: Option<&crate::map::Unmapped> = None;
        for (ui, (pat, u)) in unmapped.iter().enumerate() {
            if pat.as_ref().is_some_and(|pat| pat.matches(&t.name).is_some()) {
                hits.push(format!("unmapped entry '{}'", u.source));
                seen_unmapped[ui] = true;
                cat.get_or_insert(u);
            }
        }
        if hits.len() > 1 {
            p.issues
                .push(issue("double_mapped_source", format!("source tensor '{}' is claimed {} times: {}", t.name, hits.len(), hits.join(", "))).src(&t.name));
            continue;
        }
        if let Some(u) = cat.filter(|_| hits.len() == 1) {
            if u.category == Category::Unsupported {
                p.issues.push(issue("unsupported", format!("source tensor '{}' is categorized unsupported: {}", t.name, u.reason)).src(&t.name));
            }
            if u.category == Category::Shared {
                match u.shared_with.as_deref().map(|w| (w, by_name.get(w))) {
                    Some((_, Some(other))) if other.shape == t.shape => {}
                    Some((w, Some(other))) => p.issues.push(
                        issue(
                            "shape_mismatch",
                            format!("'{}' is declared shared with '{w}', but their shapes differ ({:?} vs {:?})", t.name, t.shape, other.shape),
                        )
                        .src(&t.name),
                    ),
                    Some((w, None)) => {
                        p.issues.push(issue("missing_source", format!("'{}' is declared shared with '{w}', which is not in the source", t.name)).src(&t.name))
                    }
                    None => p.issues.push(issue("bad_map", format!("'{}' is categorized shared but names no shared_with tensor", t.name)).src(&t.name)),
                }
            }
            p.categorized.push(Categorized { source: t.name.clone(), category: u.category, reason: u.reason.clone(), shared_with: u.shared_with.clone() });
        }
        if hits.is_empty() {
            let listed = map.unresolved.iter().find(|u| u.source == t.name);
            let msg = match listed {
                Some(u) => format!("source tensor '{}' is unresolved: {}", t.name, u.reason),
                None => format!("source tensor '{}' ({} {:?}) is neither mapped nor categorized", t.name, t.encoding, t.shape),
            };
            p.issues.push(issue(if listed.is_some() { "unresolved" } else { "unmapped_source" }, msg).src(&t.name));
        }
    }
    for u in &map.unresolved {
        if !by_name.contains_key(u.source.as_str()) {
            p.issues.push(issue("unresolved", format!("unresolved entry '{}': {}", u.source, u.reason)).src(&u.source));
        }
    }
    for (ui, (pat, u)) in unmapped.iter().enumerate() {
        if !seen_unmapped[ui] && pat.as_ref().is_some_and(|p| p.is_exact()) {
            p.issues.push(issue("missing_source", format!("unmapped entry '{}' names a tensor the source does not have", u.source)).src(&u.source).warning());
        }
    }

    // Build the jobs.
    let mut produced: HashMap<String, usize> = HashMap::new();
    let mut jobs: Vec<(usize, Job)> = Vec::new();
    for (ri, cr) in rules.iter().enumerate() {
        let Some(cr) = cr else { continue };
        let rule = &map.rules[ri];
        if instances[ri].is_empty() {
            let exact = cr.sources.iter().all(|s| s.is_exact());
            let msg = format!("rule {ri} ({}) matches no source tensor", rule.source.to_vec().join(", "));
            p.issues.push(if exact { issue("missing_source", msg).src(cr.sources[0].text()).rule(ri) } else { issue("unused_rule", msg).rule(ri).warning() });
            continue;
        }
        for (key, slots) in std::mem::take(&mut instances[ri]) {
            let mut inputs: Vec<String> = Vec::new();
            let mut input_pattern: Vec<usize> = Vec::new();
            let mut ok = true;
            for (pi, mut found) in slots.into_iter().enumerate() {
                let pat = &cr.sources[pi];
                if found.is_empty() {
                    let name = pat.fill(&key).unwrap_or_else(|| pat.text().to_string());
                    p.issues.push(issue("missing_source", format!("rule {ri}: source tensor '{name}' is missing")).src(&name).rule(ri));
                    ok = false;
                    continue;
                }
                found.sort();
                let gathered: Vec<&String> = pat.names().iter().filter(|n| !cr.keys.contains(*n)).collect();
                if gathered.len() > 1 {
                    p.issues.push(issue("bad_map", format!("rule {ri}: pattern '{}' gathers over more than one placeholder", pat.text())).rule(ri));
                    ok = false;
                    continue;
                }
                if let Some(g) = gathered.first() {
                    let idx: Vec<u64> = found.iter().map(|(b, _)| b[*g]).collect();
                    let mut sorted = idx.clone();
                    sorted.sort_unstable();
                    if sorted.iter().enumerate().any(|(k, &v)| v != k as u64) {
                        p.issues.push(
                            issue(
                                "gather_gap",
                                format!("rule {ri}: '{}' gathers {{{g}}} over {sorted:?}, not 0..{}", pat.fill(&key).unwrap_or_default(), sorted.len()),
                            )
                            .rule(ri),
                        );
                        ok = false;
                        continue;
                    }
                    found.sort_by_key(|(b, _)| b[*g]);
                }
                for (_, n) in found {
                    inputs.push(n.to_string());
                    input_pattern.push(pi);
                }
            }
            if !ok {
                continue;
            }
            let mut targets: Vec<String> = match &cr.scatter {
                Some(_) => Vec::new(),
                None => cr.targets.iter().map(|t| t.fill(&key).unwrap_or_default()).collect(),
            };
            // Declared source dtype and shapes.
            let mut metas = Vec::new();
            for (name, &pi) in inputs.iter().zip(&input_pattern) {
                let t = by_name[name.as_str()];
                if let Some(want) = &rule.source_dtype {
                    if !t.encoding.name().eq_ignore_ascii_case(want) {
                        p.issues.push(issue("dtype_conflict", format!("rule {ri}: '{name}' is {}, the map declares {want}", t.encoding)).src(name).rule(ri));
                        ok = false;
                    }
                }
                if let Some(Some(want)) = rule.source_shapes.as_ref().and_then(|v| v.get(pi)) {
                    if *want != t.shape {
                        p.issues.push(
                            issue("shape_mismatch", format!("rule {ri}: '{name}' has shape {:?}, the map declares {want:?}", t.shape)).src(name).rule(ri),
                        );
                        ok = false;
                    }
                }
                metas.push(Meta { shape: t.shape.clone(), dtype: Some(input_dtype(t)) });
            }
            if !ok {
                continue;
            }
            let outs = match infer_all(&rule.transforms, metas) {
                Ok(o) => o,
                Err(e) => {
                    let code = if e.0.contains("dtype conflict") { "dtype_conflict" } else { "transform_error" };
                    p.issues.push(issue(code, format!("rule {ri} on '{}': {e}", inputs[0])).src(&inputs[0]).rule(ri));
                    continue;
                }
            };
            if let Some(g) = &cr.scatter {
                targets = (0..outs.len() as u64)
                    .map(|k| {
                        let mut b = key.clone();
                        b.insert(g.clone(), k);
                        cr.targets[0].fill(&b).unwrap_or_default()
                    })
                    .collect();
            }
            if outs.len() != targets.len() {
                p.issues.push(
                    issue("arity", format!("rule {ri} on '{}': the transforms give {} tensors for {} targets", inputs[0], outs.len(), targets.len()))
                        .src(&inputs[0])
                        .rule(ri),
                );
                continue;
            }
            let mut dtypes = Vec::new();
            for (k, (m, tname)) in outs.iter().zip(&targets).enumerate() {
                let declared = if cr.scatter.is_some() { 0 } else { k };
                if let Some(Some(want)) = rule.target_shapes.as_ref().and_then(|v| v.get(declared)) {
                    if *want != m.shape {
                        p.issues.push(
                            issue("shape_mismatch", format!("rule {ri}: '{tname}' comes out {:?} after the transforms, the map declares {want:?}", m.shape))
                                .tgt(tname)
                                .src(&inputs[0])
                                .rule(ri),
                        );
                        ok = false;
                    }
                }
                let inferred = m.dtype.unwrap_or(DType::F32);
                let d = match &rule.target_dtype {
                    Some(s) => match parse_dtype(s) {
                        Some(d) if d.is_float() == inferred.is_float() => d,
                        Some(d) => {
                            p.issues.push(
                                issue("dtype_conflict", format!("rule {ri}: '{tname}' is {} and cannot be pinned to {}", inferred.name(), d.name()))
                                    .tgt(tname)
                                    .rule(ri),
                            );
                            ok = false;
                            inferred
                        }
                        None => {
                            p.issues.push(issue("dtype_conflict", format!("rule {ri}: unknown target dtype '{s}'")).rule(ri));
                            ok = false;
                            inferred
                        }
                    },
                    None => match policy {
                        DtypePolicy::To(d) if inferred.is_float() => d,
                        _ => inferred,
                    },
                };
                dtypes.push(d);
            }
            if !ok {
                continue;
            }
            p.rule_hits[ri] += 1;
            let pos = inputs.iter().filter_map(|n| position.get(n.as_str())).min().copied().unwrap_or(usize::MAX);
            jobs.push((pos, Job { rule: ri, bindings: key, inputs, targets, shapes: outs.into_iter().map(|m| m.shape).collect(), dtypes }));
        }
    }
    jobs.sort_by_key(|(pos, j)| (*pos, j.rule));
    for (_, j) in &jobs {
        for t in &j.targets {
            *produced.entry(t.clone()).or_default() += 1;
        }
    }
    // Ties: copies of produced targets.
    let mut ties = Vec::new();
    for t in &map.ties {
        let from = jobs.iter().flat_map(|(_, j)| j.targets.iter().zip(&j.shapes).zip(&j.dtypes)).find(|((n, _), _)| **n == t.from);
        match from {
            Some(((_, shape), dtype)) => {
                *produced.entry(t.target.clone()).or_default() += 1;
                ties.push(TieJob { target: t.target.clone(), from: t.from.clone(), shape: shape.clone(), dtype: *dtype });
            }
            None => p.issues.push(issue("missing_source", format!("tie '{}' copies '{}', which no rule produces", t.target, t.from)).tgt(&t.target)),
        }
    }
    let mut doubles: Vec<(&String, &usize)> = produced.iter().filter(|(_, &n)| n > 1).collect();
    doubles.sort();
    for (t, n) in doubles {
        p.issues.push(issue("double_mapped_target", format!("target tensor '{t}' is produced {n} times")).tgt(t));
    }
    p.jobs = jobs.into_iter().map(|(_, j)| j).collect();
    p.ties = ties;
    p
}

/// Check a plan against a real target checkpoint: every target tensor
/// produced, nothing extra, shapes and dtypes equal. Adds issues to the
/// plan.
/// What a target implementation loads, found by building its model from
/// the config the conversion writes (nothing converted, nothing loaded):
/// its parameters, and the tensors its loader hands to the model after its
/// own renames (mlx-lm's `sanitize`), each with its shape.
#[derive(Clone, Debug, Default)]
pub struct TargetParameters {
    /// `mlx-lm` or `scaffold`.
    pub implementation: String,
    pub parameters: BTreeMap<String, Vec<u64>>,
    pub loaded: BTreeMap<String, Vec<u64>>,
    /// The implementation could not build the model (the reason).
    pub error: Option<String>,
}

/// Check the map's output against what the target implementation loads:
/// a parameter no weight fills (`missing_parameter`), a weight no
/// parameter takes (`unexpected_weight`), a shape that differs
/// (`parameter_shape`), or a model the target cannot build
/// (`target_build`).
pub fn check_parameters(p: &mut Plan, t: &TargetParameters) {
    let who = &t.implementation;
    if let Some(e) = &t.error {
        p.issues.push(issue("target_build", format!("{who} cannot build the model from the config the conversion writes: {e}")));
        return;
    }
    for (name, shape) in &t.parameters {
        match t.loaded.get(name) {
            None => {
                p.issues.push(issue("missing_parameter", format!("{who}'s model has parameter '{name}' {shape:?}, which no weight of the map fills")).tgt(name))
            }
            Some(got) if got != shape => p
                .issues
                .push(issue("parameter_shape", format!("{who}'s parameter '{name}' is {shape:?}, the map's weight (as {who} loads it) is {got:?}")).tgt(name)),
            Some(_) => {}
        }
    }
    for (name, shape) in &t.loaded {
        if !t.parameters.contains_key(name) {
            p.issues.push(
                issue("unexpected_weight", format!("the map writes '{name}' {shape:?}, for which {who}'s model has no parameter (as {who} loads it)"))
                    .tgt(name),
            );
        }
    }
}

pub fn check_target(p: &mut Plan, target: &[TensorInfo]) {
    let planned: BTreeMap<String, PlannedTarget> = p.targets().into_iter().map(|t| (t.name.clone(), t)).collect();
    let have: BTreeMap<&str, &TensorInfo> = target.iter().map(|t| (t.name.as_str(), t)).collect();
    for (name, t) in &have {
        match planned.get(*name) {
            None => p
                .issues
                .push(issue("missing_target", format!("the target has '{name}' ({} {:?}), which the map does not produce", t.encoding, t.shape)).tgt(name)),
            Some(pt) => {
                if pt.shape != t.shape {
                    p.issues.push(issue("shape_mismatch", format!("target '{name}': the map produces {:?}, the target has {:?}", pt.shape, t.shape)).tgt(name));
                }
                if t.dtype() != Some(pt.dtype) {
                    p.issues.push(
                        issue("dtype_conflict", format!("target '{name}': the map produces {}, the target has {}", pt.dtype.name(), t.encoding)).tgt(name),
                    );
                }
            }
        }
    }
    for name in planned.keys() {
        if !have.contains_key(name.as_str()) {
            p.issues.push(issue("extra_target", format!("the map produces '{name}', which the target does not have")).tgt(name));
        }
    }
}
