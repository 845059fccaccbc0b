//! Provenance pins of a port: the Hugging Face repository and revision the
//! source came from (`--repo`, `--revision`, or read from a hub cache path
//! `.../models--ORG--NAME/snapshots/COMMIT/...`), and the record of them in
//! port.json with the source files' digests (from the inspection) and the
//! tool and library versions (from the oracle and capture manifests).

use std::collections::BTreeMap;
use std::path::{Component, Path};

use mlxport_contract::{Artifact, PinOrigin, Provenance};
use serde_json::Value;

use crate::error::{Error, Result};

/// The repository and revision a port is pinned to, and where each came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    pub repo: Option<String>,
    pub revision: Option<String>,
    pub repo_origin: Option<PinOrigin>,
    pub revision_origin: Option<PinOrigin>,
}

/// Check a Hugging Face repository id (`owner/name`): two parts of ASCII
/// letters, digits, `-`, `_` and `.`, neither starting nor ending with `-`
/// or `.`, without `--` or `..`, at most 96 characters each.
pub fn check_repo(repo: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("--repo '{repo}': {why} (expected a Hugging Face repository id, owner/name)")));
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2 {
        return bad("not of the form owner/name");
    }
    for p in parts {
        if p.is_empty() {
            return bad("an empty owner or name");
        }
        if p.len() > 96 {
            return bad("an owner or name longer than 96 characters");
        }
        if let Some(c) = p.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
            return bad(&format!("'{c}' is not allowed (letters, digits, '-', '_' and '.' only)"));
        }
        if p.starts_with(['-', '.']) || p.ends_with(['-', '.']) {
            return bad("an owner or name starts or ends with '-' or '.'");
        }
        if p.contains("--") || p.contains("..") {
            return bad("'--' and '..' are not allowed");
        }
    }
    Ok(())
}

/// Check a revision (a commit hash, tag or branch): not empty, no
/// whitespace or control characters, no `..`, no leading `/`.
pub fn check_revision(rev: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("--revision '{rev}': {why} (expected a commit hash or tag)")));
    if rev.is_empty() {
        return bad("empty");
    }
    if rev.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("whitespace is not allowed");
    }
    if rev.contains("..") {
        return bad("'..' is not allowed");
    }
    if rev.starts_with('/') {
        return bad("it starts with '/'");
    }
    if rev.len() > 255 {
        return bad("longer than 255 characters");
    }
    Ok(())
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The repository and commit a path inside a Hugging Face hub cache names:
/// `.../models--ORG--NAME/snapshots/COMMIT[/...]`.
pub fn from_hub_cache(path: &Path) -> Option<(String, String)> {
    let parts: Vec<String> =
        path.components().filter_map(|c| if let Component::Normal(n) = c { Some(n.to_string_lossy().into_owned()) } else { None }).collect();
    parts.windows(3).rev().find_map(|w| {
        let (owner, name) = w[0].strip_prefix("models--")?.split_once("--")?;
        let repo = format!("{owner}/{name}");
        (w[1] == "snapshots" && is_commit(&w[2]) && check_repo(&repo).is_ok()).then(|| (repo, w[2].to_ascii_lowercase()))
    })
}

/// The pins of a port of `model`: each flag, checked, else what the hub
/// cache layout of the model's path says; a flag that contradicts the
/// layout is an error naming both.
pub fn resolve(repo: Option<&str>, revision: Option<&str>, model: Option<&Path>) -> Result<Pins> {
    if let Some(r) = repo {
        check_repo(r)?;
    }
    if let Some(r) = revision {
        check_revision(r)?;
    }
    let layout = model.and_then(|m| from_hub_cache(m).or_else(|| std::path::absolute(m).ok().and_then(|a| from_hub_cache(&a))));
    let mut p = Pins::default();
    match (repo, &layout) {
        (Some(f), Some((l, _))) if f != l => {
            return Err(Error::invalid(format!(
                "--repo {f} contradicts the model's hub cache path, which names repository {l}: give the matching --repo or none"
            )))
        }
        (Some(f), _) => (p.repo, p.repo_origin) = (Some(f.to_string()), Some(PinOrigin::Flag)),
        (None, Some((l, _))) => (p.repo, p.repo_origin) = (Some(l.clone()), Some(PinOrigin::HubCacheLayout)),
        (None, None) => {}
    }
    match (revision, &layout) {
        (Some(f), Some((_, l))) if !f.eq_ignore_ascii_case(l) => {
            return Err(Error::invalid(format!(
                "--revision {f} contradicts the model's hub cache path, which is the snapshot of commit {l}: give the matching --revision or none"
            )))
        }
        (Some(f), _) => (p.revision, p.revision_origin) = (Some(f.to_string()), Some(PinOrigin::Flag)),
        (None, Some((_, l))) => (p.revision, p.revision_origin) = (Some(l.clone()), Some(PinOrigin::HubCacheLayout)),
        (None, None) => {}
    }
    Ok(p)
}

fn read(path: &Path) -> Option<Value> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// The provenance of the port in `dir` as it stands: the pins, the source
/// files of `inspection.json`, and the libraries of the oracle's and the
/// capture's manifests (each `None` until its step ran).
pub fn record(dir: &Path, pins: &Pins) -> Provenance {
    let files = read(&dir.join("inspection.json"))
        .and_then(|v| v["files"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| Some(Artifact { path: f["path"].as_str()?.to_string(), sha256: f["sha256"].as_str()?.to_string(), bytes: f["size"].as_u64()? }))
        .collect();
    let mut libraries = BTreeMap::new();
    for side in ["oracle", "capture"] {
        let Some(m) = read(&dir.join(side).join("manifest.json")) else { continue };
        // The platform string names this machine's kernel, not a library.
        let libs: BTreeMap<String, String> = m["libraries"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "platform")
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        if !libs.is_empty() {
            libraries.insert(side.to_string(), libs);
        }
    }
    Provenance {
        repo: pins.repo.clone(),
        revision: pins.revision.clone(),
        repo_origin: pins.repo_origin,
        revision_origin: pins.revision_origin,
        mlxport: env!("CARGO_PKG_VERSION").into(),
        files,
        libraries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

    #[test]
    fn repository_ids_follow_the_hub_rules() {
        for ok in ["sentence-transformers/all-MiniLM-L6-v2", "a/b", "Org_1/model.v2", "HuggingFaceTB/SmolLM2-135M-Instruct"] {
            check_repo(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("noslash", "owner/name"),
            ("a/b/c", "owner/name"),
            ("/b", "empty"),
            ("a/", "empty"),
            ("a/-b", "starts or ends"),
            ("a/b.", "starts or ends"),
            (".a/b", "starts or ends"),
            ("a/b..c", "'..'"),
            ("a/b--c", "'--'"),
            ("a/b c", "' ' is not allowed"),
            ("a/b~", "'~' is not allowed"),
        ] {
            let e = check_repo(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--repo '{bad}'")) && e.contains(why), "{bad}: {e}");
        }
        assert!(check_repo(&format!("a/{}", "x".repeat(97))).is_err());
    }

    #[test]
    fn revisions_are_one_word() {
        for ok in [COMMIT, "v1.0", "main", "refs/pr/1"] {
            check_revision(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", "a b", "a\tb", "../x", "a..b", "/main"] {
            let e = check_revision(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--revision '{bad}'")), "{e}");
        }
    }

    #[test]
    fn the_hub_cache_layout_names_repository_and_commit() {
        let p = format!("cache/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/{COMMIT}/model.safetensors");
        assert_eq!(from_hub_cache(Path::new(&p)), Some(("sentence-transformers/all-MiniLM-L6-v2".into(), COMMIT.into())));
        let dir = format!("/x/models--gpt2--gpt2/snapshots/{COMMIT}");
        assert_eq!(from_hub_cache(Path::new(&dir)), Some(("gpt2/gpt2".into(), COMMIT.into())));
        // Not a snapshot folder, not a commit, or no owner.
        assert_eq!(from_hub_cache(Path::new("/x/models--a--b/blobs/abc")), None);
        assert_eq!(from_hub_cache(Path::new("/x/models--a--b/snapshots/main")), None);
        assert_eq!(from_hub_cache(Path::new(&format!("/x/models--gpt2/snapshots/{COMMIT}"))), None);
        assert_eq!(from_hub_cache(Path::new("some/model")), None);
    }

    #[test]
    fn flags_win_and_a_contradiction_names_both() {
        let m = format!("h/models--a--b/snapshots/{COMMIT}");
        let m = Path::new(&m);
        let p = resolve(None, None, Some(m)).unwrap();
        assert_eq!((p.repo.as_deref(), p.revision.as_deref()), (Some("a/b"), Some(COMMIT)));
        assert_eq!((p.repo_origin, p.revision_origin), (Some(PinOrigin::HubCacheLayout), Some(PinOrigin::HubCacheLayout)));
        let p = resolve(Some("a/b"), None, Some(m)).unwrap();
        assert_eq!((p.repo_origin, p.revision_origin), (Some(PinOrigin::Flag), Some(PinOrigin::HubCacheLayout)));
        let e = resolve(Some("c/d"), None, Some(m)).unwrap_err().to_string();
        assert!(e.contains("--repo c/d") && e.contains("a/b"), "{e}");
        let e = resolve(None, Some("v1"), Some(m)).unwrap_err().to_string();
        assert!(e.contains("--revision v1") && e.contains(COMMIT), "{e}");
        let p = resolve(Some("o/n"), Some("v1"), Some(Path::new("plain/dir"))).unwrap();
        assert_eq!((p.repo.as_deref(), p.revision.as_deref(), p.revision_origin), (Some("o/n"), Some("v1"), Some(PinOrigin::Flag)));
        assert_eq!(resolve(None, None, None).unwrap(), Pins::default());
        assert!(resolve(Some("bad"), None, None).unwrap_err().to_string().starts_with("--repo 'bad'"));
    }

    #[test]
    fn the_record_reuses_the_inspection_and_the_manifests() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("inspection.json"),
            r#"{"files": [{"path": "config.json", "size": 12, "sha256": "aa", "kind": "file"}, {"path": "weird", "kind": "symlink"}]}"#,
        )
        .unwrap();
        std::fs::create_dir(d.path().join("oracle")).unwrap();
        std::fs::write(d.path().join("oracle/manifest.json"), r#"{"libraries": {"torch": "2.5.0", "platform": "Linux-x"}}"#).unwrap();
        let pins = Pins { repo: Some("a/b".into()), repo_origin: Some(PinOrigin::Flag), ..Pins::default() };
        let r = record(d.path(), &pins);
        assert_eq!(r.files, vec![Artifact { path: "config.json".into(), sha256: "aa".into(), bytes: 12 }]);
        assert_eq!(r.libraries.len(), 1);
        assert_eq!(r.libraries["oracle"], [("torch".to_string(), "2.5.0".to_string())].into());
        assert_eq!((r.repo.as_deref(), r.revision.as_deref()), (Some("a/b"), None));
        assert_eq!(r.mlxport, env!("CARGO_PKG_VERSION"));
    }
}
