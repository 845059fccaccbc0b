//! Recognise a license file from short distinctive phrases (fingerprints),
//! robust to case, punctuation, Markdown markup and line wrapping.
//!
//! Each fingerprint has a *title* phrase that locates the license in the
//! text and confirming phrases that must also appear. When several
//! licenses match (a GPL text names the Affero GPL; a LICENSE file appends
//! third-party notices), the one whose title comes first is the file's
//! license and the others are reported as mentioned.

use std::sync::OnceLock;

use regex::Regex;

use super::table::{by_id, lookup, Known};

/// What a file's text was recognised as.
#[derive(Debug)]
pub(crate) enum Recognised {
    /// A license in the table.
    License(&'static Known),
    /// A license recognised by family but not in the table (e.g. a Llama
    /// community license of an unknown version).
    Named(String),
    /// An acceptable-use / prohibited-use policy that accompanies terms.
    UsePolicy(String),
}

/// A recognition with the phrase that decided it.
#[derive(Debug)]
pub(crate) struct Match {
    pub what: Recognised,
    pub phrase: String,
    /// Other licenses the text also mentions (ids or names).
    pub also: Vec<String>,
}

struct Print {
    id: &'static str,
    /// Any of these locates the license (first occurrence counts).
    titles: &'static [&'static str],
    /// Every one of these must appear.
    all: &'static [&'static str],
    /// At least one of these must appear (when non-empty).
    any: &'static [&'static str],
    /// None of these may appear.
    none: &'static [&'static str],
    policy: bool,
}

const fn p(id: &'static str, titles: &'static [&'static str], all: &'static [&'static str], any: &'static [&'static str]) -> Print {
    Print { id, titles, all, any, none: &[], policy: false }
}

const BSD_TITLE: &[&str] = &["redistribution and use in source and binary forms with or without modification are permitted"];
const BSD_ALL: &[&str] = &["redistributions in binary form must reproduce"];
const BSD_ENDORSE: &[&str] = &["neither the name of", "may be used to endorse or promote products"];
const RAIL_ANY: &[&str] = &["use based restrictions", "use restrictions", "attachment a"];

/// Phrases are written in normalised form (see [`normalise`]).
static PRINTS: &[Print] = &[
    p("apache-2.0", &["apache license"], &["version 2.0"], &["grant of patent license", "licensed under the apache license", "apache org licenses"]),
    p(
        "mit",
        &["permission is hereby granted free of charge to any person obtaining a copy"],
        &["the above copyright notice and this permission notice shall be included"],
        &[],
    ),
    p("bsd-3-clause", BSD_TITLE, BSD_ALL, BSD_ENDORSE),
    Print { id: "bsd-2-clause", titles: BSD_TITLE, all: BSD_ALL, any: &[], none: BSD_ENDORSE, policy: false },
    p("isc", &["permission to use copy modify and or distribute this software for any purpose with or without fee is hereby granted"], &[], &[]),
    p("agpl-3.0", &["gnu affero general public license"], &[], &["version 3 19 november 2007", "either version 3 of the license"]),
    p("lgpl-3.0", &["gnu lesser general public license"], &[], &["version 3 29 june 2007", "either version 3 of the license"]),
    p("lgpl-2.1", &["gnu lesser general public license"], &[], &["version 2.1 february 1999", "either version 2.1 of the license"]),
    p("lgpl-2.0", &["gnu library general public license"], &[], &["version 2 june 1991", "either version 2 of the license"]),
    p("gpl-3.0", &["gnu general public license"], &[], &["version 3 29 june 2007", "either version 3 of the license"]),
    p("gpl-2.0", &["gnu general public license"], &[], &["version 2 june 1991", "either version 2 of the license"]),
    p("mpl-2.0", &["mozilla public license version 2.0", "mozilla public license v 2.0", "mozilla public license 2.0"], &[], &[]),
    p("cc0-1.0", &["cc0 1.0 universal", "creative commons legal code cc0"], &[], &[]),
    p("unlicense", &["this is free and unencumbered software released into the public domain"], &[], &[]),
    p("gemma", &["gemma terms of use"], &[], &[]),
    Print { id: "Gemma Prohibited Use Policy", titles: &["gemma prohibited use policy"], all: &[], any: &[], none: &[], policy: true },
    p("openrail++", &["open rail++ m license", "openrail++ m license"], &[], &[]),
    p("creativeml-openrail-m", &["creativeml open rail m", "creativeml openrail m"], &[], &[]),
    p("bigscience-bloom-rail-1.0", &["bigscience rail license v1.0", "bigscience bloom rail 1.0"], &[], &[]),
    p("bigscience-openrail-m", &["bigscience open rail m", "bigscience openrail m"], &[], &[]),
    p("bigcode-openrail-m", &["bigcode open rail m", "bigcode openrail m"], &[], &[]),
    p("openrail", &["open rail m", "openrail m", "open rail license", "openrail license", "responsible ai license"], &[], RAIL_ANY),
    p("deepseek", &["deepseek license agreement"], &[], &[]),
    p("tongyi-qianwen", &["tongyi qianwen license agreement"], &[], &[]),
    p("qwen-research", &["qwen research license agreement"], &[], &[]),
    p("qwen", &["qwen license agreement"], &[], &[]),
    p("apple-ascl", &["this apple software is supplied to you by apple"], &[], &[]),
    p("apple-amlr", &["apple machine learning research model license"], &[], &[]),
];

/// Lowercase ASCII letters and digits kept; `+` kept (`rail++`); `.` kept
/// only between digits (`2.0`, `3.1`); everything else (punctuation,
/// Markdown, line breaks, non-ASCII) becomes one space.
pub(crate) fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for (i, &c) in chars.iter().enumerate() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_alphanumeric()
            || c == '+'
            || (c == '.' && i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()));
        if keep {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

fn creative_commons() -> &'static [Regex; 2] {
    static RE: OnceLock<[Regex; 2]> = OnceLock::new();
    RE.get_or_init(|| {
        let parts = r"((?: noncommercial| non commercial| sharealike| share alike| noderivatives| noderivs| no derivatives| no derivs| nc| sa| nd)*)";
        [Regex::new(&format!(r"creative commons attribution{parts} (\d\.\d)")).unwrap(), Regex::new(&format!(r"\bcc by{parts} (\d\.\d)")).unwrap()]
    })
}

fn llama() -> &'static [Regex; 2] {
    static RE: OnceLock<[Regex; 2]> = OnceLock::new();
    RE.get_or_init(|| {
        [Regex::new(r"\bllama (\d+(?:\.\d+)?) community license").unwrap(), Regex::new(r"\bllama (\d+(?:\.\d+)?) acceptable use policy").unwrap()]
    })
}

/// A candidate: position of its title, title length, what, phrase.
type Cand = (usize, usize, Recognised, String);

fn candidates(t: &str) -> Vec<Cand> {
    let mut out: Vec<Cand> = Vec::new();
    for pr in PRINTS {
        let Some((pos, title)) = pr.titles.iter().filter_map(|ti| t.find(ti).map(|pos| (pos, *ti))).min_by_key(|(pos, ti)| (*pos, usize::MAX - ti.len()))
        else {
            continue;
        };
        if !pr.all.iter().all(|a| t.contains(a)) || (!pr.any.is_empty() && !pr.any.iter().any(|a| t.contains(a))) || pr.none.iter().any(|a| t.contains(a)) {
            continue;
        }
        let what =
            if pr.policy { Recognised::UsePolicy(pr.id.to_string()) } else { Recognised::License(by_id(pr.id).expect("fingerprint ids exist in the table")) };
        out.push((pos, title.len(), what, title.to_string()));
    }
    for re in creative_commons() {
        if let Some(c) = re.captures(t) {
            let m = c.get(0).unwrap();
            let parts = &c[1];
            let nc = parts.contains("non") || parts.contains(" nc");
            let sa = parts.contains("share") || parts.contains(" sa");
            let nd = parts.contains("deriv") || parts.contains(" nd");
            let mut id = String::from("cc-by");
            if nc {
                id.push_str("-nc");
            }
            if sa {
                id.push_str("-sa");
            } else if nd {
                id.push_str("-nd");
            }
            id.push('-');
            id.push_str(&c[2]);
            let what = match lookup(&id) {
                Some(k) => Recognised::License(k),
                None => Recognised::Named(format!("Creative Commons {}", id.to_ascii_uppercase())),
            };
            out.push((m.start(), m.len(), what, m.as_str().to_string()));
        }
    }
    let [lic, aup] = llama();
    if let Some(c) = lic.captures(t) {
        let m = c.get(0).unwrap();
        let v = &c[1];
        let what = match lookup(&format!("llama{v}")) {
            Some(k) if k.id.starts_with("llama") => Recognised::License(k),
            _ => Recognised::Named(format!("Llama {v} Community License")),
        };
        out.push((m.start(), m.len(), what, m.as_str().to_string()));
    }
    if let Some(c) = aup.captures(t) {
        let m = c.get(0).unwrap();
        out.push((m.start(), m.len(), Recognised::UsePolicy(format!("Llama {} Acceptable Use Policy", &c[1])), m.as_str().to_string()));
    }
    if !out.iter().any(|c| matches!(c.2, Recognised::UsePolicy(_))) {
        if let Some(pos) = t.find("acceptable use policy") {
            out.push((pos, 21, Recognised::UsePolicy("acceptable-use policy".into()), "acceptable use policy".into()));
        }
    }
    out
}

fn label(r: &Recognised) -> String {
    match r {
        Recognised::License(k) => k.id.to_string(),
        Recognised::Named(n) | Recognised::UsePolicy(n) => n.clone(),
    }
}

/// Recognise a license text. `None` when nothing matches.
pub(crate) fn recognise(text: &str) -> Option<Match> {
    let t = normalise(text);
    let mut c = candidates(&t);
    // First title wins; at the same place the longer (more specific) title.
    // Texts open with their own title, so a license naming its use policy
    // and a policy naming its license are both told apart.
    c.sort_by_key(|(pos, len, _, _)| (*pos, usize::MAX - *len));
    let mut it = c.into_iter();
    let (_, _, what, phrase) = it.next()?;
    let first = label(&what);
    let mut also: Vec<String> = Vec::new();
    for (_, _, w, _) in it {
        let l = label(&w);
        if l != first && !also.contains(&l) && !matches!(w, Recognised::UsePolicy(_)) {
            also.push(l);
        }
    }
    Some(Match { what, phrase, also })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalise("**LLAMA 3.1 COMMUNITY\r\n LICENSE**"), "llama 3.1 community license");
        assert_eq!(normalise("Version 2.0, January 2004."), "version 2.0 january 2004");
        assert_eq!(normalise("and/or"), "and or");
        assert_eq!(normalise("RAIL++-M"), "rail++ m");
        assert_eq!(normalise("  "), "");
    }

    #[test]
    fn every_fingerprint_phrase_is_normalised() {
        for pr in PRINTS {
            for ph in pr.titles.iter().chain(pr.all).chain(pr.any).chain(pr.none) {
                assert_eq!(&normalise(ph), ph, "{}", pr.id);
            }
            if !pr.policy {
                assert!(by_id(pr.id).is_some(), "{}", pr.id);
            }
        }
    }
}
