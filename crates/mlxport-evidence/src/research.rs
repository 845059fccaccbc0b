//! `mlxport research`: review-only ranking of update feeds against the
//! knowledge base.
//!
//! Feeds are files saved beforehand (nothing is fetched): release lists as
//! JSON in the shape of GitHub's releases API (`tag_name`, `name`, `body`,
//! `html_url`, `published_at`, `prerelease`, `draft`), and paper listings
//! as Atom, RSS or JSON (`title`, `url`/`link`/`id`, `summary`/`abstract`,
//! `published`). Each entry becomes a [`Candidate`] with a status — `new`
//! (a paper the registry does not cite, a release newer than the pinned
//! version), `changed` (a cited paper in another version) or `known` — and
//! the techniques and families it concerns, found by identifier and
//! keyword match. Nothing here writes to the knowledge base: the result is
//! a review for a person to act on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mlxport_kb::Kb;

use crate::Error;
use serde::Serialize;

/// Largest feed file read.
pub const MAX_FEED_BYTES: u64 = 16 << 20;
/// Most entries read from one feed.
pub const MAX_ENTRIES: usize = 10_000;

/// A feed entry, normalized.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// `release` or `paper`.
    pub kind: String,
    pub title: String,
    pub url: String,
    pub text: String,
    pub published: String,
    /// Releases: the package (`mlx-lm`) and version (`0.33.0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prerelease: bool,
    /// The feed file it came from (file name only).
    pub feed: String,
}

/// A ranked candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub rank: usize,
    pub score: u32,
    /// `new`, `changed` or `known`.
    pub status: String,
    /// Why the status: `mlx-lm 0.33.0 is newer than the pinned 0.32.2`.
    pub reason: String,
    pub techniques: Vec<String>,
    pub families: Vec<String>,
    /// Evidence sources of the registry this entry corresponds to.
    pub sources: Vec<String>,
    pub entry: Entry,
}

/// The review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub schema: &'static str,
    /// (file name, entries read).
    pub feeds: Vec<(String, usize)>,
    pub candidates: Vec<Candidate>,
}

fn err(file: &Path, message: impl Into<String>) -> Error {
    Error::FeedInvalid { file: file.display().to_string(), message: message.into() }
}

fn unreadable(file: &Path, message: impl Into<String>) -> Error {
    Error::FeedUnreadable { file: file.display().to_string(), message: message.into() }
}

/// Read every feed file of a directory (sorted by name; `.json`, `.atom`,
/// `.rss`, `.xml`; other files are ignored).
pub fn read_feeds(dir: &Path) -> crate::Result<Vec<(String, Vec<Entry>)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| unreadable(dir, format!("cannot list the directory: {e}")))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for e in rd {
        let p = e.map_err(|e| unreadable(dir, e.to_string()))?.path();
        let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("").to_ascii_lowercase();
        if p.is_file() && matches!(ext.as_str(), "json" | "atom" | "rss" | "xml") {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(err(dir, "no feed files (.json, .atom, .rss, .xml)"));
    }
    files.iter().map(|f| read_feed(f).map(|e| (file_name(f), e))).collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Read one feed file.
pub fn read_feed(path: &Path) -> crate::Result<Vec<Entry>> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e.to_string()))?;
    if meta.len() > MAX_FEED_BYTES {
        return Err(err(path, format!("{} bytes is more than the {} MiB a feed may have", meta.len(), MAX_FEED_BYTES >> 20)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(path, format!("not UTF-8 text: {e}")))?;
    let feed = file_name(path);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let entries =
        if trimmed.starts_with('<') { parse_xml(trimmed, &feed).map_err(|m| err(path, m))? } else { parse_json(trimmed, &feed).map_err(|m| err(path, m))? };
    if entries.len() > MAX_ENTRIES {
        return Err(err(path, format!("{} entries; at most {MAX_ENTRIES}", entries.len())));
    }
    Ok(entries)
}

fn s(v: &serde_json::Value, keys: &[&str]) -> String {
    keys.iter().find_map(|k| v.get(*k).and_then(|x| x.as_str())).unwrap_or("").trim().to_string()
}

fn parse_json(text: &str, feed: &str) -> Result<Vec<Entry>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let items = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match ["releases", "papers", "entries", "items"].iter().find_map(|k| o.get(*k)) {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => return Err("expected an array of entries (or an object with 'releases', 'papers', 'entries' or 'items')".into()),
        },
        _ => return Err("expected an array of entries".into()),
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if !it.is_object() {
            return Err(format!("entry {i} is not an object"));
        }
        if it.get("tag_name").is_some() {
            if it.get("draft").and_then(|d| d.as_bool()) == Some(true) {
                continue;
            }
            let url = s(it, &["html_url", "url"]);
            let tag = s(it, &["tag_name"]);
            let package = repo_of(&url).or_else(|| Some(feed.split('.').next().unwrap_or(feed).to_string()));
            let version = tag.trim_start_matches('v').to_string();
            let name = s(it, &["name"]);
            let title = format!("{} {}", package.clone().unwrap_or_default(), if name.is_empty() { tag.clone() } else { name });
            out.push(Entry {
                kind: "release".into(),
                title,
                url,
                text: s(it, &["body"]),
                published: s(it, &["published_at", "created_at"]),
                package,
                version: Some(version),
                prerelease: it.get("prerelease").and_then(|d| d.as_bool()).unwrap_or(false),
                feed: feed.into(),
            });
        } else {
            let title = s(it, &["title"]);
            if title.is_empty() {
                return Err(format!("entry {i} has neither 'tag_name' (a release) nor 'title' (a paper)"));
            }
            out.push(Entry {
                kind: "paper".into(),
                title,
                url: s(it, &["url", "link", "id", "html_url"]),
                text: s(it, &["summary", "abstract", "description"]),
                published: s(it, &["published", "date", "updated"]),
                package: None,
                version: None,
                prerelease: false,
                feed: feed.into(),
            });
        }
    }
    Ok(out)
}

/// `https://github.com/ml-explore/mlx-lm/releases/tag/v0.33.0` → `mlx-lm`.
fn repo_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://github.com/")?;
    let mut parts = rest.split('/');
    let _owner = parts.next()?;
    parts.next().filter(|r| !r.is_empty()).map(|r| r.to_string())
}

fn parse_xml(text: &str, feed: &str) -> Result<Vec<Entry>, String> {
    // roxmltree refuses DTDs (and so entity expansion) by default.
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("invalid XML: {e}"))?;
    let child_text = |n: roxmltree::Node, name: &str| -> String {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .map(|c| c.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<String>())
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let root = doc.root_element();
    let mut out = Vec::new();
    match root.tag_name().name() {
        "feed" => {
            for e in root.children().filter(|c| c.is_element() && c.tag_name().name() == "entry") {
                let link = e
                    .children()
                    .filter(|c| c.is_element() && c.tag_name().name() == "link")
                    .find(|c| matches!(c.attribute("rel"), None | Some("alternate")))
                    .and_then(|c| c.attribute("href"))
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| child_text(e, "id"));
                out.push(Entry {
                    kind: "paper".into(),
                    title: collapse(&child_text(e, "title")),
                    url: link,
                    text: collapse(&child_text(e, "summary")),
                    published: child_text(e, "published"),
                    package: None,
                    version: None,
                    prerelease: false,
                    feed: feed.into(),
                });
            }
        }
        "rss" | "RDF" => {
            for e in root.descendants().filter(|c| c.is_element() && c.tag_name().name() == "item") {
                out.push(Entry {
                    kind: "paper".into(),
                    title: collapse(&child_text(e, "title")),
                    url: child_text(e, "link"),
                    text: collapse(&child_text(e, "description")),
                    published: child_text(e, "pubDate"),
                    package: None,
                    version: None,
                    prerelease: false,
                    feed: feed.into(),
                });
            }
        }
        other => return Err(format!("root element <{other}> is neither an Atom <feed> nor an RSS <rss>")),
    }
    if out.iter().any(|e| e.title.is_empty()) {
        return Err("an entry has no title".into());
    }
    Ok(out)
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lowercase words of a text (letters and digits; `_` kept for API names).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect()
}

const STOP: [&str; 24] = [
    "the", "and", "for", "with", "without", "once", "into", "from", "per", "its", "a", "an", "of", "on", "in", "to", "by", "as", "at", "or", "one", "all",
    "use", "using",
];

/// `0.32.10` → `[0, 32, 10]`.
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0)).collect()
}

/// An arXiv id (`2309.17453`) and version (`v1`) in a URL or text.
fn arxiv_id(s: &str) -> Option<(String, Option<String>)> {
    let i = s.find("arxiv.org/abs/").map(|i| i + 14).or_else(|| s.find("arxiv.org/pdf/").map(|i| i + 14))?;
    let rest = &s[i..];
    let id: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    if id.len() < 9 {
        return None;
    }
    let after = &rest[id.len()..];
    let ver =
        after.strip_prefix('v').map(|v| v.chars().take_while(|c| c.is_ascii_digit()).collect::<String>()).filter(|v| !v.is_empty()).map(|v| format!("v{v}"));
    Some((id, ver))
}

/// Rank entries against the knowledge base.
pub fn rank(kb: &Kb, feeds: &[(String, Vec<Entry>)]) -> Review {
    // Technique keywords: significant words of the name, and the API
    // identifiers the entry names (`batch_generate`, `RotatingKVCache`).
    let mut tech_words: Vec<(&str, BTreeSet<String>, BTreeSet<String>)> = Vec::new();
    for t in &kb.techniques {
        let name: BTreeSet<String> = words(&t.name).into_iter().filter(|w| w.len() >= 3 && !STOP.contains(&w.as_str())).collect();
        let mut apis: BTreeSet<String> = BTreeSet::new();
        for a in t.api.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')) {
            if let Some(last) = a.rsplit('.').next() {
                if last.len() >= 6 && (last.contains('_') || last.chars().any(|c| c.is_uppercase())) {
                    apis.insert(last.to_lowercase());
                }
            }
        }
        tech_words.push((t.id.as_str(), name, apis));
    }
    // Family keywords: model types and GGUF architectures of the runbook
    // examples, and the family id itself as a phrase.
    let mut fam_words: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &kb.runbooks {
        let set = fam_words.entry(r.family.as_str()).or_default();
        for ex in &r.examples {
            if let Some((k, v)) = ex.split_once(':') {
                if k == "model_type" || k == "gguf" {
                    set.insert(v.to_lowercase());
                }
            }
        }
    }
    // Cited papers and pinned package versions.
    let mut cited: BTreeMap<String, Vec<(&str, Option<String>)>> = BTreeMap::new();
    let mut pinned: BTreeMap<String, String> = BTreeMap::new();
    for s in &kb.sources {
        if let Some((id, ver)) = arxiv_id(&s.url) {
            cited.entry(id).or_default().push((s.id.as_str(), ver));
        }
        if let Some((name, ver)) = s.version.as_deref().and_then(|v| v.rsplit_once(' ')) {
            if ver.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                let e = pinned.entry(name.to_string()).or_insert_with(|| ver.to_string());
                if version_key(ver) > version_key(e) {
                    *e = ver.to_string();
                }
            }
        }
    }
    let citing = |source: &str| -> Vec<String> { kb.techniques.iter().filter(|t| t.sources.iter().any(|x| x == source)).map(|t| t.id.clone()).collect() };

    let mut cands = Vec::new();
    for (_, entries) in feeds {
        for e in entries {
            let all = format!("{} {}", e.title, e.text);
            let ws: Vec<String> = words(&all);
            let wset: BTreeSet<&str> = ws.iter().map(|w| w.as_str()).collect();
            let phrase = format!(" {} ", ws.join(" "));
            let mut techniques: BTreeSet<String> = BTreeSet::new();
            for (id, name, apis) in &tech_words {
                let hit = name.iter().filter(|w| wset.contains(w.as_str())).count();
                let by_name = name.len() >= 2 && hit == name.len() || (name.len() >= 3 && hit * 4 >= name.len() * 3);
                let by_id = phrase.contains(&format!(" {} ", id.replace('-', " ")));
                let by_api = apis.iter().any(|a| wset.contains(a.as_str()));
                if by_name || by_id || by_api {
                    techniques.insert(id.to_string());
                }
            }
            let mut families: BTreeSet<String> = BTreeSet::new();
            for (fam, kws) in &fam_words {
                if kws.iter().any(|k| wset.contains(k.as_str())) || phrase.contains(&format!(" {} ", fam.replace('-', " "))) {
                    families.insert(fam.to_string());
                }
            }
            let mut sources = Vec::new();
            let (status, reason, base) = match e.kind.as_str() {
                "release" => {
                    let pkg = e.package.clone().unwrap_or_default();
                    let ver = e.version.clone().unwrap_or_default();
                    match pinned.get(&pkg) {
                        None => ("new".to_string(), format!("{pkg} is not pinned by any evidence source"), 1),
                        Some(p) if version_key(&ver) > version_key(p) => {
                            let pin = format!("{pkg} {p}");
                            let all: Vec<&str> = kb.sources.iter().filter(|s| s.version.as_deref() == Some(pin.as_str())).map(|s| s.id.as_str()).collect();
                            // The pinned sources behind the techniques this release touches.
                            for t in kb.techniques.iter().filter(|t| techniques.contains(&t.id)) {
                                for sid in &t.sources {
                                    if all.contains(&sid.as_str()) && !sources.contains(sid) {
                                        sources.push(sid.clone());
                                    }
                                }
                            }
                            ("new".to_string(), format!("{pkg} {ver} is newer than the pinned {p} ({} evidence sources pin {p})", all.len()), 3)
                        }
                        Some(p) if version_key(&ver) == version_key(p) => ("known".to_string(), format!("{pkg} {ver} is the pinned version"), 0),
                        Some(p) => ("known".to_string(), format!("{pkg} {ver} is older than the pinned {p}"), 0),
                    }
                }
                _ => match arxiv_id(&e.url).or_else(|| arxiv_id(&e.text)) {
                    Some((id, ver)) if cited.contains_key(&id) => {
                        let refs = &cited[&id];
                        for (sid, _) in refs {
                            sources.push(sid.to_string());
                            techniques.extend(citing(sid));
                        }
                        let pinned_vers: Vec<String> = refs.iter().filter_map(|(_, v)| v.clone()).collect();
                        match ver {
                            Some(v) if !pinned_vers.is_empty() && !pinned_vers.contains(&v) => {
                                ("changed".to_string(), format!("arXiv {id} is cited at {}; this is {v}", pinned_vers.join(", ")), 2)
                            }
                            _ => ("known".to_string(), format!("arXiv {id} is already cited"), 0),
                        }
                    }
                    Some((id, _)) => ("new".to_string(), format!("arXiv {id} is not cited by the registry"), 1),
                    None => ("new".to_string(), "not cited by the registry".to_string(), 1),
                },
            };
            let relevance = 2 * techniques.len().min(5) as u32 + families.len().min(3) as u32;
            let mut score = if status == "known" { 0 } else { base + relevance };
            if e.prerelease && score > 0 {
                score -= 1;
            }
            cands.push(Candidate {
                rank: 0,
                score,
                status,
                reason,
                techniques: techniques.into_iter().collect(),
                families: families.into_iter().collect(),
                sources,
                entry: e.clone(),
            });
        }
    }
    cands.sort_by(|a, b| b.score.cmp(&a.score).then(b.entry.published.cmp(&a.entry.published)).then(a.entry.title.cmp(&b.entry.title)));
    for (i, c) in cands.iter_mut().enumerate() {
        c.rank = i + 1;
    }
    Review { schema: "mlxport.research-review/v1", feeds: feeds.iter().map(|(f, e)| (f.clone(), e.len())).collect(), candidates: cands }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The review as Markdown.
pub fn markdown(r: &Review) -> String {
    let mut s = String::from("# Research review\n\n");
    s.push_str("Review only: nothing here has changed the knowledge base. Each candidate below is a lead for a person to check; ");
    s.push_str("accepting one means editing the registry by hand, with a pinned source, and passing `mlxport audit --strict`.\n\n");
    s.push_str("Feeds read:\n\n");
    for (f, n) in &r.feeds {
        s.push_str(&format!("- `{f}`: {n} entries\n"));
    }
    let counts = |st: &str| r.candidates.iter().filter(|c| c.status == st).count();
    s.push_str(&format!("\n{} candidates: {} new, {} changed, {} known.\n\n", r.candidates.len(), counts("new"), counts("changed"), counts("known")));
    s.push_str("| rank | score | status | kind | title | techniques | families |\n|---:|---:|---|---|---|---|---|\n");
    for c in &r.candidates {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            c.rank,
            c.score,
            c.status,
            c.entry.kind,
            cell(&c.entry.title),
            cell(&c.techniques.join(", ")),
            cell(&c.families.join(", "))
        ));
    }
    s.push_str("\n## Candidates\n");
    for c in r.candidates.iter().filter(|c| c.status != "known") {
        s.push_str(&format!("\n### {}. {}\n\n", c.rank, cell(&c.entry.title)));
        s.push_str(&format!("- status: **{}** — {}\n", c.status, c.reason));
        if !c.entry.url.is_empty() {
            s.push_str(&format!("- link: <{}>\n", c.entry.url));
        }
        if !c.entry.published.is_empty() {
            s.push_str(&format!("- published: {}\n", c.entry.published));
        }
        s.push_str(&format!("- feed: `{}`{}\n", c.entry.feed, if c.entry.prerelease { " (pre-release)" } else { "" }));
        if !c.techniques.is_empty() {
            let ts: Vec<String> = c.techniques.iter().map(|t| format!("`{t}` (`mlxport explain {t}`)")).collect();
            s.push_str(&format!("- techniques: {}\n", ts.join(", ")));
        }
        if !c.families.is_empty() {
            let fs: Vec<String> = c.families.iter().map(|f| format!("`runbook/{f}`")).collect();
            s.push_str(&format!("- families: {}\n", fs.join(", ")));
        }
        if !c.sources.is_empty() {
            s.push_str(&format!("- sources to re-check: {}\n", c.sources.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ")));
        }
    }
    s
}
