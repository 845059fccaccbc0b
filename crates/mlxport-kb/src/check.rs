//! The knowledge base's integrity checker: every family, runbook, page,
//! rung, technique and evidence source is reachable and consistent.
//!
//! [`check`] returns every problem it finds (never stops at the first):
//! duplicate ids, dangling references, a family without a runbook (or a
//! runbook without a family), a technique without a source, an unpinned or
//! unused source, values outside the fixed vocabularies, and runbook routing
//! examples that intake routes to another family. The embedded data must
//! check clean; the tests also run the checker on seeded broken copies.

use std::collections::{BTreeMap, BTreeSet};

use mlxport_intake::routing::{self, RoutingInput};

use crate::data::{Kb, CATEGORIES, OBJECTIVES, STATUSES, WORKLOADS};

/// Minimum size of the techniques registry.
pub const MIN_TECHNIQUES: usize = 60;
/// Rungs of the parity ladder.
pub const RUNGS: u32 = 8;

/// One integrity problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `techniques/runtime.toml: avoid-host-syncs`.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Routes an example signal to a family id (`None`: no family).
pub type Router = dyn Fn(&str) -> crate::Result<Option<String>>;

/// What the knowledge base is checked against: the routing families and
/// traits, and a router for the runbooks' examples.
pub struct Context {
    /// (family id, runbook id) pairs.
    pub families: Vec<(String, String)>,
    pub traits: BTreeSet<String>,
    /// Routes an example signal (`model_type:llama`) to a family id.
    pub route: Box<Router>,
}

impl Context {
    /// The intake crate's routing data.
    pub fn intake() -> Context {
        Context {
            families: routing::families().iter().map(|f| (f.id.clone(), f.runbook.clone())).collect(),
            traits: routing::traits().iter().map(|t| t.id.clone()).collect(),
            route: Box::new(route_example),
        }
    }
}

/// Route one example signal through intake; an example that is not one is
/// an [`Error::InvalidInput`](crate::Error::InvalidInput) naming it.
pub fn route_example(example: &str) -> crate::Result<Option<String>> {
    let (kind, value) =
        example.split_once(':').ok_or_else(|| crate::Error::invalid(format!("example '{example}'"), format!("'{example}' is not kind:value")))?;
    let mut input = RoutingInput::default();
    match kind {
        "model_type" => input.model_type = Some(value.into()),
        "arch" => input.architectures = vec![value.into()],
        "gguf" => input.gguf_architecture = Some(value.into()),
        "diffusers" => input.diffusers_classes = vec![value.into()],
        _ => return Err(crate::Error::invalid(format!("example '{example}'"), format!("unknown example kind '{kind}' (model_type, arch, gguf, diffusers)"))),
    }
    Ok(routing::route(&input).family)
}

struct Out(Vec<Problem>);

impl Out {
    fn push(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { at: at.into(), message: message.into() });
    }
}

fn duplicates<'a>(out: &mut Out, what: &str, ids: impl Iterator<Item = &'a str>) {
    let mut seen = BTreeMap::new();
    for id in ids {
        *seen.entry(id).or_insert(0) += 1;
    }
    for (id, n) in seen {
        if n > 1 {
            out.push(format!("{what} {id}"), format!("duplicate id ({n} entries)"));
        }
        if id.trim().is_empty() {
            out.push(what.to_string(), "empty id");
        }
    }
}

/// Check the knowledge base; an empty result means consistent.
pub fn check(kb: &Kb, ctx: &Context) -> Vec<Problem> {
    let mut out = Out(Vec::new());
    duplicates(&mut out, "runbook", kb.runbooks.iter().map(|r| r.id.as_str()));
    duplicates(&mut out, "runbook family", kb.runbooks.iter().map(|r| r.family.as_str()));
    duplicates(&mut out, "page", kb.pages.iter().map(|p| p.id.as_str()));
    duplicates(&mut out, "rung", kb.rungs.iter().map(|r| r.id.as_str()));
    duplicates(&mut out, "failure", kb.failures.iter().map(|f| f.id.as_str()));
    duplicates(&mut out, "ladder step", kb.ladder.iter().map(|l| l.id.as_str()));
    duplicates(&mut out, "source", kb.sources.iter().map(|s| s.id.as_str()));
    duplicates(&mut out, "technique", kb.techniques.iter().map(|t| t.id.as_str()));

    let family_ids: BTreeSet<&str> = ctx.families.iter().map(|(f, _)| f.as_str()).collect();
    let source_ids: BTreeSet<&str> = kb.sources.iter().map(|s| s.id.as_str()).collect();
    let mut used_sources: BTreeSet<&str> = BTreeSet::new();

    // Families <-> runbooks, both ways.
    for (family, runbook_id) in &ctx.families {
        match kb.runbook_for_family(family) {
            None => out.push(format!("family {family}"), "has no runbook in the knowledge base"),
            Some(rb) if &rb.id != runbook_id => out.push(format!("runbook {}", rb.id), format!("intake names this family's runbook '{runbook_id}'")),
            Some(_) => {}
        }
    }
    for rb in &kb.runbooks {
        let at = format!("runbooks.toml: {}", rb.id);
        if !family_ids.contains(rb.family.as_str()) {
            out.push(&at, format!("family '{}' is not an intake routing family", rb.family));
        }
        if rb.id != format!("runbook/{}", rb.family) {
            out.push(&at, format!("id must be runbook/{}", rb.family));
        }
        if !OBJECTIVES.contains(&rb.default_objective.as_str()) {
            out.push(&at, format!("unknown default_objective '{}'", rb.default_objective));
        }
        for (name, list) in [
            ("port_first", &rb.port_first),
            ("layout_traps", &rb.layout_traps),
            ("parity_boundaries", &rb.parity_boundaries),
            ("stop_conditions", &rb.stop_conditions),
            ("examples", &rb.examples),
        ] {
            if list.is_empty() {
                out.push(&at, format!("{name} is empty"));
            }
        }
        for (name, text) in [
            ("task", &rb.task),
            ("quality_metric", &rb.quality_metric),
            ("fixtures.minimal", &rb.fixtures.minimal),
            ("fixtures.ordinary", &rb.fixtures.ordinary),
            ("fixtures.boundary", &rb.fixtures.boundary),
        ] {
            if text.trim().is_empty() {
                out.push(&at, format!("{name} is empty"));
            }
        }
        for ex in &rb.examples {
            match (ctx.route)(ex) {
                // The problem names the example: keep only the rule.
                Err(crate::Error::InvalidInput { rule, .. }) => out.push(&at, format!("example {ex}: {rule}")),
                Err(e) => out.push(&at, format!("example {ex}: {e}")),
                Ok(Some(f)) if f == rb.family => {}
                Ok(other) => out.push(&at, format!("example {ex} routes to {} in intake, not {}", other.as_deref().unwrap_or("no family"), rb.family)),
            }
        }
    }

    // Pages.
    let resolves = |r: &str| -> bool {
        if let Some(id) = r.strip_prefix("rung/") {
            kb.rung(id).is_some()
        } else if let Some(id) = r.strip_prefix("technique/") {
            kb.technique(id).is_some()
        } else if r.starts_with("runbook/") {
            kb.runbook(r).is_some()
        } else {
            kb.page(r).is_some()
        }
    };
    for p in &kb.pages {
        let at = format!("methods.toml: page {}", p.id);
        if p.sections.is_empty() {
            out.push(&at, "has no sections");
        }
        if p.sources.is_empty() {
            out.push(&at, "names no evidence source");
        }
        for s in &p.sources {
            used_sources.insert(s);
            if !source_ids.contains(s.as_str()) {
                out.push(&at, format!("dangling source '{s}'"));
            }
        }
        for r in &p.see_also {
            if !resolves(r) {
                out.push(&at, format!("dangling see_also '{r}'"));
            }
        }
    }

    // Rungs and the failure atlas.
    let numbers: BTreeSet<u32> = kb.rungs.iter().map(|r| r.number).collect();
    if kb.rungs.len() != RUNGS as usize || numbers != (1..=RUNGS).collect() {
        out.push("methods.toml: rungs", format!("the parity ladder must have rungs numbered 1..={RUNGS} exactly once each"));
    }
    for f in &kb.failures {
        let at = format!("methods.toml: failure {}", f.id);
        if kb.rung(&f.rung).is_none() {
            out.push(&at, format!("dangling rung '{}'", f.rung));
        }
        if f.causes.is_empty() {
            out.push(&at, "lists no causes");
        }
    }
    for r in &kb.rungs {
        if !kb.failures.iter().any(|f| f.rung == r.id) {
            out.push(format!("methods.toml: rung {}", r.id), "no failure-atlas entry points to this rung");
        }
    }

    // Techniques.
    if kb.techniques.len() < MIN_TECHNIQUES {
        out.push("techniques", format!("{} entries; the registry needs at least {MIN_TECHNIQUES}", kb.techniques.len()));
    }
    for c in CATEGORIES {
        if !kb.techniques.iter().any(|t| t.category == c) {
            out.push("techniques", format!("no technique in category '{c}'"));
        }
    }
    for t in &kb.techniques {
        let at = format!("{}: {}", t.file, t.id);
        if !CATEGORIES.contains(&t.category.as_str()) {
            out.push(&at, format!("unknown category '{}'", t.category));
        }
        if !STATUSES.contains(&t.status.as_str()) {
            out.push(&at, format!("unknown status '{}'", t.status));
        }
        if kb.ladder.iter().all(|l| l.id != t.ladder) {
            out.push(&at, format!("dangling ladder step '{}'", t.ladder));
        }
        if t.api.trim().is_empty() || t.summary.trim().is_empty() || t.name.trim().is_empty() {
            out.push(&at, "name, api and summary must be given");
        }
        if t.families.is_empty() {
            out.push(&at, "serves no family");
        }
        for f in &t.families {
            if f != "*" && !family_ids.contains(f.as_str()) {
                out.push(&at, format!("dangling family '{f}'"));
            }
        }
        for tr in t.requires_traits.iter().chain(&t.requires_any).chain(&t.excludes_traits) {
            if !ctx.traits.contains(tr) {
                out.push(&at, format!("dangling trait '{tr}'"));
            }
        }
        for f in &t.requires_facts {
            if !crate::recommend::known_fact(f) {
                out.push(&at, format!("unknown fact '{f}'"));
            }
        }
        if t.workloads.is_empty() {
            out.push(&at, "serves no workload");
        }
        for w in &t.workloads {
            if !WORKLOADS.contains(&w.as_str()) {
                out.push(&at, format!("unknown workload '{w}'"));
            }
        }
        if t.objectives.is_empty() {
            out.push(&at, "serves no objective");
        }
        for o in t.objectives.iter().chain(&t.assured_for) {
            if !OBJECTIVES.contains(&o.as_str()) {
                out.push(&at, format!("unknown objective '{o}'"));
            }
        }
        for o in &t.assured_for {
            if !t.objectives.contains(o) {
                out.push(&at, format!("assured_for '{o}' is not one of its objectives"));
            }
        }
        if !t.executable() && !t.assured_for.is_empty() {
            out.push(&at, format!("a {} technique cannot be assured for any objective", t.status));
        }
        if t.sources.is_empty() {
            out.push(&at, "names no evidence source");
        }
        for s in &t.sources {
            used_sources.insert(s);
            if !source_ids.contains(s.as_str()) {
                out.push(&at, format!("dangling source '{s}'"));
            }
        }
    }

    // Sources: pinned, well-formed, and used.
    for s in &kb.sources {
        let at = format!("sources.toml: {}", s.id);
        if !s.url.starts_with("https://") {
            out.push(&at, "url must be https");
        }
        if s.version.as_deref().is_none_or(|v| v.trim().is_empty()) && s.commit.is_none() {
            out.push(&at, "not pinned: give a version or a commit");
        }
        if let Some(c) = &s.commit {
            if c.len() != 40 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push(&at, format!("commit '{c}' is not 40 hex digits"));
            }
        }
        if !used_sources.contains(s.id.as_str()) {
            out.push(&at, "unreachable: no technique or page cites it");
        }
    }
    out.0
}
