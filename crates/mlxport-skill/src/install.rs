//! Installing the skill into a coding agent's skills directory, and
//! checking an installed copy file by file.
//!
//! Each client reads personal skills from a directory under `$HOME`; the
//! skill goes into `<dir>/mlxport/` with a `manifest.json` holding the
//! SHA-256 of every file. Installation stages the files beside the target
//! and renames them into place, so a reader sees the old copy or the new
//! one, never half of each; an up-to-date copy is left untouched. In
//! symlink mode the files live once in a store (`$XDG_DATA_HOME/mlxport/
//! skills/mlxport`, default `~/.local/share/...`) and the client's entry is
//! a symbolic link to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlxport_util::hash::sha256_hex;
use serde::{Deserialize, Serialize};

use crate::{Error, SKILL_NAME};

/// The manifest's file name inside an installed skill.
pub const MANIFEST: &str = "manifest.json";

/// A client and where it reads personal skills (relative to `$HOME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub id: &'static str,
    pub product: &'static str,
    pub dir: &'static str,
}

/// Every supported client. Sources: each product's documentation on
/// Agent Skills (personal or global scope).
pub const CLIENTS: [Client; 6] = [
    Client { id: "claude-code", product: "Claude Code", dir: ".claude/skills" },
    Client { id: "codex", product: "OpenAI Codex (CLI, IDE, app)", dir: ".agents/skills" },
    Client { id: "cursor", product: "Cursor", dir: ".cursor/skills" },
    Client { id: "gemini", product: "Gemini CLI", dir: ".gemini/skills" },
    Client { id: "windsurf", product: "Windsurf (Cascade)", dir: ".codeium/windsurf/skills" },
    Client { id: "copilot", product: "GitHub Copilot (CLI, cloud agent, VS Code)", dir: ".copilot/skills" },
];

pub fn client(id: &str) -> Option<&'static Client> {
    CLIENTS.iter().find(|c| c.id == id)
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The manifest of a skill copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub skill: String,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// The manifest of a set of files (sorted by path).
    pub fn of(files: &[(String, String)]) -> Manifest {
        let mut fs: Vec<ManifestFile> =
            files.iter().map(|(p, t)| ManifestFile { path: p.clone(), sha256: sha256_hex(t.as_bytes()), bytes: t.len() as u64 }).collect();
        fs.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest { schema: "mlxport.skill-manifest/v1".into(), skill: SKILL_NAME.into(), files: fs }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s
    }

    pub fn parse(text: &str, file: &Path) -> Result<Manifest, Error> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| Error::Invalid(format!("{}: not a skill manifest: {e}", file.display())))?;
        if m.schema != "mlxport.skill-manifest/v1" {
            return Err(Error::Invalid(format!("{}: schema '{}' is not mlxport.skill-manifest/v1", file.display(), m.schema)));
        }
        for f in &m.files {
            if !safe_rel(&f.path) {
                return Err(Error::Invalid(format!("{}: path '{}' is not a plain relative path", file.display(), f.path)));
            }
        }
        Ok(m)
    }
}

/// A relative path with no `..`, no root, no empty or hidden tricks.
pub fn safe_rel(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.contains('\\') && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Every regular file under `dir`, as sorted relative paths with `/`;
/// anything else (symbolic links, sockets) is returned in the second list.
pub fn walk(dir: &Path) -> std::io::Result<(Vec<String>, Vec<String>)> {
    fn rec(root: &Path, dir: &Path, files: &mut Vec<String>, other: &mut Vec<String>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            let ft = std::fs::symlink_metadata(&p)?.file_type();
            if ft.is_dir() {
                rec(root, &p, files, other)?;
            } else if ft.is_file() {
                files.push(rel);
            } else {
                other.push(rel);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    let mut other = Vec::new();
    rec(dir, dir, &mut files, &mut other)?;
    files.sort();
    other.sort();
    Ok((files, other))
}

/// The result of checking a skill copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub dir: String,
    /// Files whose bytes differ from the copy's manifest.
    pub modified: Vec<String>,
    /// Files the manifest lists that are absent.
    pub missing: Vec<String>,
    /// Files present that the manifest does not list.
    pub extra: Vec<String>,
    /// Files whose manifest entry differs from this build's skill (the copy
    /// is from another version).
    pub outdated: Vec<String>,
    /// A problem that stopped the check (no manifest, unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.modified.is_empty() && self.missing.is_empty() && self.extra.is_empty() && self.outdated.is_empty()
    }
}

/// Check the copy in `dir` against its manifest, and the manifest against
/// `expected` (this build's skill; `None` skips that comparison).
pub fn check(dir: &Path, expected: Option<&Manifest>) -> CheckReport {
    let mut r = CheckReport { dir: dir.display().to_string(), ..Default::default() };
    let mpath = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&mpath) {
        Ok(t) => t,
        Err(e) => {
            r.error = Some(format!("{}: {e} (not an installed skill copy)", mpath.display()));
            return r;
        }
    };
    let m = match Manifest::parse(&text, &mpath) {
        Ok(m) => m,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    let (files, other) = match walk(dir) {
        Ok(x) => x,
        Err(e) => {
            r.error = Some(format!("{}: {e}", dir.display()));
            return r;
        }
    };
    let listed: BTreeMap<&str, &ManifestFile> = m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for f in &m.files {
        match std::fs::read(dir.join(&f.path)) {
            Ok(b) => {
                if b.len() as u64 != f.bytes || sha256_hex(&b) != f.sha256 {
                    r.modified.push(f.path.clone());
                }
            }
            Err(_) => r.missing.push(f.path.clone()),
        }
    }
    for f in files.iter().chain(other.iter()) {
        if f != MANIFEST && !listed.contains_key(f.as_str()) {
            r.extra.push(f.clone());
        }
    }
    if let Some(exp) = expected {
        let want: BTreeMap<&str, &ManifestFile> = exp.files.iter().map(|f| (f.path.as_str(), f)).collect();
        for (p, f) in &want {
            if listed.get(p) != Some(f) {
                r.outdated.push(p.to_string());
            }
        }
        for p in listed.keys() {
            if !want.contains_key(p) {
                r.outdated.push(p.to_string());
            }
        }
        r.outdated.sort();
        r.outdated.dedup();
    }
    r
}

/// How to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Copy,
    Symlink,
}

/// What an installation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// `installed`, `updated` or `up-to-date`.
    pub action: String,
    /// The skill directory the client reads.
    pub path: String,
    /// Symlink mode: where the files are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub files: usize,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
}

fn unique(parent: &Path, what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    parent.join(format!(".{SKILL_NAME}.{what}-{}-{nanos}", std::process::id()))
}

/// Whether `path` holds a copy this tool installed (it has our manifest).
fn ours(path: &Path) -> bool {
    std::fs::read_to_string(path.join(MANIFEST)).map(|t| Manifest::parse(&t, path).is_ok()).unwrap_or(false)
}

/// Install the files as a copy in `parent/mlxport`.
fn install_copy(files: &[(String, String)], parent: &Path) -> Result<(String, PathBuf), Error> {
    let target = parent.join(SKILL_NAME);
    let manifest = Manifest::of(files);
    let meta = std::fs::symlink_metadata(&target).ok();
    let existing_dir = meta.as_ref().map(|m| m.is_dir()).unwrap_or(false);
    if existing_dir {
        if check(&target, Some(&manifest)).ok() {
            return Ok(("up-to-date".into(), target));
        }
        if !ours(&target) {
            return Err(Error::Refused(format!("{} exists and was not installed by mlxport (no {MANIFEST}); move it away first", target.display())));
        }
    } else if meta.as_ref().map(|m| m.file_type().is_file()).unwrap_or(false) {
        return Err(Error::Refused(format!("{} exists and is a file; move it away first", target.display())));
    }
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let stage = unique(parent, "stage");
    let write = || -> Result<(), Error> {
        for (rel, text) in files {
            if !safe_rel(rel) {
                return Err(Error::Refused(format!("refusing to write '{rel}': not a plain relative path")));
            }
            let p = stage.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
            }
            std::fs::write(&p, text).map_err(|e| io(&p, e))?;
        }
        let mp = stage.join(MANIFEST);
        std::fs::write(&mp, manifest.to_json()).map_err(|e| io(&mp, e))
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(e);
    }
    let action = if meta.is_some() { "updated" } else { "installed" };
    if meta.is_some() {
        // Move the old entry (a copy or a symbolic link) aside, put the new
        // copy in place, then remove the old one.
        let old = unique(parent, "old");
        std::fs::rename(&target, &old).map_err(|e| io(&target, e))?;
        if let Err(e) = std::fs::rename(&stage, &target) {
            let _ = std::fs::rename(&old, &target);
            let _ = std::fs::remove_dir_all(&stage);
            return Err(io(&target, e));
        }
        if std::fs::symlink_metadata(&old).map(|m| m.is_dir()).unwrap_or(false) {
            let _ = std::fs::remove_dir_all(&old);
        } else {
            let _ = std::fs::remove_file(&old);
        }
    } else if let Err(e) = std::fs::rename(&stage, &target) {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(io(&target, e));
    }
    Ok((action.into(), target))
}

/// The store symlink mode links to.
pub fn default_store(home: &Path) -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("mlxport").join("skills"),
        None => home.join(".local/share/mlxport/skills"),
    }
}

/// Install `files` into `parent/mlxport` (see the module docs).
pub fn install(files: &[(String, String)], parent: &Path, mode: Mode, store: &Path) -> Result<Outcome, Error> {
    match mode {
        Mode::Copy => {
            let (action, path) = install_copy(files, parent)?;
            Ok(Outcome { action, path: path.display().to_string(), store: None, files: files.len() })
        }
        Mode::Symlink => {
            let (store_action, stored) = install_copy(files, store)?;
            let target = parent.join(SKILL_NAME);
            let meta = std::fs::symlink_metadata(&target).ok();
            let points_here =
                meta.as_ref().map(|m| m.file_type().is_symlink()).unwrap_or(false) && std::fs::read_link(&target).map(|l| l == stored).unwrap_or(false);
            if points_here {
                let action = if store_action == "up-to-date" { "up-to-date" } else { "updated" };
                return Ok(Outcome {
                    action: action.into(),
                    path: target.display().to_string(),
                    store: Some(stored.display().to_string()),
                    files: files.len(),
                });
            }
            if let Some(m) = &meta {
                if m.is_dir() && !ours(&target) {
                    return Err(Error::Refused(format!("{} exists and was not installed by mlxport (no {MANIFEST}); move it away first", target.display())));
                }
                if m.file_type().is_file() {
                    return Err(Error::Refused(format!("{} exists and is a file; move it away first", target.display())));
                }
            }
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            let link = unique(parent, "link");
            std::os::unix::fs::symlink(&stored, &link).map_err(|e| io(&link, e))?;
            if meta.as_ref().map(|m| m.is_dir()).unwrap_or(false) {
                let old = unique(parent, "old");
                std::fs::rename(&target, &old).map_err(|e| io(&target, e))?;
                if let Err(e) = std::fs::rename(&link, &target) {
                    let _ = std::fs::rename(&old, &target);
                    let _ = std::fs::remove_file(&link);
                    return Err(io(&target, e));
                }
                let _ = std::fs::remove_dir_all(&old);
            } else if let Err(e) = std::fs::rename(&link, &target) {
                // rename(2) replaces an existing symbolic link atomically.
                let _ = std::fs::remove_file(&link);
                return Err(io(&target, e));
            }
            let action = if meta.is_some() { "updated" } else { "installed" };
            Ok(Outcome { action: action.into(), path: target.display().to_string(), store: Some(stored.display().to_string()), files: files.len() })
        }
    }
}
