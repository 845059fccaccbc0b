//! `mlxport skill`, `audit`, `sources validate` and `research` through the
//! real binary: installation into a temporary home for every client,
//! `--check` catching modified, missing and extra files, the audit passing
//! on this repository and failing on seeded breakage, and the research
//! review leaving the knowledge base untouched.

use std::path::Path;
use std::process::{Command, Output};

use mlxport_testkit::{bin, text, workspace_root};
use serde_json::Value;

/// The binary with HOME set to a temporary directory.
fn bin(home: &Path) -> Command {
    let mut c = bin!();
    c.env("HOME", home).env_remove("XDG_DATA_HOME").current_dir(home);
    c
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

const CLIENTS: [(&str, &str); 6] = [
    ("claude-code", ".claude/skills"),
    ("codex", ".agents/skills"),
    ("cursor", ".cursor/skills"),
    ("gemini", ".gemini/skills"),
    ("windsurf", ".codeium/windsurf/skills"),
    ("copilot", ".copilot/skills"),
];

#[test]
fn installs_for_every_client_and_check_catches_changes() {
    let repo_skill = workspace_root().join("skill");
    for (client, dir) in CLIENTS {
        let home = tempfile::tempdir().unwrap();
        let o = run(bin(home.path()).args(["skill", "install", "--client", client, "--json"]));
        assert!(o.status.success(), "{client}: {}", text(&o));
        assert_eq!(json(&o)["action"], "installed");
        let skill = home.path().join(dir).join("mlxport");
        // The installed copy is the repository's skill, byte for byte.
        let (files, _) = mlxport_skill::install::walk(&repo_skill).unwrap();
        let (installed, _) = mlxport_skill::install::walk(&skill).unwrap();
        assert_eq!(files, installed, "{client}");
        for f in &files {
            assert!(std::fs::read(skill.join(f)).unwrap() == std::fs::read(repo_skill.join(f)).unwrap(), "{client}: {f} differs from the repository's");
        }
        // No staging leftovers beside it.
        let names: Vec<String> = std::fs::read_dir(home.path().join(dir)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["mlxport"], "{client}");
        assert!(run(bin(home.path()).args(["skill", "install", "--client", client, "--check"])).status.success());

        // Idempotent: a second install changes nothing.
        let before = std::fs::metadata(skill.join("SKILL.md")).unwrap().modified().unwrap();
        let o = run(bin(home.path()).args(["skill", "install", "--client", client, "--json"]));
        assert_eq!(json(&o)["action"], "up-to-date", "{client}");
        assert_eq!(std::fs::metadata(skill.join("SKILL.md")).unwrap().modified().unwrap(), before);

        // A modified file is named by --check.
        let page = skill.join("reference/methods/parity.md");
        let mut t = std::fs::read_to_string(&page).unwrap();
        t.push_str("\nA local edit.\n");
        std::fs::write(&page, t).unwrap();
        let o = run(bin(home.path()).args(["skill", "install", "--client", client, "--check", "--json"]));
        assert_eq!(o.status.code(), Some(1), "{client}: {}", text(&o));
        let v = json(&o);
        assert_eq!(v["modified"], serde_json::json!(["reference/methods/parity.md"]));
        assert_eq!(v["missing"], serde_json::json!([]));
        // Reinstalling repairs it.
        let o = run(bin(home.path()).args(["skill", "install", "--client", client, "--json"]));
        assert_eq!(json(&o)["action"], "updated");
        assert!(run(bin(home.path()).args(["skill", "install", "--client", client, "--check"])).status.success());
    }
}

#[test]
fn check_names_missing_and_extra_files_and_symlink_mode_works() {
    let home = tempfile::tempdir().unwrap();
    let dest = home.path().join("my-skills");
    assert!(run(bin(home.path()).args(["skill", "install", "--dest"]).arg(&dest)).status.success());
    let skill = dest.join("mlxport");
    std::fs::remove_file(skill.join("reference/rungs.md")).unwrap();
    std::fs::write(skill.join("notes.md"), "mine").unwrap();
    let o = run(bin(home.path()).args(["skill", "install", "--check", "--dest"]).arg(&dest));
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(out.contains("missing   reference/rungs.md") && out.contains("extra     notes.md"), "{out}");
    // A tampered manifest entry is caught too (the file no longer matches
    // this build's skill).
    assert!(run(bin(home.path()).args(["skill", "install", "--dest"]).arg(&dest)).status.success());
    assert!(!skill.join("notes.md").exists());
    assert!(run(bin(home.path()).args(["skill", "install", "--check", "--dest"]).arg(&dest)).status.success());

    // A directory that is not ours is never replaced.
    let foreign = home.path().join("foreign");
    std::fs::create_dir_all(foreign.join("mlxport")).unwrap();
    std::fs::write(foreign.join("mlxport/SKILL.md"), "someone else's").unwrap();
    let o = run(bin(home.path()).args(["skill", "install", "--dest"]).arg(&foreign));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not installed by mlxport"));
    assert_eq!(std::fs::read_to_string(foreign.join("mlxport/SKILL.md")).unwrap(), "someone else's");

    // Symlink mode: one store, a link per client, checkable through the link.
    for client in ["claude-code", "gemini"] {
        let o = run(bin(home.path()).args(["skill", "install", "--client", client, "--mode", "symlink", "--json"]));
        assert!(o.status.success(), "{}", text(&o));
    }
    let store = home.path().join(".local/share/mlxport/skills/mlxport");
    for dir in [".claude/skills", ".gemini/skills"] {
        let link = home.path().join(dir).join("mlxport");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_link(&link).unwrap(), store);
    }
    assert!(run(bin(home.path()).args(["skill", "install", "--client", "gemini", "--check"])).status.success());
    let o = run(bin(home.path()).args(["skill", "install", "--client", "gemini", "--mode", "symlink", "--json"]));
    assert_eq!(json(&o)["action"], "up-to-date");
    // Switching a client from symlink to copy replaces the link.
    let o = run(bin(home.path()).args(["skill", "install", "--client", "gemini", "--json"]));
    assert_eq!(json(&o)["action"], "updated");
    assert!(std::fs::symlink_metadata(home.path().join(".gemini/skills/mlxport")).unwrap().is_dir());
}

#[test]
fn audit_passes_on_the_repository_and_pages_are_current() {
    let home = tempfile::tempdir().unwrap();
    let o = run(bin(home.path()).args(["audit", "--strict", "--json", "--root"]).arg(workspace_root()));
    let v = json(&o);
    assert!(o.status.success(), "{}", serde_json::to_string_pretty(&v["findings"]).unwrap());
    assert!(v["commands"].as_u64().unwrap() > 50 && v["links"].as_u64().unwrap() > 100, "{v}");
    let o = run(bin(home.path()).args(["skill", "render", "--check", "--root"]).arg(workspace_root()));
    assert!(o.status.success(), "{}", text(&o));
}

/// Copy what the audit reads into a temporary tree.
fn seeded_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).unwrap();
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                copy(&e.path(), &to.join(e.file_name()));
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    }
    let r = workspace_root();
    copy(&r.join("skill"), &t.path().join("skill"));
    copy(&r.join("README.md"), &t.path().join("README.md"));
    copy(&r.join("docs"), &t.path().join("docs"));
    for e in std::fs::read_dir(r.join("crates")).unwrap() {
        let data = e.unwrap().path().join("data");
        if data.is_dir() {
            copy(&data, &t.path().join(data.strip_prefix(&r).unwrap()));
        }
    }
    t
}

fn edit(path: &Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(path).unwrap();
    assert!(t.contains(from), "{} lacks '{from}'", path.display());
    std::fs::write(path, t.replacen(from, to, 1)).unwrap();
}

fn audit_findings(tree: &Path) -> (Option<i32>, Vec<String>) {
    let o = run(bin(tree).args(["audit", "--strict", "--json", "--root"]).arg(tree));
    let v = json(&o);
    let f =
        v["findings"].as_array().unwrap().iter().filter(|f| f["level"] != "note").map(|f| format!("{} {}: {}", f["level"], f["at"], f["message"])).collect();
    (o.status.code(), f)
}

#[test]
fn audit_fails_on_seeded_breakage() {
    // The unbroken copy passes.
    let t = seeded_tree();
    let (code, f) = audit_findings(t.path());
    assert_eq!(code, Some(0), "{f:#?}");

    type Seed = fn(&Path);
    let seeds: [(&str, Seed, &str); 8] = [
        ("dead link", |r| edit(&r.join("skill/SKILL.md"), "(reference/rungs.md)", "(reference/rung.md)"), "dead link 'reference/rung.md'"),
        ("dead anchor", |r| edit(&r.join("skill/reference/techniques/attention.md"), "#fused-ops)", "#fused-opz)"), "no anchor '#fused-opz'"),
        ("unknown command", |r| edit(&r.join("docs/commands.md"), "`mlxport docs [TOPIC]`", "`mlxport doks [TOPIC]`"), "unknown command"),
        ("unknown flag", |r| edit(&r.join("skill/SKILL.md"), "--fail-on-blockers`", "--fail-on-blocker`"), "does not parse"),
        (
            "unknown topic",
            |r| edit(&r.join("skill/SKILL.md"), "`mlxport docs runbook/dense-decoder`", "`mlxport docs runbook/dense-decodr`"),
            "no knowledge-base topic",
        ),
        (
            "duplicate id",
            |r| {
                let p = r.join("crates/mlxport-kb/data/techniques/runtime.toml");
                let t = std::fs::read_to_string(&p).unwrap();
                let start = t.find("[[technique]]").unwrap();
                let end = start + 13 + t[start + 13..].find("[[technique]]").unwrap();
                std::fs::write(&p, format!("{t}\n{}", &t[start..end])).unwrap();
            },
            "duplicate",
        ),
        ("unpinned source", |r| edit(&r.join("crates/mlxport-kb/data/sources.toml"), "commit = \"ebb2754d5bd9828eb52ae061f29c2b4d2747ce27\"\n", ""), "commit"),
        ("front matter", |r| edit(&r.join("skill/SKILL.md"), "name: mlxport\n", "name: MLX_port\n"), "name 'MLX_port'"),
    ];
    for (what, seed, want) in seeds {
        let t = seeded_tree();
        seed(t.path());
        let (code, f) = audit_findings(t.path());
        assert_eq!(code, Some(1), "{what}: {f:#?}");
        assert!(f.iter().any(|x| x.contains(want)), "{what}: no finding with '{want}' in {f:#?}");
    }

    // A knowledge-base edit without `skill render` leaves the pages stale,
    // and rendering fixes it.
    let t = seeded_tree();
    edit(&t.path().join("crates/mlxport-kb/data/methods.toml"), "title = \"Benchmarking\"", "title = \"Benchmarking, honestly\"");
    let (code, f) = audit_findings(t.path());
    assert_eq!(code, Some(1));
    assert!(f.iter().any(|x| x.contains("reference/methods/benchmarking.md") && x.contains("out of date")), "{f:#?}");
    assert!(f.iter().any(|x| x.contains("manifest.json")), "{f:#?}");
    assert_eq!(run(bin(t.path()).args(["skill", "render", "--check", "--root"]).arg(t.path())).status.code(), Some(1));
    assert!(run(bin(t.path()).args(["skill", "render", "--root"]).arg(t.path())).status.success());
    let (code, f) = audit_findings(t.path());
    assert_eq!(code, Some(0), "{f:#?}");

    // A hand edit of a generated page breaks its manifest hash.
    let t = seeded_tree();
    edit(&t.path().join("skill/reference/sources.md"), "# Evidence sources", "# Evidence sources!");
    let (_, f) = audit_findings(t.path());
    assert!(f.iter().any(|x| x.contains("hash of reference/sources.md")), "{f:#?}");
}

#[test]
fn sources_validate_names_each_broken_rule() {
    let home = tempfile::tempdir().unwrap();
    let o = run(bin(home.path()).args(["sources", "validate", "--json"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(json(&o)["sources"].as_u64().unwrap() >= 80);
    let bad = home.path().join("sources.toml");
    std::fs::write(
        &bad,
        "schema = 1\n[[source]]\nid = \"a\"\ntitle = \"t\"\nurl = \"http://example.org/x\"\nkind = \"docs\"\ndate = \"2026-01-01\"\n\
         [[source]]\nid = \"b\"\ntitle = \"t\"\nurl = \"https://github.com/o/r/blob/main/x.py\"\nkind = \"repository\"\n",
    )
    .unwrap();
    let o = run(bin(home.path()).args(["sources", "validate", "--json", "--file"]).arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    let rules: Vec<String> =
        json(&o)["findings"].as_array().unwrap().iter().map(|f| format!("{}:{}", f["source"].as_str().unwrap(), f["rule"].as_str().unwrap())).collect();
    assert_eq!(rules, ["a:https-only", "b:commit-pinned"]);
}

#[test]
fn research_writes_a_review_and_leaves_the_knowledge_base_alone() {
    use sha2_free::digest_tree;
    let home = tempfile::tempdir().unwrap();
    let kb_dir = workspace_root().join("crates/mlxport-kb/data");
    let before = digest_tree(&kb_dir);
    let out = home.path().join("review.md");
    let o = run(bin(home.path())
        .args(["research", "--json", "--feeds"])
        .arg(workspace_root().join("crates/mlxport-evidence/tests/fixtures/feeds"))
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["schema"], "mlxport.research-review/v1");
    assert_eq!(v["candidates"][0]["status"], "new");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.starts_with("# Research review") && md.contains("mlx-lm v0.33.0"));
    assert_eq!(digest_tree(&kb_dir), before, "research changed the knowledge base");
    // Same feeds, same bytes.
    let out2 = home.path().join("review2.md");
    assert!(run(bin(home.path())
        .args(["research", "--feeds"])
        .arg(workspace_root().join("crates/mlxport-evidence/tests/fixtures/feeds"))
        .arg("-o")
        .arg(&out2))
    .status
    .success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

/// Every file's bytes and modification time under a directory.
mod sha2_free {
    use std::path::Path;

    pub fn digest_tree(dir: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
        let mut out = Vec::new();
        fn rec(d: &Path, out: &mut Vec<(String, Vec<u8>, std::time::SystemTime)>) {
            let mut v: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
            v.sort();
            for p in v {
                if p.is_dir() {
                    rec(&p, out);
                } else {
                    out.push((p.display().to_string(), std::fs::read(&p).unwrap(), std::fs::metadata(&p).unwrap().modified().unwrap()));
                }
            }
        }
        rec(dir, &mut out);
        out
    }
}
