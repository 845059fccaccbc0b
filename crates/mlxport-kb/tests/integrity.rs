//! The knowledge base is reachable and consistent, and the checker catches
//! each kind of broken data it exists for.

use mlxport_kb::check::{check, Context, Problem};
use mlxport_kb::{kb, Kb, KbText};
use mlxport_testkit::{python, Py};

fn problems_of(text: &KbText) -> Vec<Problem> {
    let kb = Kb::parse(text).expect("seeded data still parses");
    check(&kb, &Context::intake())
}

fn assert_problem(problems: &[Problem], at: &str, needle: &str) {
    assert!(
        problems.iter().any(|p| p.at.contains(at) && p.message.contains(needle)),
        "expected a problem at '{at}' containing '{needle}', got:\n{}",
        problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn embedded_knowledge_base_is_consistent() {
    let problems = check(kb(), &Context::intake());
    assert!(problems.is_empty(), "knowledge base problems:\n{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"));
}

#[test]
fn sizes_are_what_the_issue_asks() {
    let kb = kb();
    assert_eq!(kb.runbooks.len(), 17);
    assert!(kb.techniques.len() >= 60, "{} techniques", kb.techniques.len());
    assert_eq!(kb.rungs.len(), 8);
    for page in
        ["porting-core", "parity", "failure-atlas", "quantization", "attention-kv-cache", "compile-kernels", "decoding-serving", "benchmarking", "packaging"]
    {
        assert!(kb.page(page).is_some(), "method page {page} missing");
    }
    for status in mlxport_kb::data::STATUSES {
        assert!(kb.techniques.iter().any(|t| t.status == status), "no technique with status {status}");
    }
    // The ladder follows the issue's order.
    let order = [
        "syncs",
        "dtype-layout",
        "fused-ops",
        "allocations",
        "compile",
        "chunking",
        "kv-batching",
        "weight-quantization",
        "kv-quantization",
        "speculative",
        "custom-kernels",
    ];
    let idx: Vec<usize> = order.iter().map(|id| kb.ladder_index(id)).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "ladder out of order: {idx:?}");
}

#[test]
fn every_intake_family_has_a_runbook_and_back() {
    let kb = kb();
    for f in mlxport_intake::routing::families() {
        let rb = kb.runbook_for_family(&f.id).unwrap_or_else(|| panic!("family {} has no runbook", f.id));
        assert_eq!(rb.id, f.runbook);
        assert!(mlxport_kb::render::page(kb, &f.runbook).is_some());
    }
    for rb in &kb.runbooks {
        assert!(mlxport_intake::routing::families().iter().any(|f| f.id == rb.family), "runbook {} has no family", rb.id);
    }
}

#[test]
fn every_topic_and_technique_renders() {
    let kb = kb();
    for t in mlxport_kb::render::topics(kb) {
        let page = mlxport_kb::render::page(kb, &t.id).unwrap_or_else(|| panic!("topic {} does not render", t.id));
        assert!(page.len() > 80, "topic {} is nearly empty", t.id);
    }
    for t in &kb.techniques {
        let page = mlxport_kb::render::explain(kb, t);
        assert!(page.contains(&t.api) && page.contains("Evidence"), "{}", t.id);
    }
}

// --- the checker on seeded broken data -------------------------------------

fn text() -> KbText {
    KbText::default()
}

fn replace_in_techniques(t: &mut KbText, from: &str, to: &str) {
    let mut done = false;
    for (_, body) in &mut t.techniques {
        if !done && body.contains(from) {
            *body = body.replacen(from, to, 1);
            done = true;
        }
    }
    assert!(done, "seed text '{from}' not found");
}

#[test]
fn checker_catches_duplicate_technique_id() {
    let mut t = text();
    replace_in_techniques(&mut t, "id = \"async-eval-pipelining\"", "id = \"avoid-host-syncs\"");
    assert_problem(&problems_of(&t), "technique avoid-host-syncs", "duplicate id");
}

#[test]
fn checker_catches_technique_without_source() {
    let mut t = text();
    replace_in_techniques(&mut t, "sources = [\"mlx-lazy-eval\", \"mlx-lm-generate\"]", "sources = []");
    assert_problem(&problems_of(&t), "avoid-host-syncs", "names no evidence source");
}

#[test]
fn checker_catches_dangling_source_reference() {
    let mut t = text();
    replace_in_techniques(&mut t, "sources = [\"mlx-lazy-eval\", \"mlx-lm-generate\"]", "sources = [\"mlx-lazy-eval\", \"no-such-source\"]");
    assert_problem(&problems_of(&t), "avoid-host-syncs", "dangling source 'no-such-source'");
}

#[test]
fn checker_catches_family_without_runbook() {
    let mut t = text();
    let start = t.runbooks.find("[[runbook]]\nid = \"runbook/graph\"").unwrap();
    t.runbooks.truncate(start);
    assert_problem(&problems_of(&t), "family graph", "has no runbook");
}

#[test]
fn checker_catches_runbook_without_family_and_bad_id() {
    let mut t = text();
    t.runbooks = t.runbooks.replacen("family = \"graph\"", "family = \"graphs-and-more\"", 1);
    let p = problems_of(&t);
    assert_problem(&p, "runbook/graph", "is not an intake routing family");
    assert_problem(&p, "family graph", "has no runbook");
}

#[test]
fn checker_catches_example_that_routes_elsewhere() {
    let mut t = text();
    t.runbooks = t.runbooks.replacen("examples = [\"model_type:bert\"", "examples = [\"model_type:llama\"", 1);
    assert_problem(&problems_of(&t), "runbook/encoder", "routes to dense-decoder");
}

#[test]
fn checker_catches_duplicate_runbook() {
    let mut t = text();
    let start = t.runbooks.find("[[runbook]]\nid = \"runbook/graph\"").unwrap();
    let copy = t.runbooks[start..].to_string();
    t.runbooks.push('\n');
    t.runbooks.push_str(&copy);
    assert_problem(&problems_of(&t), "runbook runbook/graph", "duplicate id");
}

#[test]
fn checker_catches_unpinned_unused_and_malformed_sources() {
    let mut t = text();
    t.sources.push_str("\n[[source]]\nid = \"orphan\"\ntitle = \"x\"\nurl = \"http://example.org\"\ncommit = \"abc\"\n");
    t.sources = t.sources.replacen("version = \"mlx 0.32.4\"\napi = \"mlx.core.fast.rope\"", "api = \"mlx.core.fast.rope\"", 1);
    let p = problems_of(&t);
    assert_problem(&p, "sources.toml: orphan", "unreachable");
    assert_problem(&p, "sources.toml: orphan", "not 40 hex digits");
    assert_problem(&p, "sources.toml: orphan", "https");
    assert_problem(&p, "sources.toml: mlx-fast-rope", "not pinned");
}

#[test]
fn checker_catches_dangling_family_trait_ladder_and_vocabulary() {
    let mut t = text();
    replace_in_techniques(&mut t, "ladder = \"syncs\"", "ladder = \"nowhere\"");
    replace_in_techniques(&mut t, "families = [\"vision\", \"diffusion\"", "families = [\"visionn\", \"diffusion\"");
    replace_in_techniques(&mut t, "requires_traits = [\"kv_cache\"]", "requires_traits = [\"kv_cash\"]");
    replace_in_techniques(&mut t, "status = \"native-mlx\"", "status = \"folklore\"");
    let p = problems_of(&t);
    assert_problem(&p, "avoid-host-syncs", "dangling ladder step 'nowhere'");
    assert_problem(&p, "channels-last-activations", "dangling family 'visionn'");
    assert_problem(&p, "", "dangling trait 'kv_cash'");
    assert_problem(&p, "avoid-host-syncs", "unknown status 'folklore'");
}

#[test]
fn checker_catches_dangling_page_links_and_atlas_rungs() {
    let mut t = text();
    t.methods = t.methods.replacen(
        "see_also = [\"parity\", \"failure-atlas\", \"runbook/dense-decoder\"]",
        "see_also = [\"parity\", \"technique/warp-drive\", \"runbook/nothing\"]",
        1,
    );
    t.methods = t.methods.replacen("rung = \"embeddings\"", "rung = \"basement\"", 1);
    let p = problems_of(&t);
    assert_problem(&p, "page porting-core", "dangling see_also 'technique/warp-drive'");
    assert_problem(&p, "page porting-core", "dangling see_also 'runbook/nothing'");
    assert_problem(&p, "failure first-layer-diverges", "dangling rung 'basement'");
}

#[test]
fn checker_catches_experimental_claiming_assurance_and_registry_too_small() {
    let mut t = text();
    replace_in_techniques(&mut t, "id = \"tiled-attention-kernel\"", "id = \"tiled-attention-kernel\"\nassured_for = [\"ttft\"]");
    // Keep only the first techniques file: far fewer than 60 entries.
    let mut small = text();
    small.techniques.truncate(1);
    assert_problem(&problems_of(&t), "tiled-attention-kernel", "cannot be assured");
    assert_problem(&problems_of(&small), "techniques", "needs at least 60");
}

#[test]
fn unknown_fields_are_refused_at_parse_time() {
    let mut t = text();
    replace_in_techniques(&mut t, "id = \"avoid-host-syncs\"", "id = \"avoid-host-syncs\"\nspeedup = \"3x\"");
    let err = Kb::parse(&t).unwrap_err();
    assert!(err.to_string().contains("speedup"), "{err}");
}

// --- sources against the installed reference packages ----------------------

#[test]
fn pinned_mlx_sources_exist_in_the_installed_packages() {
    let Some(py) = python() else { return };
    let kb = kb();
    let apis: Vec<&str> = kb.sources.iter().filter_map(|s| s.api.as_deref()).collect();
    let modules: Vec<&str> = kb.sources.iter().filter_map(|s| s.module.as_deref()).collect();
    let script = format!(
        r#"
import importlib, importlib.util, importlib.metadata as md, json, os, sys
apis = {apis:?}
modules = {modules:?}
out = {{"missing_api": [], "missing_module": [], "versions": {{}}}}
for a in apis:
    parts = a.split(".")
    obj = None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            obj = None
        break
    if obj is None:
        out["missing_api"].append(a)
for m in modules:
    top = m.split("/")[0]
    spec = importlib.util.find_spec(top)
    base = os.path.dirname(spec.submodule_search_locations[0]) if spec else ""
    if not os.path.exists(os.path.join(base, m)):
        out["missing_module"].append(m)
for d in ["mlx", "mlx-lm"]:
    out["versions"][d] = md.version(d)
print(json.dumps(out))
"#
    );
    let v: serde_json::Value = serde_json::from_str(&Py::code(&py, &script).stdout()).unwrap();
    assert_eq!(v["missing_api"], serde_json::json!([]), "APIs named by sources but absent from the installed packages");
    assert_eq!(v["missing_module"], serde_json::json!([]), "module paths named by sources but absent");
    // The pinned versions are the installed ones.
    let mlx = v["versions"]["mlx"].as_str().unwrap();
    let mlx_lm = v["versions"]["mlx-lm"].as_str().unwrap();
    for s in &kb.sources {
        match s.version.as_deref() {
            Some(x) if x.starts_with("mlx-lm ") => assert_eq!(x, format!("mlx-lm {mlx_lm}"), "{}", s.id),
            Some(x) if x.starts_with("mlx ") => assert_eq!(x, format!("mlx {mlx}"), "{}", s.id),
            _ => {}
        }
        if s.url.contains("/mlx-lm/blob/v") || s.url.contains("/mlx-lm/tree/v") {
            assert!(s.url.contains(&format!("/v{mlx_lm}/")), "{} is pinned to another mlx-lm tag", s.id);
        }
    }
}
