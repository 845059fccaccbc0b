//! `docs/architecture.md` draws the crate graph; this test holds the
//! drawing to the workspace's `Cargo.toml` files: every member is a node,
//! every drawn edge is a real dependency, and every real dependency is
//! drawn except the two kinds the page says it leaves out (edges into the
//! shared bottom layer, `mlxport-util` and `mlxport-contract`, other than
//! the workflow's; and the binary's edges to the crates of its
//! single-step commands).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn toml_file(p: &Path) -> toml::Table {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Workspace members (crate names) and their `mlxport*` [dependencies].
fn workspace() -> BTreeMap<String, BTreeSet<String>> {
    let ws = toml_file(&root().join("Cargo.toml"));
    let members = ws["workspace"]["members"].as_array().expect("members");
    let mut out = BTreeMap::new();
    for m in members {
        let dir = root().join(m.as_str().unwrap());
        let t = toml_file(&dir.join("Cargo.toml"));
        let name = t["package"]["name"].as_str().unwrap().to_string();
        let deps =
            t.get("dependencies").and_then(|d| d.as_table()).map(|d| d.keys().filter(|k| k.starts_with("mlxport")).cloned().collect()).unwrap_or_default();
        out.insert(name, deps);
    }
    out
}

/// The Mermaid block's nodes (id -> crate name) and edges (crate names).
fn drawing() -> (BTreeMap<String, String>, BTreeSet<(String, String)>) {
    let text = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let start = text.find("```mermaid").expect("a mermaid block");
    let block = &text[start..start + text[start..].find("\n```\n").expect("its end")];
    let mut nodes = BTreeMap::new();
    let mut edges_by_id = Vec::new();
    for line in block.lines().map(str::trim) {
        if let Some((a, b)) = line.split_once("-->") {
            edges_by_id.push((a.trim().to_string(), b.trim().to_string()));
        } else if let (Some(i), Some(j)) = (line.find('['), line.rfind(']')) {
            let label = &line[i + 1..j];
            let name = label.split("<br/>").next().unwrap().trim().to_string();
            nodes.insert(line[..i].trim().to_string(), name);
        }
    }
    let edges = edges_by_id
        .into_iter()
        .map(|(a, b)| {
            let name = |id: &str| nodes.get(id).cloned().unwrap_or_else(|| panic!("edge names an undeclared node '{id}'"));
            (name(&a), name(&b))
        })
        .collect();
    (nodes, edges)
}

#[test]
fn the_crate_diagram_matches_cargo_toml() {
    let ws = workspace();
    let (nodes, drawn) = drawing();
    let names: BTreeSet<String> = nodes.values().cloned().collect();
    let members: BTreeSet<String> = ws.keys().cloned().collect();
    assert_eq!(names, members, "the diagram's nodes are the workspace members");
    for (a, b) in &drawn {
        assert!(ws[a].contains(b), "the diagram draws {a} --> {b}, but {a}'s Cargo.toml has no such dependency");
    }
    let shared = ["mlxport-util", "mlxport-contract"];
    for (a, deps) in &ws {
        for b in deps {
            let left_out = (shared.contains(&b.as_str()) && a != "mlxport-workflow") || a == "mlxport";
            if !left_out {
                assert!(drawn.contains(&(a.clone(), b.clone())), "{a} depends on {b}: the diagram must draw {a} --> {b}");
            }
        }
    }
    // The binary's drawn edges are real, and it reaches the workflow.
    assert!(drawn.contains(&("mlxport".into(), "mlxport-workflow".into())));
    // No library depends on the binary, and the workflow has no clap.
    let wf = toml_file(&root().join("crates/mlxport-workflow/Cargo.toml"));
    assert!(!wf["dependencies"].as_table().unwrap().contains_key("clap"), "the workflow crate takes no clap dependency");
}
