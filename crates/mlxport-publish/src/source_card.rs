//! The source model's own card (its `README.md`, a Hugging Face model card
//! with optional YAML front matter), as the port keeps it
//! (`source/README.md` in PORT_DIR, `SOURCE_README.md` in the package):
//! the front matter's facts, the body without it, and the sections a
//! reader of a port must not lose (license, intended use, limitations,
//! citation), kept verbatim.

use std::fmt::Write as _;
use std::sync::OnceLock;

use regex::Regex;

/// Where the port keeps the source card, relative to PORT_DIR.
pub const PORT_PATH: &str = "source/README.md";
/// Where the package ships it, unchanged.
pub const PACKAGE_PATH: &str = "SOURCE_README.md";

/// A heading of the body and everything under it up to the next heading
/// of the same or a higher level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub level: usize,
    pub heading: String,
    /// The section's lines, its heading first, as in the card.
    pub text: String,
}

/// A parsed source card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceCard {
    /// Front matter: `key: value` (a list's items joined by `, `), in order.
    pub front: Vec<(String, Vec<String>)>,
    /// The card without its front matter.
    pub body: String,
}

/// The front matter keys the package card surfaces, with their labels.
const FACTS: [(&str, &str); 9] = [
    ("license", "license"),
    ("license_name", "license name"),
    ("license_link", "license link"),
    ("pipeline_tag", "pipeline tag"),
    ("base_model", "base model"),
    ("language", "language"),
    ("library_name", "library"),
    ("datasets", "datasets"),
    ("tags", "tags"),
];

fn kept_heading() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"(?i)licen[cs]e|intended|\buses?\b|out-of-scope|limitation|bias|risk|citation|\bcite\b|bibtex").expect("heading rule"))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let q = s.len() >= 2 && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')));
    if q { &s[1..s.len() - 1] } else { s }.to_string()
}

/// An ATX heading outside code: `(level, text)`.
fn heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_end();
    let level = t.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) || !t[level..].starts_with([' ', '\t']) {
        return None;
    }
    Some((level, t[level..].trim().trim_end_matches('#').trim().to_string()))
}

fn fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

impl SourceCard {
    pub fn parse(text: &str) -> SourceCard {
        let mut front: Vec<(String, Vec<String>)> = Vec::new();
        let mut body = text;
        let t = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Some(rest) = t.strip_prefix("---\n").or_else(|| t.strip_prefix("---\r\n")) {
            let mut end = None;
            let mut off = 0;
            for line in rest.split_inclusive('\n') {
                if line.trim_end() == "---" {
                    end = Some(off + line.len());
                    break;
                }
                off += line.len();
            }
            if let Some(end) = end {
                for line in rest[..off].lines() {
                    if let Some(item) = line.trim_start().strip_prefix("- ").filter(|_| line.starts_with([' ', '-'])) {
                        if let Some((_, v)) = front.last_mut() {
                            v.push(unquote(item));
                        }
                    } else if !line.starts_with([' ', '\t', '#']) {
                        if let Some((k, v)) = line.split_once(':') {
                            let v = unquote(v);
                            let v = v.trim_start_matches('[').trim_end_matches(']');
                            let items = if v.is_empty() { Vec::new() } else { v.split(',').map(unquote).filter(|x| !x.is_empty()).collect() };
                            front.push((k.trim().to_string(), items));
                        }
                    }
                }
                body = &rest[end..];
            }
        }
        SourceCard { front, body: body.trim_start_matches(['\n', '\r']).to_string() }
    }

    /// A front matter value, its items joined.
    pub fn get(&self, key: &str) -> Option<String> {
        self.front.iter().find(|(k, _)| k == key).map(|(_, v)| v.join(", ")).filter(|v| !v.is_empty())
    }

    /// The license the front matter declares.
    pub fn license(&self) -> Option<String> {
        self.get("license")
    }

    /// The surfaced front matter facts, labelled (long lists shortened).
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        FACTS
            .iter()
            .filter_map(|(k, label)| {
                let (_, v) = self.front.iter().find(|(x, _)| x == k)?;
                if v.is_empty() {
                    return None;
                }
                let s = if v.len() > 8 { format!("{} and {} more", v[..8].join(", "), v.len() - 8) } else { v.join(", ") };
                Some((*label, s))
            })
            .collect()
    }

    /// Every section of the body, in order (headings inside code blocks are
    /// not headings).
    pub fn sections(&self) -> Vec<Section> {
        let lines: Vec<&str> = self.body.split_inclusive('\n').collect();
        let mut heads: Vec<(usize, usize, String)> = Vec::new();
        let mut code = false;
        for (i, l) in lines.iter().enumerate() {
            if fence(l) {
                code = !code;
                continue;
            }
            if !code {
                if let Some((level, h)) = heading(l) {
                    heads.push((i, level, h));
                }
            }
        }
        heads
            .iter()
            .enumerate()
            .map(|(n, (i, level, h))| {
                let end = heads[n + 1..].iter().find(|(_, l, _)| l <= level).map(|(j, _, _)| *j).unwrap_or(lines.len());
                Section { level: *level, heading: h.clone(), text: lines[*i..end].concat() }
            })
            .collect()
    }

    /// The sections on license, intended use, limitations and citation
    /// (a kept section's subsections come with it, not again).
    pub fn kept(&self) -> Vec<Section> {
        let mut out: Vec<Section> = Vec::new();
        let mut inside: Option<usize> = None;
        for s in self.sections() {
            if inside.is_some_and(|l| s.level > l) {
                continue;
            }
            inside = None;
            if kept_heading().is_match(&s.heading) {
                inside = Some(s.level);
                out.push(s);
            }
        }
        out
    }

    /// The body without the kept sections.
    pub fn rest(&self) -> String {
        let mut rest = self.body.clone();
        for k in self.kept() {
            rest = rest.replacen(&k.text, "", 1);
        }
        rest
    }
}

/// `text` with its headings (outside code) moved down so the highest is
/// at `top`, none below level 6: the source's sections nest under the
/// package card's own.
pub fn demote(text: &str, top: usize) -> String {
    let mut code = false;
    let min = {
        let mut c = false;
        text.lines()
            .filter_map(|l| {
                if fence(l) {
                    c = !c;
                    return None;
                }
                (!c).then(|| heading(l).map(|(lv, _)| lv)).flatten()
            })
            .min()
            .unwrap_or(top)
    };
    let mut out = String::with_capacity(text.len() + 64);
    for l in text.split_inclusive('\n') {
        if fence(l) {
            code = !code;
        }
        match (!code).then(|| heading(l)).flatten() {
            Some((lv, _)) => {
                let new = (lv + top).saturating_sub(min).clamp(top, 6);
                let _ = write!(out, "{}{}", "#".repeat(new), &l[lv..]);
            }
            None => out.push_str(l),
        }
    }
    out
}

/// The package card's section for the source card.
pub fn render(card: &SourceCard) -> String {
    let mut s = String::from("## Source model card\n\n");
    let _ = writeln!(s, "The source model's own card, shipped unchanged as `{PACKAGE_PATH}`. Its front matter:\n");
    let facts = card.facts();
    if facts.is_empty() {
        s.push_str("- (no front matter)\n");
    }
    for (k, v) in facts {
        let _ = writeln!(s, "- {k}: {v}");
    }
    s.push('\n');
    let kept = card.kept();
    if !kept.is_empty() {
        s.push_str("### License, intended use, limitations and citation (verbatim)\n\n");
        for k in &kept {
            let mut t = demote(&k.text, 4);
            if !t.ends_with('\n') {
                t.push('\n');
            }
            s.push_str(&t);
            if !s.ends_with("\n\n") {
                s.push('\n');
            }
        }
    }
    let rest = card.rest();
    if !rest.trim().is_empty() {
        s.push_str("### The rest of the source card\n\n");
        let mut t = demote(rest.trim(), 4);
        t.push('\n');
        s.push_str(&t);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "---\nlanguage: en\nlicense: apache-2.0\nlicense_link: \"https://example.org/LICENSE\"\ntags:\n- sentence-transformers\n- feature-extraction\ndatasets: [a, b]\nmodel-index:\n  - name: x\n---\n\n# Model\nIntro.\n\n## Usage\n```python\n# Intended use: not a heading\nx = 1\n```\n\n## Intended uses\nFor search.\n\n### Out of scope\nWeapons.\n\n## Training\nData.\n\n## Citation\n```bibtex\n@article{x}\n```\n";

    #[test]
    fn front_matter_is_read_and_stripped() {
        let c = SourceCard::parse(CARD);
        assert_eq!(c.license().as_deref(), Some("apache-2.0"));
        assert_eq!(c.get("license_link").as_deref(), Some("https://example.org/LICENSE"));
        assert_eq!(c.get("tags").as_deref(), Some("sentence-transformers, feature-extraction"));
        assert_eq!(c.get("datasets").as_deref(), Some("a, b"));
        assert!(c.body.starts_with("# Model\n"), "{}", c.body);
        assert!(!c.body.contains("license:"));
        let facts: Vec<&str> = c.facts().iter().map(|(k, _)| *k).collect();
        assert_eq!(facts, ["license", "license link", "language", "datasets", "tags"]);
        // No front matter: the whole text is the body.
        let plain = SourceCard::parse("# Title\n---\nx\n");
        assert!(plain.front.is_empty() && plain.body == "# Title\n---\nx\n");
    }

    #[test]
    fn license_use_and_citation_sections_are_kept_verbatim() {
        let c = SourceCard::parse(CARD);
        let kept = c.kept();
        let heads: Vec<&str> = kept.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(heads, ["Intended uses", "Citation"], "a heading inside code is not one; a subsection comes with its parent");
        assert_eq!(kept[0].text, "## Intended uses\nFor search.\n\n### Out of scope\nWeapons.\n\n");
        assert_eq!(kept[1].text, "## Citation\n```bibtex\n@article{x}\n```\n");
        let rest = c.rest();
        assert!(rest.contains("## Training") && !rest.contains("Weapons") && !rest.contains("@article"), "{rest}");
    }

    #[test]
    fn the_rendered_section_nests_the_source_headings() {
        let r = render(&SourceCard::parse(CARD));
        assert!(r.starts_with("## Source model card\n"));
        assert!(r.contains("- license: apache-2.0\n"));
        assert!(r.contains("#### Intended uses\nFor search.\n\n##### Out of scope\n"), "{r}");
        assert!(r.contains("#### Model\nIntro."), "{r}");
        assert!(r.contains("# Intended use: not a heading"), "code is left alone: {r}");
        assert_eq!(r.lines().filter(|l| l.starts_with("## ")).count(), 1, "{r}");
    }
}
