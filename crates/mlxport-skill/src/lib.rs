//! The agent skill for `mlxport`, and the audit that keeps it true.
//!
//! The skill is `skill/SKILL.md` (written by hand, embedded in the binary)
//! plus reference pages rendered from the knowledge base ([`render`]).
//! [`install`] puts it where a coding agent looks for skills, with a
//! manifest of SHA-256 hashes, and checks an installed copy file by file;
//! [`frontmatter`] holds the skill format's limits; [`audit`] checks the
//! skill, the README, `docs/` and the knowledge base against each other
//! and against the real command line, whose parser the caller supplies.
//!
//! ```
//! let files = mlxport_skill::files(mlxport_kb::kb());
//! assert_eq!(files[0].0, "SKILL.md");
//! let fm = mlxport_skill::frontmatter::parse(&files[0].1).unwrap();
//! assert!(mlxport_skill::frontmatter::check(&fm, mlxport_skill::SKILL_NAME).is_empty());
//! ```

pub mod audit;
pub mod error;
pub mod frontmatter;
pub mod install;
pub mod markdown;
pub mod render;

use std::path::Path;

use mlxport_kb::Kb;

pub use error::Error;

/// The skill's name (its directory name when installed).
pub const SKILL_NAME: &str = "mlxport";

/// The hand-written `SKILL.md`, as built into the binary.
pub const SKILL_MD: &str = include_str!("../../../skill/SKILL.md");

/// Every file of the skill (`SKILL.md` first, then the reference pages
/// sorted by path), without the manifest.
pub fn files(kb: &Kb) -> Vec<(String, String)> {
    let mut out = vec![("SKILL.md".to_string(), SKILL_MD.to_string())];
    out.extend(render::reference_pages(kb));
    out
}

/// What [`render_into`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    pub written: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

/// Write the reference pages and the manifest into a skill directory
/// (`skill/` of the source tree), removing reference pages the knowledge
/// base no longer has. `skill_md` is the `SKILL.md` the manifest covers.
pub fn render_into(dir: &Path, kb: &Kb, skill_md: &str) -> std::io::Result<Rendered> {
    let mut files = vec![("SKILL.md".to_string(), skill_md.to_string())];
    files.extend(render::reference_pages(kb));
    let mut r = Rendered::default();
    let refdir = dir.join("reference");
    if refdir.is_dir() {
        let (existing, other) = install::walk(&refdir)?;
        for f in existing.into_iter().chain(other) {
            let p = format!("reference/{f}");
            if !files.iter().any(|(x, _)| x == &p) {
                std::fs::remove_file(refdir.join(&f))?;
                r.removed.push(p);
            }
        }
    }
    let manifest = install::Manifest::of(&files);
    files.push((install::MANIFEST.to_string(), manifest.to_json()));
    for (p, text) in &files {
        if p == "SKILL.md" {
            continue;
        }
        let path = dir.join(p);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            r.unchanged += 1;
            continue;
        }
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        mlxport_util::fs::write_atomic(&path, text.as_bytes())?;
        r.written.push(p.clone());
    }
    Ok(r)
}
