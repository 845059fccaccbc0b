//! The file inventory: every entry under a model path, nothing skipped
//! because of its folder's name, with symlinks, FIFOs and devices reported
//! rather than opened.
//!
//! Symlinks are followed only inside a Hugging Face cache: when the model
//! path is `.../models--ORG--NAME/snapshots/REV`, a link whose target
//! resolves inside `.../models--ORG--NAME/blobs` is read as the file it
//! points to. Any other link is listed and flagged, never followed.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Bounds on a walk.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Entries beyond this count are not listed (the walk reports it).
    pub max_entries: usize,
    /// Directories deeper than this are not entered (the walk reports it).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entries: 200_000, max_depth: 64 }
    }
}

/// What kind of filesystem object an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EntryKind {
    File,
    /// A link followed to a file inside the model's Hugging Face cache.
    CacheLink,
    /// A link that is not followed: its target leaves the model (or the
    /// cache's blobs), dangles, or is not a regular file.
    Symlink {
        target: String,
        reason: String,
    },
    Fifo,
    Socket,
    Device,
}

/// One inventory entry.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Path relative to the model root, `/`-separated.
    pub path: String,
    #[serde(flatten)]
    pub kind: EntryKind,
    /// Size in bytes of the file (or the file a cache link points to).
    pub size: u64,
    /// Absolute path of the bytes to read (never serialised).
    #[serde(skip)]
    pub real: PathBuf,
}

impl Entry {
    /// Whether the entry's bytes can be read as a regular file.
    pub fn is_readable_file(&self) -> bool {
        matches!(self.kind, EntryKind::File | EntryKind::CacheLink)
    }
}

/// A problem met while walking (not fatal: the inventory is still useful).
#[derive(Clone, Debug, Serialize)]
pub struct WalkIssue {
    pub path: String,
    pub problem: String,
}

/// The inventory of a model path.
#[derive(Clone, Debug, Serialize)]
pub struct Inventory {
    /// Entries sorted by path.
    pub entries: Vec<Entry>,
    pub issues: Vec<WalkIssue>,
    /// The walk stopped early (too many entries).
    pub truncated: bool,
    /// The model path is a Hugging Face cache snapshot.
    pub hf_cache_snapshot: bool,
}

/// The `blobs` directory of the cache this snapshot belongs to, if the path
/// is a Hugging Face cache snapshot (`.../models--X/snapshots/REV`).
fn hf_cache_blobs(root: &Path) -> Option<PathBuf> {
    let snapshots = root.parent()?;
    if snapshots.file_name()? != "snapshots" {
        return None;
    }
    let repo = snapshots.parent()?;
    let name = repo.file_name()?.to_str()?;
    if !["models--", "datasets--", "spaces--"].iter().any(|p| name.starts_with(p)) {
        return None;
    }
    let blobs = repo.join("blobs");
    blobs.canonicalize().ok()
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// Walk a model path (a directory or a single file).
pub fn walk(root: &Path, limits: &Limits) -> std::io::Result<Inventory> {
    let meta = std::fs::symlink_metadata(root)?;
    if !meta.is_dir() {
        // A single file: the inventory is that file (a link is resolved, as
        // the user named it explicitly).
        let m = std::fs::metadata(root)?;
        if !m.is_file() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file or directory"));
        }
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(Inventory {
            entries: vec![Entry { path: name, kind: EntryKind::File, size: m.len(), real: root.canonicalize()? }],
            issues: vec![],
            truncated: false,
            hf_cache_snapshot: false,
        });
    }
    let blobs = hf_cache_blobs(root);
    let root_canon = root.canonicalize()?;
    let mut inv = Inventory { entries: Vec::new(), issues: Vec::new(), truncated: false, hf_cache_snapshot: blobs.is_some() };
    let walker = walkdir::WalkDir::new(root).follow_links(false).min_depth(1).max_depth(limits.max_depth + 1).sort_by_file_name();
    for item in walker {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                let path = e.path().map(|p| rel_path(root, p)).unwrap_or_default();
                inv.issues.push(WalkIssue { path, problem: format!("cannot read: {}", e.io_error().map(|e| e.to_string()).unwrap_or_else(|| e.to_string())) });
                continue;
            }
        };
        let rel = rel_path(root, item.path());
        let ft = item.file_type();
        if item.depth() > limits.max_depth {
            inv.issues.push(WalkIssue { path: rel, problem: format!("nested deeper than {} levels; not inspected", limits.max_depth) });
            continue;
        }
        if ft.is_dir() {
            continue;
        }
        if inv.entries.len() >= limits.max_entries {
            inv.truncated = true;
            inv.issues.push(WalkIssue { path: rel, problem: format!("more than {} files; the rest were not inspected", limits.max_entries) });
            break;
        }
        let kind_size = if ft.is_file() {
            let size = item.metadata().map(|m| m.len()).unwrap_or(0);
            Some((EntryKind::File, size, item.path().to_path_buf()))
        } else if ft.is_symlink() {
            Some(classify_link(item.path(), &root_canon, blobs.as_deref()))
        } else if ft.is_fifo() {
            Some((EntryKind::Fifo, 0, item.path().to_path_buf()))
        } else if ft.is_socket() {
            Some((EntryKind::Socket, 0, item.path().to_path_buf()))
        } else if ft.is_block_device() || ft.is_char_device() {
            Some((EntryKind::Device, 0, item.path().to_path_buf()))
        } else {
            None
        };
        if let Some((kind, size, real)) = kind_size {
            inv.entries.push(Entry { path: rel, kind, size, real });
        }
    }
    inv.entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(inv)
}

/// Decide whether a symlink may be followed.
fn classify_link(link: &Path, root: &Path, blobs: Option<&Path>) -> (EntryKind, u64, PathBuf) {
    let target = std::fs::read_link(link).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
    let refuse = |reason: &str| (EntryKind::Symlink { target: target.clone(), reason: reason.to_string() }, 0, link.to_path_buf());
    let Ok(resolved) = link.canonicalize() else {
        return refuse("dangling link");
    };
    let Some(blobs) = blobs else {
        return if resolved.starts_with(root) {
            refuse("link inside the model; links are not followed outside a Hugging Face cache")
        } else {
            refuse("link escapes the model directory")
        };
    };
    if !resolved.starts_with(blobs) {
        return refuse("link leaves the Hugging Face cache's blobs");
    }
    match std::fs::metadata(&resolved) {
        Ok(m) if m.is_file() => (EntryKind::CacheLink, m.len(), resolved),
        _ => refuse("link target is not a regular file"),
    }
}

/// Whether a file's size and modification time are unchanged since `meta`.
pub fn same_file_state(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec() && a.ino() == b.ino() && a.dev() == b.dev()
}
