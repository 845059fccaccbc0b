//! Provenance through the real binary: `--repo`/`--revision` are checked
//! and recorded in port.json with the source files and library versions;
//! the report and the card show them; the package keeps the source's own
//! card; the card's usage example runs; the card's reproducing command,
//! pasted into a shell in a fresh directory, makes the same port; a changed
//! revision redoes only the report and the package.

use std::path::{Path, PathBuf};
use std::process::Command;

use mlxport_testkit::{bin, describe, file_sha256, python, read_json, Py};
use serde_json::Value;

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const COMMIT: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

fn port(cwd: &Path, py: &Path) -> Command {
    let mut c = bin!();
    c.arg("port").current_dir(cwd).env("MLXPORT_CACHE", cwd.join("cache")).env("MLXPORT_PYTHON", py);
    c
}

fn step<'a>(port: &'a Value, name: &str) -> &'a Value {
    port["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name}"))
}

/// The first fenced block of `lang` after the line starting with `after`.
fn block(text: &str, after: &str, lang: &str) -> String {
    let start = text.find(after).unwrap_or_else(|| panic!("no '{after}' in:\n{text}"));
    let rest = &text[start..];
    let open = format!("```{lang}\n");
    let b = rest.find(&open).unwrap_or_else(|| panic!("no ```{lang} block after '{after}'")) + open.len();
    let e = rest[b..].find("\n```").unwrap() + b;
    rest[b..e].to_string()
}

#[test]
fn bad_pins_are_refused_before_any_step() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let py = python().unwrap_or_else(|| PathBuf::from("python3"));
    for (args, needle) in [
        (vec!["--repo", "not-a-repo"], "--repo 'not-a-repo': not of the form owner/name"),
        (vec!["--repo", "a/-b"], "--repo 'a/-b'"),
        (vec!["--revision", "has space"], "--revision 'has space': whitespace is not allowed"),
        (vec!["--revision", "../main"], "--revision '../main'"),
    ] {
        let o = port(cwd, &py).args(&args).args(["--out", "x"]).output().unwrap();
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{args:?}: {}", describe(&o));
        assert!(!cwd.join("x/port.json").exists(), "no step ran");
    }
    // A model in a hub cache layout: the path names repository and commit;
    // a flag that says otherwise is refused with both named.
    let snap = cwd.join(format!("hub/models--acme--tiny/snapshots/{COMMIT}"));
    std::fs::create_dir_all(&snap).unwrap();
    let o = port(cwd, &py).arg(&snap).args(["--repo", "other/tiny", "--out", "y"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--repo other/tiny") && err.contains("acme/tiny"), "{}", describe(&o));
    let o = port(cwd, &py).arg(&snap).args(["--revision", "v1.0", "--out", "y"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--revision v1.0") && err.contains(COMMIT), "{}", describe(&o));
}

#[test]
fn pinned_minilm_port_records_provenance_runs_its_usage_and_reproduces_from_the_card() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    let o = port(&a, &py).args(["--out", "port", "--repo", REPO, "--revision", COMMIT, "-q", "--bits", "8"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let dir = a.join("port");
    let rec = read_json(&dir.join("port.json"));

    // port.json: the pins, where they came from, the source files as the
    // inspection hashed them, the libraries of both sides, the flags.
    let pv = &rec["provenance"];
    assert_eq!((pv["repo"].as_str(), pv["revision"].as_str()), (Some(REPO), Some(COMMIT)));
    assert_eq!((pv["repo_origin"].as_str(), pv["revision_origin"].as_str()), (Some("flag"), Some("flag")));
    assert_eq!(pv["mlxport"], env!("CARGO_PKG_VERSION"));
    let insp = read_json(&dir.join("inspection.json"));
    let inspected: Vec<(Value, Value, Value)> = insp["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["sha256"].is_string())
        .map(|f| (f["path"].clone(), f["sha256"].clone(), f["size"].clone()))
        .collect();
    let recorded: Vec<(Value, Value, Value)> =
        pv["files"].as_array().unwrap().iter().map(|f| (f["path"].clone(), f["sha256"].clone(), f["bytes"].clone())).collect();
    assert!(!recorded.is_empty());
    assert_eq!(recorded, inspected);
    let oracle = read_json(&dir.join("oracle/manifest.json"));
    assert_eq!(pv["libraries"]["oracle"]["torch"], oracle["libraries"]["torch"]);
    assert!(pv["libraries"]["capture"]["mlx"].is_string(), "{pv:#}");
    assert!(pv["libraries"]["oracle"].get("platform").is_none());
    let flags: Vec<&str> = rec["request"]["flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(flags, ["--repo", REPO, "--revision", COMMIT, "-q", "--bits", "8"]);

    // The package keeps the source card unchanged; the card and the
    // report show the pins, the files, the versions and the card's terms.
    let pkg = dir.join("package");
    let readme_sha = recorded.iter().find(|(p, _, _)| p == "README.md").map(|(_, h, _)| h.as_str().unwrap().to_string()).unwrap();
    assert_eq!(file_sha256(&pkg.join("SOURCE_README.md")), readme_sha, "SOURCE_README.md is the source's README.md");
    let card = std::fs::read_to_string(pkg.join("README.md")).unwrap();
    let report = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    let pinned = format!("{REPO}@{COMMIT}");
    for (what, text) in [("card", &card), ("report", &report)] {
        assert!(text.contains(&pinned), "{what} lacks {pinned}");
        assert!(
            text.contains(&format!(
                "| model.safetensors | {} | `{}` |",
                recorded.iter().find(|f| f.0 == "model.safetensors").unwrap().2,
                insp["files"].as_array().unwrap().iter().find(|f| f["path"] == "model.safetensors").unwrap()["sha256"].as_str().unwrap()
            )),
            "{what}: source file table"
        );
        assert!(text.contains(&format!("torch (oracle): {}", oracle["libraries"]["torch"].as_str().unwrap())), "{what}: versions");
        // The parity line counts real tensor pairs.
        let line = text.lines().find(|l| l.contains("tensor pairs within tolerance")).unwrap_or_else(|| panic!("{what}: no parity line"));
        let n: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(n.len() >= 2 && n[0] > 0 && n[0] == n[1], "{what}: {line}");
    }
    assert!(card.contains(&format!("base_model: {REPO}")) || card.contains(&format!("base_model: \"{REPO}\"")), "front matter");
    assert!(card.contains("## Source model card") && card.contains("- license: apache-2.0") && card.contains("#### Intended uses\n"), "{card}");
    assert!(card.contains("Our model is intended to be used as a sentence and short paragraph encoder."), "intended use kept verbatim");
    assert!(report.contains("license in its front matter: apache-2.0") && report.contains("### Intended uses"), "{report}");

    // The usage example runs in the package folder and ranks a paraphrase
    // above an unrelated sentence.
    let code = block(&card, "## Usage", "python");
    let out = Py::code(&py, &code).current_dir(&pkg).stdout();
    let score = |k: &str| -> f64 {
        out.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no '{k}' in {out}"))
    };
    let (similar, unrelated) = (score("similar:"), score("unrelated:"));
    assert!(similar > 0.5 && similar > unrelated + 0.2 && similar <= 1.0, "similar {similar}, unrelated {unrelated}");

    // The card's command, pasted into a shell in a fresh directory with
    // this mlxport first on PATH, makes the same port.
    let cmds = block(&card, "Reproduce the whole port", "sh");
    assert_eq!(cmds, block(&report, "The whole port, in a fresh directory", "sh"), "card and report agree");
    assert!(cmds.starts_with("mlxport port ") && cmds.contains("--bits 8") && cmds.contains(&format!("--revision {COMMIT}")), "{cmds}");
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mlxport")).parent().unwrap();
    let path =
        std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))).unwrap();
    let o = Command::new("sh")
        .args(["-ec", &cmds])
        .current_dir(&b)
        .env("PATH", path)
        .env("MLXPORT_PYTHON", &py)
        .env("MLXPORT_CACHE", b.join("cache"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let again = read_json(&b.join("port/port.json"));
    let outcome = |r: &Value| -> Vec<(String, String)> {
        r["steps"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())).collect()
    };
    assert_eq!(outcome(&again), outcome(&rec));
    for s in ["convert", "quantize"] {
        assert!(!step(&rec, s)["artifacts"].as_array().unwrap().is_empty());
        assert_eq!(step(&again, s)["artifacts"], step(&rec, s)["artifacts"], "{s}: the same weights, byte for byte");
    }
    assert_eq!(again["provenance"]["files"], rec["provenance"]["files"]);
    assert_eq!(again["request"], rec["request"]);

    // Another revision: only the report and the package are redone.
    let o = port(&a, &py).args(["--out", "port", "--repo", REPO, "--revision", "v2.0", "-q", "--bits", "8"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let re = read_json(&dir.join("port.json"));
    assert_eq!(re["provenance"]["revision"], "v2.0");
    for s in rec["steps"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let same = step(&re, name)["finished_at"] == s["finished_at"];
        assert_eq!(same, !matches!(name, "report" | "package"), "{name}");
    }
    assert!(std::fs::read_to_string(dir.join("package/README.md")).unwrap().contains(&format!("{REPO}@v2.0")));
}
