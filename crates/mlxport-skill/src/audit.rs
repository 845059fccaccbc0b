//! `mlxport audit`: the skill, the documentation and the knowledge base
//! agree with each other and with the real command line.
//!
//! Checked, from the files of a source tree (so a broken copy can be
//! audited as well as the repository):
//! - the knowledge base parses and passes its integrity checker, every
//!   data registry (`crates/*/data/*.toml`) has unique ids, and the
//!   evidence sources follow the registry rules (pinned, https, ...);
//! - `skill/SKILL.md` front matter keeps the skill format's limits;
//! - the reference pages are what `mlxport skill render` makes of the
//!   knowledge base today, and `skill/manifest.json` hashes every file;
//! - every relative link and anchor in the skill, the README and `docs/`
//!   resolves;
//! - every `mlxport ...` command line in those pages parses against the
//!   real CLI (through the caller's parser), and `docs TOPIC` /
//!   `explain ID` name topics and techniques that exist. A command marked
//!   `(planned)` that the CLI lacks is a note, not a failure (so is the
//!   mark on a command that has since arrived: merging a new command never
//!   fails the audit; its arguments are checked like any other line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlxport_kb::{Kb, KbText};
use serde::Serialize;

use crate::install::{self, Manifest};
use crate::{frontmatter, markdown, render, SKILL_NAME};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    /// `skill/SKILL.md:42`, `crates/mlxport-kb/data/sources.toml`.
    pub at: String,
    pub message: String,
}

/// What the CLI made of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// It parses (or only lacks required arguments: a mention of the
    /// command rather than a full invocation).
    Ok,
    /// The CLI has no such command.
    UnknownCommand(String),
    /// The command exists; the arguments do not parse.
    Invalid(String),
}

/// The audit's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub findings: Vec<Finding>,
    pub pages: usize,
    pub links: usize,
    pub commands: usize,
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
    /// Whether the audit passes (`strict`: warnings fail too).
    pub fn passed(&self, strict: bool) -> bool {
        self.count(Level::Error) == 0 && (!strict || self.count(Level::Warning) == 0)
    }
}

struct Out(Vec<Finding>);

impl Out {
    fn push(&mut self, level: Level, at: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding { level, at: at.into(), message: message.into() });
    }
}

pub const KB_DATA: &str = "crates/mlxport-kb/data";

/// Read the knowledge base's files from a source tree.
pub fn load_kb(root: &Path) -> Result<Kb, crate::Error> {
    load_kb_text(root).map_err(crate::Error::Invalid)
}

fn load_kb_text(root: &Path) -> Result<Kb, String> {
    let dir = root.join(KB_DATA);
    let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
    let mut techniques = Vec::new();
    let tdir = dir.join("techniques");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&tdir)
        .map_err(|e| format!("{}: {e}", tdir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    // The order the binary embeds them in (it decides the order of
    // techniques on every page), then any new file by name.
    let embedded: Vec<String> = KbText::default().techniques.into_iter().map(|(n, _)| n).collect();
    let pos = |p: &PathBuf| {
        let n = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        (embedded.iter().position(|e| *e == n).unwrap_or(usize::MAX), n)
    };
    names.sort_by_key(pos);
    for p in names {
        let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        techniques.push((name, read(p)?));
    }
    let text =
        KbText { runbooks: read(dir.join("runbooks.toml"))?, methods: read(dir.join("methods.toml"))?, sources: read(dir.join("sources.toml"))?, techniques };
    Kb::parse(&text).map_err(|e| format!("{KB_DATA}/{e}"))
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

/// Markdown files the audit reads: the skill, the README, `docs/`.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn rec(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        for p in v {
            if p.is_dir() {
                rec(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    rec(&root.join("skill"), &mut out);
    if root.join("README.md").is_file() {
        out.push(root.join("README.md"));
    }
    rec(&root.join("docs"), &mut out);
    out
}

fn placeholder(w: &str) -> bool {
    (w.starts_with('<') && w.ends_with('>'))
        || (w.chars().any(|c| c.is_ascii_uppercase()) && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_-./".contains(c)))
}

/// Unique ids in every data registry of the tree (`crates/*/data/*.toml`
/// and one level below): each array of tables whose entries carry `id`.
fn registry_ids(root: &Path, out: &mut Out) {
    let Ok(rd) = std::fs::read_dir(root.join("crates")) else { return };
    let mut files = Vec::new();
    let mut crates: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path().join("data"))).filter(|p| p.is_dir()).collect();
    crates.sort();
    for d in crates {
        for p in std::fs::read_dir(&d).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path())) {
            if p.is_dir() {
                files.extend(
                    std::fs::read_dir(&p).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path())).filter(|x| x.extension().is_some_and(|e| e == "toml")),
                );
            } else if p.extension().is_some_and(|e| e == "toml") {
                files.push(p);
            }
        }
    }
    files.sort();
    // Techniques share one id space across their files.
    let mut shared: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        let at = rel(root, &f);
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                out.push(Level::Error, &at, format!("cannot read: {e}"));
                continue;
            }
        };
        let v: toml::Table = match toml::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                out.push(Level::Error, &at, format!("not valid TOML: {}", e.to_string().trim_end()));
                continue;
            }
        };
        for (key, val) in &v {
            let Some(arr) = val.as_array() else { continue };
            let ns = if at.contains("/techniques/") { format!("technique ids ({KB_DATA}/techniques)") } else { format!("{at} [[{key}]]") };
            for item in arr {
                if let Some(id) = item.get("id").and_then(|x| x.as_str()) {
                    shared.entry(format!("{ns}\u{0}{id}")).or_default().push(at.clone());
                }
            }
        }
    }
    for (k, files) in shared {
        if files.len() > 1 {
            let (ns, id) = k.split_once('\u{0}').unwrap_or((&k, ""));
            out.push(Level::Error, ns.to_string(), format!("duplicate id '{id}' ({} entries, in {})", files.len(), dedup(files).join(", ")));
        }
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Run the audit on the source tree at `root`. `parse` parses an argument
/// list (without the program name) with the real CLI; `embedded_skill_md`
/// is the `SKILL.md` this binary carries.
pub fn audit(root: &Path, parse: &dyn Fn(&[String]) -> Parsed, embedded_skill_md: &str) -> Report {
    let mut out = Out(Vec::new());
    registry_ids(root, &mut out);

    // Knowledge base and sources.
    let kb = match load_kb(root) {
        Ok(kb) => Some(kb),
        Err(e) => {
            out.push(Level::Error, KB_DATA, e.to_string());
            None
        }
    };
    if let Some(kb) = &kb {
        for p in mlxport_kb::check::check(kb, &mlxport_kb::check::Context::intake()) {
            out.push(Level::Error, format!("{KB_DATA}: {}", p.at), p.message);
        }
        for f in mlxport_evidence::sources::validate(&kb.sources, Default::default()) {
            out.push(Level::Error, format!("{KB_DATA}/sources.toml: {}", f.source), format!("{} ({})", f.message, f.rule));
        }
    }

    // The skill: front matter, rendered pages, manifest.
    let skill_dir = root.join("skill");
    let skill_md_path = skill_dir.join("SKILL.md");
    let skill_md = match std::fs::read_to_string(&skill_md_path) {
        Ok(t) => Some(t),
        Err(e) => {
            out.push(Level::Error, "skill/SKILL.md", format!("cannot read: {e}"));
            None
        }
    };
    if let Some(md) = &skill_md {
        match frontmatter::parse(md) {
            Err(e) => out.push(Level::Error, "skill/SKILL.md", format!("front matter: {e}")),
            Ok(fm) => {
                for i in frontmatter::check(&fm, SKILL_NAME) {
                    out.push(if i.error { Level::Error } else { Level::Warning }, "skill/SKILL.md", format!("front matter: {}", i.message));
                }
            }
        }
        if md != embedded_skill_md {
            out.push(Level::Warning, "skill/SKILL.md", "differs from the SKILL.md this binary embeds (rebuild mlxport to install the current one)");
        }
    }
    if let (Some(kb), Some(md)) = (&kb, &skill_md) {
        let mut expected = vec![("SKILL.md".to_string(), md.clone())];
        expected.extend(render::reference_pages(kb));
        let want: BTreeMap<&str, &str> = expected.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        match install::walk(&skill_dir) {
            Err(e) => out.push(Level::Error, "skill", format!("cannot list: {e}")),
            Ok((files, other)) => {
                for f in other {
                    out.push(Level::Error, format!("skill/{f}"), "not a regular file");
                }
                for f in &files {
                    if f == install::MANIFEST {
                        continue;
                    }
                    match want.get(f.as_str()) {
                        None => out.push(
                            Level::Error,
                            format!("skill/{f}"),
                            "not part of the skill: not generated from the knowledge base (stale page?); `mlxport skill render` removes it",
                        ),
                        Some(t) => {
                            if f.starts_with("reference/") && std::fs::read_to_string(skill_dir.join(f)).ok().as_deref() != Some(*t) {
                                out.push(Level::Error, format!("skill/{f}"), "out of date with the knowledge base; run `mlxport skill render`");
                            }
                        }
                    }
                }
                for p in want.keys() {
                    if !files.iter().any(|f| f == p) {
                        out.push(Level::Error, format!("skill/{p}"), "missing; run `mlxport skill render`");
                    }
                }
            }
        }
        let manifest = Manifest::of(&expected);
        let r = install::check(&skill_dir, Some(&manifest));
        if let Some(e) = r.error {
            out.push(Level::Error, "skill/manifest.json", e);
        } else {
            for f in r.modified {
                out.push(Level::Error, "skill/manifest.json", format!("hash of {f} does not match the file"));
            }
            for f in r.missing {
                out.push(Level::Error, "skill/manifest.json", format!("lists {f}, which does not exist"));
            }
            for f in r.extra {
                out.push(Level::Error, "skill/manifest.json", format!("does not list {f}"));
            }
            if !r.outdated.is_empty() {
                out.push(Level::Error, "skill/manifest.json", format!("out of date for {}; run `mlxport skill render`", r.outdated.join(", ")));
            }
        }
    }

    // Links and command lines.
    let mut n_links = 0;
    let mut n_cmds = 0;
    let pages = doc_files(root);
    let mut anchor_cache: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for page in &pages {
        let at = rel(root, page);
        let Ok(text) = std::fs::read_to_string(page) else {
            out.push(Level::Error, &at, "cannot read");
            continue;
        };
        for l in markdown::links(&text) {
            if markdown::is_external(&l.target) {
                continue;
            }
            n_links += 1;
            let (path, anchor) = match l.target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (l.target.as_str(), None),
            };
            let target = if path.is_empty() { page.clone() } else { page.parent().unwrap_or(root).join(path) };
            if !target.exists() {
                out.push(Level::Error, format!("{at}:{}", l.line), format!("dead link '{}'", l.target));
                continue;
            }
            if let Some(a) = anchor.filter(|a| !a.is_empty()) {
                if target.extension().is_some_and(|x| x == "md") {
                    let anchors =
                        anchor_cache.entry(target.clone()).or_insert_with(|| markdown::anchors(&std::fs::read_to_string(&target).unwrap_or_default()));
                    if !anchors.iter().any(|x| x == a) {
                        out.push(Level::Error, format!("{at}:{}", l.line), format!("link '{}': no anchor '#{a}' in the target", l.target));
                    }
                }
            }
        }
        for c in markdown::commands(&text) {
            n_cmds += 1;
            let where_ = format!("{at}:{}", c.line);
            let shown = format!("mlxport {}", c.text);
            let inst = match markdown::instances(&c.text) {
                Ok(i) => i,
                Err(e) => {
                    out.push(Level::Error, &where_, format!("`{shown}`: malformed synopsis ({e})"));
                    continue;
                }
            };
            let mut unknown = None;
            let mut exists = false;
            for argv in &inst {
                match parse(argv) {
                    Parsed::Ok => exists = true,
                    Parsed::UnknownCommand(m) => unknown = Some(m),
                    Parsed::Invalid(m) => {
                        exists = true;
                        out.push(Level::Error, &where_, format!("`{shown}` does not parse as `mlxport {}`: {m}", argv.join(" ")));
                    }
                }
                if let (Some(kb), Some(cmd), Some(arg)) = (&kb, argv.first(), argv.get(1)) {
                    if cmd == "docs" && !placeholder(arg) && mlxport_kb::render::page(kb, arg).is_none() {
                        out.push(Level::Error, &where_, format!("`{shown}`: no knowledge-base topic '{arg}'"));
                    }
                    if cmd == "explain" && !placeholder(arg) && !arg.starts_with('-') && kb.technique(arg).is_none() {
                        out.push(Level::Error, &where_, format!("`{shown}`: no technique '{arg}'"));
                    }
                }
            }
            match (unknown, c.planned, exists) {
                (Some(m), true, false) => out.push(Level::Note, &where_, format!("`{shown}` is marked planned and is not in this CLI yet ({m})")),
                (Some(m), _, _) => out.push(Level::Error, &where_, format!("`{shown}`: unknown command ({m})")),
                (None, true, true) => out.push(Level::Note, &where_, format!("`{shown}` is marked (planned) but the command exists; the mark can go")),
                _ => {}
            }
        }
    }
    let mut findings = out.0;
    findings.sort_by(|a, b| a.level.cmp(&b.level).then(a.at.cmp(&b.at)).then(a.message.cmp(&b.message)));
    findings.dedup();
    Report { schema: "mlxport.audit/v1", findings, pages: pages.len(), links: n_links, commands: n_cmds }
}
