//! Terminal pages: `mlxport docs [TOPIC]` and `mlxport explain TECHNIQUE`.

use crate::data::{Kb, Technique};

/// A documentation topic: its id and one-line title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub id: String,
    pub title: String,
}

/// Every topic `docs` can print, in listing order.
pub fn topics(kb: &Kb) -> Vec<Topic> {
    let mut out: Vec<Topic> = kb.pages.iter().map(|p| Topic { id: p.id.clone(), title: p.title.clone() }).collect();
    for (id, title) in [
        ("rungs", "The parity ladder's eight rungs"),
        ("ladder", "The optimization ladder, with the techniques on each step"),
        ("techniques", "The techniques registry by category (details: mlxport explain ID)"),
        ("sources", "Every evidence source, pinned"),
    ] {
        out.push(Topic { id: id.into(), title: title.into() });
    }
    for r in &kb.runbooks {
        out.push(Topic { id: r.id.clone(), title: format!("Runbook: {}", r.task) });
    }
    out
}

/// The topic list.
pub fn topic_list(kb: &Kb) -> String {
    let mut s = String::from("Topics (mlxport docs TOPIC):\n\n");
    let t = topics(kb);
    let w = t.iter().map(|t| t.id.len()).max().unwrap_or(0);
    for x in &t {
        s.push_str(&format!("  {:<w$}  {}\n", x.id, x.title));
    }
    s.push_str(&format!("\n{} techniques: mlxport explain ID (list: mlxport docs techniques)\n", kb.techniques.len()));
    s
}

fn bullets(s: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    s.push_str(&format!("\n{title}\n"));
    for x in items {
        s.push_str(&format!("  - {x}\n"));
    }
}

/// A topic's page; `None` when the topic is unknown. A bare family id is
/// accepted for its runbook.
pub fn page(kb: &Kb, topic: &str) -> Option<String> {
    let topic = topic.trim();
    let mut s = String::new();
    if let Some(p) = kb.page(topic) {
        s.push_str(&format!("{}\n{}\n\n{}\n", p.title, "=".repeat(p.title.chars().count()), p.summary));
        for sec in &p.sections {
            s.push_str(&format!("\n{}\n{}\n{}\n", sec.heading, "-".repeat(sec.heading.chars().count()), sec.body.trim()));
        }
        if topic == "parity" {
            s.push_str(&rungs(kb));
        }
        if topic == "failure-atlas" {
            s.push('\n');
            for f in &kb.failures {
                let rung = kb.rung(&f.rung).map(|r| format!("rung {} ({})", r.number, r.name)).unwrap_or_else(|| f.rung.clone());
                s.push_str(&format!("\n* {}\n  localized by: {rung}\n", f.symptom));
                for c in &f.causes {
                    s.push_str(&format!("  - {c}\n"));
                }
            }
        }
        let srcs: Vec<String> = p.sources.iter().filter_map(|id| kb.source(id)).map(|x| format!("{} — {} ({})", x.title, x.url, x.pin())).collect();
        bullets(&mut s, "Sources", &srcs);
        bullets(&mut s, "See also", &p.see_also);
        return Some(s);
    }
    match topic {
        "rungs" => return Some(rungs(kb)),
        "ladder" => {
            s.push_str("The optimization ladder (apply in this order; measure each step)\n");
            for (n, l) in kb.ladder.iter().enumerate() {
                let ids: Vec<&str> = kb.techniques.iter().filter(|t| t.ladder == l.id).map(|t| t.id.as_str()).collect();
                s.push_str(&format!("\n{:>2}. {} ({})\n    {}\n", n + 1, l.name, l.id, ids.join(", ")));
            }
            return Some(s);
        }
        "techniques" => {
            s.push_str(&format!("Techniques registry ({} entries)\n", kb.techniques.len()));
            for (cat, ts) in kb.techniques_by_category() {
                s.push_str(&format!("\n{cat}\n"));
                for t in ts {
                    s.push_str(&format!("  {:<34} {:<21} {}\n", t.id, t.status, t.name));
                }
            }
            return Some(s);
        }
        "sources" => {
            s.push_str("Evidence sources\n\n");
            for x in &kb.sources {
                s.push_str(&format!("  {:<30} {} ({})\n  {:<30} {}\n", x.id, x.title, x.pin(), "", x.url));
            }
            return Some(s);
        }
        _ => {}
    }
    let rb = kb.runbook(topic).or_else(|| kb.runbook_for_family(topic))?;
    let fam = mlxport_intake::routing::families().iter().find(|f| f.id == rb.family);
    let title = format!("{} — {}", rb.id, fam.map(|f| f.name.as_str()).unwrap_or(&rb.family));
    s.push_str(&format!("{title}\n{}\n", "=".repeat(title.chars().count())));
    if let Some(f) = fam {
        s.push_str(&format!("\n{}\n", f.description));
        s.push_str(&format!("\ntask: {}\ndomain: {}\n", rb.task, rb.domain));
        s.push_str(&format!("traits: {}\n", f.traits.join(", ")));
        s.push_str(&format!("state and cache: {}\n", f.state));
        s.push_str(&format!("closest proven MLX reference: {}\n", if f.closest.is_empty() { "none" } else { &f.closest }));
    }
    s.push_str(&format!("routing signals: {}\n", rb.signals));
    s.push_str(&format!("default objective: {}\n", rb.default_objective));
    bullets(&mut s, "Port first", &rb.port_first);
    bullets(&mut s, "Layout traps", &rb.layout_traps);
    bullets(&mut s, "Parity boundaries", &rb.parity_boundaries);
    bullets(&mut s, "Weight-map transforms", &rb.transforms);
    s.push_str(&format!("\nFixtures\n  - minimal: {}\n  - ordinary: {}\n  - boundary: {}\n", rb.fixtures.minimal, rb.fixtures.ordinary, rb.fixtures.boundary));
    s.push_str(&format!("\nQuality metric\n  {}\n", rb.quality_metric));
    bullets(&mut s, "Stop conditions", &rb.stop_conditions);
    Some(s)
}

fn rungs(kb: &Kb) -> String {
    let mut s = String::from("\nThe eight rungs\n");
    for r in &kb.rungs {
        s.push_str(&format!("  {}. {} ({}): {}\n", r.number, r.name, r.id, r.checks));
    }
    s
}

/// The `explain` page of a technique.
pub fn explain(kb: &Kb, t: &Technique) -> String {
    let mut s = format!("{} — {}\n{}\n\n{}\n\n", t.id, t.name, "=".repeat(t.id.chars().count() + t.name.chars().count() + 3), t.summary);
    let ladder = kb.ladder.iter().position(|l| l.id == t.ladder).map(|n| format!("step {} ({})", n + 1, kb.ladder[n].name)).unwrap_or_else(|| t.ladder.clone());
    s.push_str(&format!("category:    {}\nstatus:      {}{}\n", t.category, t.status, if t.executable() { "" } else { " (never executed automatically)" }));
    s.push_str(&format!("ladder:      {ladder}\napi:         {}\n", t.api));
    s.push_str(&format!("families:    {}\n", if t.families.iter().any(|f| f == "*") { "all".to_string() } else { t.families.join(", ") }));
    if !t.requires_traits.is_empty() {
        s.push_str(&format!("requires:    {}\n", t.requires_traits.join(", ")));
    }
    if !t.requires_any.is_empty() {
        s.push_str(&format!("any of:      {}\n", t.requires_any.join(", ")));
    }
    s.push_str(&format!("workloads:   {}\nobjectives:  {}\n", t.workloads.join(", "), t.objectives.join(", ")));
    if !t.assured_for.is_empty() {
        s.push_str(&format!("assured for: {} (direction follows from the sources)\n", t.assured_for.join(", ")));
    }
    bullets(&mut s, "Prerequisites", &t.prerequisites);
    bullets(&mut s, "Risks", &t.risks);
    let srcs: Vec<String> = t.sources.iter().filter_map(|id| kb.source(id)).map(|x| format!("{} — {} ({})", x.title, x.url, x.pin())).collect();
    bullets(&mut s, "Evidence", &srcs);
    s
}

/// Ids close to `query` (shared prefix or substring), for "did you mean".
pub fn suggestions<'a>(query: &str, ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let q = query.to_ascii_lowercase();
    let head: String = q.chars().take(4).collect();
    ids.filter(|id| {
        let l = id.to_ascii_lowercase();
        (!q.is_empty() && l.contains(&q)) || (!head.is_empty() && l.starts_with(&head))
    })
    .take(8)
    .collect()
}
