//! The `SKILL.md` front matter and the limits of the Agent Skills format
//! (agentskills.io specification): `name` 1-64 characters of lowercase
//! letters, digits and single hyphens, not starting or ending with one, and
//! equal to the skill's directory name; `description` 1-1024 characters
//! saying what the skill does and when to use it; `compatibility` at most
//! 500 characters; `metadata` a map of strings; `license` and
//! `allowed-tools` optional. The body is kept under 500 lines.
//!
//! Only the YAML subset a skill header needs is read: `key: value` lines
//! with plain or quoted scalars, and one level of indented `key: value`
//! lines under `metadata:`.

use std::collections::BTreeMap;

pub const NAME_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 1024;
pub const COMPATIBILITY_MAX: usize = 500;
pub const BODY_LINES_MAX: usize = 500;
/// Fields the format defines.
pub const KNOWN: [&str; 6] = ["name", "description", "license", "compatibility", "metadata", "allowed-tools"];

/// A parsed header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    pub fields: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    /// Lines of Markdown after the header.
    pub body_lines: usize,
}

/// A broken rule: `error` breaks the format, otherwise a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub error: bool,
    pub message: String,
}

fn unquote(v: &str) -> Result<String, String> {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return Ok(inner.replace("\\\"", "\"").replace("\\\\", "\\"));
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Ok(inner.replace("''", "'"));
    }
    if v.contains(": ") || v.contains(" #") || v.starts_with(['&', '*', '!', '|', '>', '[', '{', '@', '`', '%']) {
        return Err(format!("plain value '{}' needs quotes in YAML (it contains ': ', ' #' or starts with an indicator)", short(v)));
    }
    Ok(v.to_string())
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Parse the header of a `SKILL.md`.
pub fn parse(text: &str) -> Result<FrontMatter, crate::Error> {
    parse_text(text).map_err(crate::Error::Invalid)
}

fn parse_text(text: &str) -> Result<FrontMatter, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err("the file must start with a '---' line opening the YAML front matter".into());
    }
    let mut fm = FrontMatter::default();
    let mut in_metadata = false;
    let mut closed = false;
    for (n, line) in lines.by_ref().enumerate() {
        let lno = n + 2;
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if !in_metadata {
                return Err(format!("line {lno}: indented line outside 'metadata:' (multi-line values are not supported; keep each value on one line)"));
            }
            let (k, v) = line.trim().split_once(':').ok_or_else(|| format!("line {lno}: expected 'key: value' under metadata"))?;
            let v = unquote(v).map_err(|e| format!("line {lno}: {e}"))?;
            if fm.metadata.insert(unquote(k).map_err(|e| format!("line {lno}: {e}"))?, v).is_some() {
                return Err(format!("line {lno}: duplicate metadata key '{k}'"));
            }
            continue;
        }
        let (k, v) = line.split_once(':').ok_or_else(|| format!("line {lno}: expected 'key: value'"))?;
        let k = k.trim().to_string();
        in_metadata = k == "metadata" && v.trim().is_empty();
        if in_metadata {
            if fm.fields.insert(k.clone(), String::new()).is_some() {
                return Err(format!("line {lno}: duplicate key '{k}'"));
            }
            continue;
        }
        let v = unquote(v).map_err(|e| format!("line {lno}: {e}"))?;
        if fm.fields.insert(k.clone(), v).is_some() {
            return Err(format!("line {lno}: duplicate key '{k}'"));
        }
    }
    if !closed {
        return Err("the front matter is not closed by a '---' line".into());
    }
    fm.body_lines = lines.count();
    Ok(fm)
}

/// Check the header against the format's limits; `dir_name` is the name
/// of the directory the skill is installed as.
pub fn check(fm: &FrontMatter, dir_name: &str) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut e = |m: String| out.push(Issue { error: true, message: m });
    match fm.fields.get("name") {
        None => e("front matter has no 'name'".into()),
        Some(n) => {
            let len = n.chars().count();
            if len == 0 || len > NAME_MAX {
                e(format!("name '{n}' has {len} characters; 1 to {NAME_MAX} allowed"));
            }
            if !n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                e(format!("name '{n}' may hold only lowercase letters, digits and hyphens"));
            }
            if n.starts_with('-') || n.ends_with('-') || n.contains("--") {
                e(format!("name '{n}' must not start or end with a hyphen or hold two in a row"));
            }
            if n != dir_name {
                e(format!("name '{n}' differs from the skill's directory name '{dir_name}'"));
            }
        }
    }
    match fm.fields.get("description") {
        None => e("front matter has no 'description'".into()),
        Some(d) => {
            let len = d.chars().count();
            if d.trim().is_empty() || len > DESCRIPTION_MAX {
                e(format!("description has {len} characters; 1 to {DESCRIPTION_MAX} allowed"));
            }
            if d.contains('<') || d.contains('>') {
                e("description must not contain '<' or '>'".into());
            }
            let l = d.to_lowercase();
            if !l.contains("use when") {
                e("description must say when to use the skill ('Use when ...')".into());
            }
            if !(l.contains("do not use") || l.contains("don't use") || l.contains("not for")) {
                e("description must say when not to use the skill ('Do not use ...')".into());
            }
        }
    }
    match fm.fields.get("compatibility") {
        None => out.push(Issue { error: true, message: "front matter has no 'compatibility'".into() }),
        Some(c) => {
            let len = c.chars().count();
            if c.trim().is_empty() || len > COMPATIBILITY_MAX {
                out.push(Issue { error: true, message: format!("compatibility has {len} characters; 1 to {COMPATIBILITY_MAX} allowed") });
            }
        }
    }
    for k in fm.fields.keys() {
        if !KNOWN.contains(&k.as_str()) {
            out.push(Issue { error: false, message: format!("front matter field '{k}' is not part of the skill format (known: {})", KNOWN.join(", ")) });
        }
    }
    if fm.body_lines > BODY_LINES_MAX {
        out.push(Issue {
            error: false,
            message: format!("SKILL.md body has {} lines; keep it under {BODY_LINES_MAX} and move detail to reference pages", fm.body_lines),
        });
    }
    out
}
