//! A small strict reader for the license keys of a model card's YAML front
//! matter: top-level `license`, `license_name` and `license_link` only.
//!
//! A full YAML parser is not needed for three keys, and the maintained
//! options pull in far more code than this reader. It accepts the forms
//! cards actually use — a plain or quoted scalar, a flow list
//! `[mit, apache-2.0]`, a block list of `- item` lines — and reports
//! anything else (block scalars, mappings, a repeated key) instead of
//! guessing.

/// A key's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Scalar(String),
    List(Vec<String>),
}

/// The license keys found in a front matter.
#[derive(Debug, Default)]
pub(crate) struct CardKeys {
    /// Every `license:` occurrence (more than one is itself reported).
    pub license: Vec<Value>,
    pub license_name: Option<String>,
    pub license_link: Option<String>,
    /// Forms this reader does not accept, and repeated keys.
    pub notes: Vec<String>,
}

const MAX_ITEMS: usize = 32;
const MAX_SCALAR: usize = 512;

/// Read the license keys of a front matter.
pub(crate) fn card_keys(front: &str) -> CardKeys {
    let mut out = CardKeys::default();
    let lines: Vec<&str> = front.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some((key, rest)) = top_level_key(line) else { continue };
        if !matches!(key, "license" | "license_name" | "license_link") {
            continue;
        }
        let rest = rest.trim();
        let value = if rest.is_empty() || rest.starts_with('#') {
            // A block list on the following lines (items may sit at column 0).
            let mut items = Vec::new();
            while i < lines.len() {
                let l = lines[i];
                let t = l.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    i += 1;
                } else if t == "-" || t.starts_with("- ") || t.starts_with("-\t") {
                    if let Some(s) = scalar(&t[1..]) {
                        items.push(s);
                    }
                    i += 1;
                } else if l.starts_with([' ', '\t']) {
                    out.notes.push(format!("front matter `{key}` has a nested value this reader does not accept"));
                    i += 1;
                } else {
                    break;
                }
            }
            if items.is_empty() {
                None
            } else {
                Some(Value::List(items))
            }
        } else if let Some(flow) = rest.strip_prefix('[') {
            match flow_list(flow) {
                Some(items) if items.is_empty() => None,
                Some(items) => Some(Value::List(items)),
                None => {
                    out.notes.push(format!("front matter `{key}` has a malformed list"));
                    None
                }
            }
        } else if rest.starts_with(['|', '>', '{', '&', '*', '!']) {
            out.notes.push(format!("front matter `{key}` uses a YAML form this reader does not accept"));
            None
        } else {
            scalar(rest).map(Value::Scalar)
        };
        let Some(value) = value else { continue };
        match key {
            "license" => {
                if !out.license.is_empty() {
                    out.notes.push("front matter repeats the `license` key".into());
                }
                out.license.push(value);
            }
            _ => {
                let v = match value {
                    Value::Scalar(s) => s,
                    Value::List(items) => items.join(", "),
                };
                let slot = if key == "license_name" { &mut out.license_name } else { &mut out.license_link };
                if slot.is_some() {
                    out.notes.push(format!("front matter repeats the `{key}` key"));
                }
                *slot = Some(v);
            }
        }
    }
    out.license.truncate(MAX_ITEMS);
    out
}

/// `key: rest` for a line at column 0 (not a comment, list item or
/// continuation). The colon must end the line or be followed by a space.
fn top_level_key(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() || line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    let (k, rest) = line.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let k = k.trim();
    let k = k.strip_prefix('"').and_then(|k| k.strip_suffix('"')).or_else(|| k.strip_prefix('\'').and_then(|k| k.strip_suffix('\''))).unwrap_or(k);
    Some((k, rest))
}

/// A plain, single- or double-quoted scalar; `None` for null and empty.
fn scalar(s: &str) -> Option<String> {
    let s = s.trim();
    let v = if let Some(body) = s.strip_prefix('"') {
        let mut v = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some('t') => v.push('\t'),
                    Some(o) => v.push(o),
                    None => break,
                },
                c => v.push(c),
            }
        }
        v
    } else if let Some(body) = s.strip_prefix('\'') {
        let mut v = String::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    v.push('\'');
                } else {
                    break;
                }
            } else {
                v.push(c);
            }
        }
        v
    } else {
        // A plain scalar ends at a comment (` #`).
        let end = s.find(" #").or_else(|| s.find("\t#")).unwrap_or(s.len());
        let v = s[..end].trim();
        if matches!(v, "~" | "null" | "Null" | "NULL") {
            return None;
        }
        v.to_string()
    };
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some(super::bound(v, MAX_SCALAR).to_string())
}

/// The items of a flow list, given the text after `[`. `None` when the
/// closing `]` is missing or the list nests.
fn flow_list(s: &str) -> Option<Vec<String>> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut closed = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '[' | '{') => return None,
            (None, ',') => {
                items.extend(scalar(&cur));
                cur.clear();
            }
            (None, ']') => {
                closed = true;
                break;
            }
            (None, c) => cur.push(c),
        }
        if items.len() > MAX_ITEMS {
            return None;
        }
    }
    if !closed {
        return None;
    }
    items.extend(scalar(&cur));
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lic(front: &str) -> Vec<Value> {
        card_keys(front).license
    }

    #[test]
    fn scalars() {
        assert_eq!(lic("license: mit\n"), vec![Value::Scalar("mit".into())]);
        assert_eq!(lic("license: \"apache-2.0\" # quoted\n"), vec![Value::Scalar("apache-2.0".into())]);
        assert_eq!(lic("license: 'it''s'\n"), vec![Value::Scalar("it's".into())]);
        assert_eq!(lic("license: mit # comment\n"), vec![Value::Scalar("mit".into())]);
        assert!(lic("license: ~\n").is_empty());
        assert!(lic("license:mit\n").is_empty(), "not a YAML key");
        assert!(lic("  license: mit\n").is_empty(), "nested keys are not the card's license");
    }

    #[test]
    fn lists() {
        let both = vec![Value::List(vec!["mit".into(), "apache-2.0".into()])];
        assert_eq!(lic("license: [mit, \"apache-2.0\"]\n"), both);
        assert_eq!(lic("license:\n- mit\n- apache-2.0\ntags:\n- x\n"), both);
        assert_eq!(lic("license:\n  - mit\n\n  - apache-2.0 # two\nlanguage: en\n"), both);
        assert!(lic("license: []\n").is_empty());
        let k = card_keys("license: [mit\n");
        assert!(k.license.is_empty() && !k.notes.is_empty());
    }

    #[test]
    fn other_keys_and_odd_forms() {
        let k = card_keys("license: other\nlicense_name: qwen-research\nlicense_link: https://x.invalid/LICENSE\n");
        assert_eq!(k.license, vec![Value::Scalar("other".into())]);
        assert_eq!(k.license_name.as_deref(), Some("qwen-research"));
        assert_eq!(k.license_link.as_deref(), Some("https://x.invalid/LICENSE"));
        let k = card_keys("license: |\n  mit\n");
        assert!(k.license.is_empty() && !k.notes.is_empty());
        let k = card_keys("license: mit\nlicense: gpl-3.0\n");
        assert_eq!(k.license.len(), 2);
        assert!(k.notes.iter().any(|n| n.contains("repeats")));
    }
}
