//! License detection and policy: what license a checkpoint is under, which
//! policy class that puts it in, and the explicit answer to "may converted
//! weights be redistributed?", with the reason and the evidence.
//!
//! Sources, each optional: the `license` key of config.json, the README's
//! YAML front matter (`license`, `license_name`, `license_link`), license
//! files recognised by fingerprint (LICENSE, COPYING, USE_POLICY.md,
//! NOTICE, ...) and GGUF `general.license` / `general.license.link`.
//! When sources disagree the disagreement is reported and the more
//! restrictive license governs. Nothing found means all rights reserved.
//!
//! The verdict is a packaging policy, not legal advice: `mlxport package`
//! refuses restricted or unknown terms unless the user accepts them.

mod fingerprint;
mod table;
mod yaml;

use serde::Serialize;

use fingerprint::Recognised;
use table::Known;

/// Policy class of a license.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseClass {
    /// Redistribution and commercial use allowed with notices kept.
    Permissive,
    /// Redistribution allowed under the same license (share-alike).
    Copyleft,
    /// Non-commercial, no-derivatives, or custom terms with use restrictions.
    Restricted,
    /// Nothing found, or terms mlxport does not recognise.
    Unknown,
}

/// May converted weights be redistributed?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Redistribution {
    /// Yes, with notices kept.
    Yes,
    /// Yes, under conditions beyond notices (same license, non-commercial,
    /// use policy, attribution wording, ...).
    Conditional,
    /// No.
    No,
    /// The terms could not be read; a person has to.
    Unknown,
}

impl LicenseClass {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseClass::Permissive => "permissive",
            LicenseClass::Copyleft => "copyleft",
            LicenseClass::Restricted => "restricted",
            LicenseClass::Unknown => "unknown",
        }
    }
    fn rank(self) -> u8 {
        self as u8
    }
}

impl Redistribution {
    pub fn as_str(self) -> &'static str {
        match self {
            Redistribution::Yes => "yes",
            Redistribution::Conditional => "conditional",
            Redistribution::No => "no",
            Redistribution::Unknown => "unknown",
        }
    }
    /// Restrictiveness: yes < conditional < unknown < no.
    fn rank(self) -> u8 {
        match self {
            Redistribution::Yes => 0,
            Redistribution::Conditional => 1,
            Redistribution::Unknown => 2,
            Redistribution::No => 3,
        }
    }
}

impl std::fmt::Display for LicenseClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Redistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the license assessment reads. The caller gathers it from the
/// model's files; texts are bounded again here.
#[derive(Clone, Debug, Default)]
pub struct LicenseInput {
    /// config.json's `license` value, if any.
    pub config_license: Option<String>,
    /// The README's YAML front matter (see [`front_matter`]).
    pub card_front_matter: Option<String>,
    /// License-like files: (path relative to the model root, text).
    pub license_files: Vec<(String, String)>,
    /// GGUF `general.license`.
    pub gguf_license: Option<String>,
    /// GGUF `general.license.link`.
    pub gguf_license_link: Option<String>,
}

/// One piece of evidence: where it came from and what it said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// `config`, `card`, `file:PATH` or `gguf`.
    pub source: String,
    pub value: String,
}

/// The license verdict.
#[derive(Clone, Debug, Serialize)]
pub struct LicenseVerdict {
    /// Hugging Face Hub license id: the SPDX id lowercased (`apache-2.0`,
    /// `cc-by-nc-4.0`) or a well-known non-SPDX id (`llama3.1`, `gemma`,
    /// `openrail++`, `other`). `None` when no license was found.
    pub spdx: Option<String>,
    /// Human-readable name (a card's `license_name` for `other`).
    pub name: Option<String>,
    pub class: LicenseClass,
    pub redistribution: Redistribution,
    /// The answer in plain words.
    pub reason: String,
    /// Restricted or unknown terms need the user's explicit acceptance
    /// before packaging.
    pub requires_acceptance: bool,
    /// What a package of converted weights must carry or respect.
    pub conditions: Vec<String>,
    pub evidence: Vec<Evidence>,
    /// Disagreements between sources and unreadable declarations.
    pub conflicts: Vec<String>,
}

/// Bound for one short value (config, GGUF, link).
pub const MAX_VALUE_BYTES: usize = 1024;
/// Bound for the front matter and for each license file's text.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// License files read beyond this count are ignored (and reported).
pub const MAX_LICENSE_FILES: usize = 64;
/// Evidence values are cut to this many characters.
const MAX_EVIDENCE_CHARS: usize = 200;

/// Cut a string to at most `max` bytes at a character boundary.
pub(crate) fn bound(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Text from raw file bytes for [`LicenseInput`]: at most `limit` bytes
/// read, invalid UTF-8 replaced.
pub fn text_from_bytes(bytes: &[u8], limit: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(limit)]).into_owned()
}

/// The YAML front matter of a README: the text between a first line `---`
/// and the next line `---` (a leading byte-order mark is allowed; CRLF line
/// ends too). `None` when the README does not open with front matter or it
/// is never closed.
pub fn front_matter(readme: &str) -> Option<&str> {
    let s = readme.strip_prefix('\u{feff}').unwrap_or(readme);
    let first = s.find('\n')?;
    if s[..first].trim_end() != "---" {
        return None;
    }
    let start = first + 1;
    let mut pos = start;
    while pos <= s.len() {
        let end = s[pos..].find('\n').map_or(s.len(), |i| pos + i);
        let line = s[pos..end].trim_end();
        if line == "---" || line == "..." {
            return Some(&s[start..pos]);
        }
        if end == s.len() {
            break;
        }
        pos = end + 1;
    }
    None
}

/// Clean a value for a report: control characters dropped, whitespace
/// collapsed, length bounded.
fn clean(s: &str) -> String {
    let mut out = String::new();
    for w in s.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    if out.chars().count() > MAX_EVIDENCE_CHARS {
        out = out.chars().take(MAX_EVIDENCE_CHARS).collect();
        out.push('…');
    }
    out
}

/// The terms one source points to.
#[derive(Clone, Debug)]
struct Terms {
    /// Known entry (or `None` for `other` / custom terms).
    known: Option<&'static Known>,
    /// Name for custom terms.
    name: Option<String>,
    class: LicenseClass,
    redistribution: Redistribution,
    reason: String,
    conditions: Vec<String>,
    /// Ids a dual/multi license offers (empty for a single license).
    options: Vec<&'static str>,
}

impl Terms {
    fn known(k: &'static Known) -> Terms {
        Terms {
            known: Some(k),
            name: Some(k.name.to_string()),
            class: k.class,
            redistribution: k.redistribution,
            reason: k.reason.to_string(),
            conditions: k.conditions.iter().map(|c| c.to_string()).collect(),
            options: Vec::new(),
        }
    }

    /// `license: other`, with or without a name or link.
    fn other(name: Option<String>, link: Option<&str>) -> Terms {
        let label = match (&name, link) {
            (Some(n), Some(l)) => format!("custom terms \"{n}\" ({l})"),
            (Some(n), None) => format!("custom terms \"{n}\""),
            (None, Some(l)) => format!("custom terms ({l})"),
            (None, None) => "custom terms (license: other, no name or link given)".to_string(),
        };
        let named = name.is_some() || link.is_some();
        Terms {
            known: None,
            name,
            class: if named { LicenseClass::Restricted } else { LicenseClass::Unknown },
            redistribution: Redistribution::Unknown,
            reason: format!("{label}: mlxport cannot read custom terms, so a person must check whether converted weights may be redistributed"),
            conditions: vec!["read the terms before redistributing".into(), "include the license text and any notices it requires".into()],
            options: Vec::new(),
        }
    }

    fn id(&self) -> &str {
        self.known.map_or("other", |k| k.id)
    }

    /// Larger is more restrictive.
    fn severity(&self) -> (u8, u8) {
        (self.redistribution.rank(), self.class.rank())
    }

    /// Whether two sources agree (a dual license agrees with any of its
    /// options).
    fn agrees(&self, o: &Terms) -> bool {
        self.id() == o.id() || self.options.contains(&o.id()) || o.options.contains(&self.id())
    }
}

/// How a declared value reads.
enum Read {
    Terms(Terms),
    /// "unknown", "none", empty: the source declares nothing.
    Nothing,
    /// A value that names no license mlxport knows.
    Unrecognised(String),
}

/// Combine several licenses: `choice` (a dual license, `OR`, a card's list)
/// takes the most permissive option, otherwise (`AND`) the most restrictive.
fn combine(parts: Vec<&'static Known>, choice: bool) -> Terms {
    let ids: Vec<&'static str> = parts.iter().map(|k| k.id).collect();
    let sev = |k: &Known| (k.redistribution.rank(), k.class.rank());
    // The first listed of equals wins, in both directions.
    let target = if choice { parts.iter().map(|k| sev(k)).min() } else { parts.iter().map(|k| sev(k)).max() };
    let pick = *parts.iter().find(|k| Some(sev(k)) == target).expect("non-empty");
    let mut t = Terms::known(pick);
    let list = ids.join(" or ");
    if choice {
        t.reason = format!("dual-licensed ({list}): the user may choose any of them, and mlxport assumes the most permissive, {}; {}", pick.id, pick.reason);
        t.options = ids;
    } else {
        t.reason = format!("all of {} apply, so the most restrictive, {}, governs; {}", ids.join(" and "), pick.id, pick.reason);
        for k in &parts {
            for c in k.conditions {
                if !t.conditions.iter().any(|x| x == c) {
                    t.conditions.push(c.to_string());
                }
            }
        }
    }
    t
}

/// Read one declared value: an id, an alias, a name or a small SPDX
/// expression (`MIT OR Apache-2.0`, `GPL-2.0 WITH Classpath-exception-2.0`).
fn read_value(raw: &str) -> Read {
    let v = clean(bound(raw, MAX_VALUE_BYTES));
    let k = table::key(&v);
    if matches!(k.as_str(), "" | "unknown" | "none" | "null" | "noassertion" | "na" | "unlicensed" | "notspecified") {
        return Read::Nothing;
    }
    if k == "other" {
        return Read::Terms(Terms::other(None, None));
    }
    if let Some(known) = table::lookup(&v) {
        return Read::Terms(Terms::known(known));
    }
    if v.starts_with("https://") || v.starts_with("http://") {
        return match table::from_link(&v) {
            Some(known) => Read::Terms(Terms::known(known)),
            None => Read::Unrecognised(v),
        };
    }
    let stripped = v.replace(['(', ')'], " ");
    let lower = stripped.to_ascii_lowercase();
    // `X WITH exception`: the exception only adds permissions.
    if let Some(i) = lower.find(" with ") {
        if let Some(known) = table::lookup(&stripped[..i]) {
            return Read::Terms(Terms::known(known));
        }
    }
    let words: Vec<&str> = stripped.split_whitespace().collect();
    let is_and = words.iter().any(|w| w.eq_ignore_ascii_case("and"));
    let is_or = words.iter().any(|w| w.eq_ignore_ascii_case("or")) || v.contains(" / ") || v.contains('/');
    if is_and || is_or {
        let parts: Vec<String> = stripped
            .split(['/', '|'])
            .flat_map(|p| {
                let mut out = Vec::new();
                let mut cur: Vec<&str> = Vec::new();
                for w in p.split_whitespace() {
                    if w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") {
                        out.push(cur.join(" "));
                        cur.clear();
                    } else {
                        cur.push(w);
                    }
                }
                out.push(cur.join(" "));
                out
            })
            .filter(|p| !p.trim().is_empty())
            .collect();
        let known: Vec<&'static Known> = parts.iter().filter_map(|p| table::lookup(p)).collect();
        if parts.len() > 1 && known.len() == parts.len() {
            // Mixed AND/OR without a parser is read conservatively as AND.
            return Read::Terms(combine(known, !is_and));
        }
    }
    Read::Unrecognised(v)
}

/// A source's claim.
struct Claim {
    source: String,
    terms: Terms,
    /// Tie-break between equally restrictive claims: a license file's text
    /// beats a card tag, which beats config.json, which beats GGUF.
    priority: u8,
}

/// Collects evidence, claims and notes while the sources are read.
#[derive(Default)]
struct Gather {
    evidence: Vec<Evidence>,
    claims: Vec<Claim>,
    /// Declared values that name no known license.
    unrecognised: Vec<(String, String)>,
    notes: Vec<String>,
    /// (path, policy name) of use-policy files.
    policies: Vec<(String, String)>,
    notices: Vec<String>,
    /// Files recognised as a license: (path, id).
    license_files: Vec<(String, String)>,
}

impl Gather {
    fn evidence(&mut self, source: &str, value: impl AsRef<str>) {
        self.evidence.push(Evidence { source: source.to_string(), value: clean(value.as_ref()) });
    }

    fn claim(&mut self, source: &str, terms: Terms, priority: u8) {
        self.claims.push(Claim { source: source.to_string(), terms, priority });
    }

    fn read(&mut self, source: &str, raw: &str, priority: u8) {
        match read_value(raw) {
            Read::Terms(t) => self.claim(source, t, priority),
            Read::Nothing => {}
            Read::Unrecognised(v) => self.unrecognised.push((source.to_string(), v)),
        }
    }

    fn card(&mut self, front: &str) {
        let keys = yaml::card_keys(bound(front, MAX_TEXT_BYTES));
        for n in &keys.notes {
            self.notes.push(n.clone());
        }
        let name = keys.license_name.as_deref().map(clean);
        let link = keys.license_link.as_deref().map(clean);
        let mut declared_other = keys.license.is_empty();
        for value in &keys.license {
            match value {
                yaml::Value::Scalar(s) => {
                    self.evidence("card", format!("license: {s}"));
                    if table::key(s) == "other" {
                        declared_other = true;
                    } else {
                        self.read("card", s, 1);
                    }
                }
                yaml::Value::List(items) => {
                    self.evidence("card", format!("license: [{}]", items.join(", ")));
                    let mut known = Vec::new();
                    for item in items {
                        match read_value(item) {
                            Read::Terms(t) if t.known.is_some() && t.options.is_empty() => known.push(t.known.unwrap()),
                            Read::Terms(t) if t.known.is_none() => declared_other = true,
                            Read::Terms(t) => known.extend(t.options.iter().filter_map(|id| table::by_id(id))),
                            Read::Nothing => {}
                            Read::Unrecognised(v) => self.unrecognised.push(("card".into(), v)),
                        }
                    }
                    if known.len() == 1 && !declared_other {
                        self.claim("card", Terms::known(known[0]), 1);
                    } else if !known.is_empty() {
                        if declared_other {
                            self.notes.push("the card's license list includes `other`; only the named options are assessed".into());
                        }
                        self.claim("card", combine(known, true), 1);
                        declared_other = false;
                    }
                }
            }
        }
        if let Some(n) = &name {
            self.evidence("card", format!("license_name: {n}"));
        }
        if let Some(l) = &link {
            self.evidence("card", format!("license_link: {l}"));
        }
        if !declared_other {
            return;
        }
        // `license: other` (or no license key): the name or the link may
        // still name a known license.
        if let Some(k) = name.as_deref().and_then(table::lookup).or_else(|| link.as_deref().and_then(table::from_link)) {
            self.claim("card", Terms::known(k), 1);
        } else if !keys.license.is_empty() || name.is_some() || link.is_some() {
            self.claim("card", Terms::other(name, link.as_deref()), 1);
        }
    }

    fn file(&mut self, path: &str, text: &str) {
        let source = format!("file:{}", clean(path));
        let text = bound(text, MAX_TEXT_BYTES);
        let base = path.rsplit('/').next().unwrap_or(path).to_ascii_uppercase();
        match fingerprint::recognise(text) {
            Some(m) => {
                let also = if m.also.is_empty() { String::new() } else { format!("; also mentions {}", m.also.join(", ")) };
                match m.what {
                    Recognised::License(k) => {
                        self.evidence(&source, format!("{} (matched \"{}\"){also}", k.id, m.phrase));
                        self.license_files.push((path.to_string(), k.id.to_string()));
                        self.claim(&source, Terms::known(k), 0);
                    }
                    Recognised::Named(n) => {
                        self.evidence(&source, format!("{n} (matched \"{}\"){also}", m.phrase));
                        self.claim(&source, Terms::other(Some(n), None), 0);
                    }
                    Recognised::UsePolicy(n) => {
                        self.evidence(&source, format!("use policy: {n} (matched \"{}\")", m.phrase));
                        self.policies.push((path.to_string(), n));
                    }
                }
            }
            None if base.starts_with("NOTICE") => {
                self.evidence(&source, "notice file");
                self.notices.push(path.to_string());
            }
            None if base.contains("POLICY") => {
                self.evidence(&source, "use policy (not recognised)");
                self.policies.push((path.to_string(), "use policy".into()));
            }
            None => {
                self.evidence(&source, format!("text not recognised ({} bytes)", text.len()));
                self.unrecognised.push((source, String::new()));
            }
        }
    }

    fn gguf(&mut self, license: Option<&str>, link: Option<&str>) {
        let mut other = false;
        if let Some(l) = license {
            self.evidence("gguf", format!("general.license: {l}"));
            match read_value(l) {
                Read::Terms(t) if t.known.is_none() => other = true,
                Read::Terms(t) => self.claim("gguf", t, 3),
                Read::Nothing => {}
                Read::Unrecognised(v) => self.unrecognised.push(("gguf".into(), v)),
            }
        }
        if let Some(l) = link {
            self.evidence("gguf", format!("general.license.link: {l}"));
        }
        if other || license.is_none() {
            if let Some(k) = link.and_then(table::from_link) {
                self.claim("gguf", Terms::known(k), 3);
            } else if other {
                self.claim("gguf", Terms::other(None, link.map(clean).as_deref()), 3);
            }
        }
    }
}

/// Assess a checkpoint's license from every source it has.
pub fn assess(input: &LicenseInput) -> LicenseVerdict {
    let mut g = Gather::default();
    if let Some(c) = &input.config_license {
        g.evidence("config", c);
        g.read("config", c, 2);
    }
    if let Some(front) = &input.card_front_matter {
        g.card(front);
    }
    for (path, text) in input.license_files.iter().take(MAX_LICENSE_FILES) {
        g.file(path, text);
    }
    if input.license_files.len() > MAX_LICENSE_FILES {
        g.notes.push(format!("{} license files; only the first {MAX_LICENSE_FILES} were read", input.license_files.len()));
    }
    g.gguf(input.gguf_license.as_deref(), input.gguf_license_link.as_deref());
    decide(g)
}

fn decide(g: Gather) -> LicenseVerdict {
    let Gather { evidence, claims, unrecognised, notes, policies, notices, license_files } = g;
    let (known, custom): (Vec<&Claim>, Vec<&Claim>) = claims.iter().partition(|c| c.terms.known.is_some());

    // The governing claim: the most restrictive known license (ties: the
    // stronger source); custom terms govern only when no restricted
    // license explains them.
    let worst_known = known
        .iter()
        .copied()
        .max_by(|a, b| a.terms.severity().cmp(&b.terms.severity()).then(b.priority.cmp(&a.priority)).then(b.terms.options.len().cmp(&a.terms.options.len())));
    let governing: Option<&Claim> = match (worst_known, custom.first()) {
        (Some(k), Some(_)) if k.terms.class != LicenseClass::Restricted => Some(named_custom(&custom)),
        (Some(k), _) => Some(k),
        (None, Some(_)) => Some(named_custom(&custom)),
        (None, None) => None,
    };

    let mut conflicts = Vec::new();
    if let Some(w) = governing {
        for c in &known {
            // (Custom terms govern only when no restricted license is known, so
            // every known claim that disagrees here is a real conflict.)
            if !c.terms.agrees(&w.terms) {
                conflicts.push(format!(
                    "{} says {} but {} says {}; the more restrictive, {}, governs",
                    c.source,
                    c.terms.id(),
                    w.source,
                    w.terms.id(),
                    w.terms.id()
                ));
            }
        }
        if w.terms.known.is_some() {
            for c in custom.iter().filter(|c| c.terms.name.is_some()) {
                conflicts.push(format!(
                    "{} names custom terms \"{}\" but the verdict follows {}'s {}; check that they agree",
                    c.source,
                    c.terms.name.as_deref().unwrap_or_default(),
                    w.source,
                    w.terms.id()
                ));
            }
        }
        for (src, v) in &unrecognised {
            conflicts.push(format!("{}; check that it agrees with {}", unrecognised_phrase(src, v), w.terms.id()));
        }
    }
    conflicts.extend(notes);

    let Some(w) = governing else {
        return nothing_found(evidence, conflicts, &unrecognised, &policies, &notices);
    };
    let t = &w.terms;
    let mut conditions = t.conditions.clone();
    let mut push = |c: String| {
        if !conditions.contains(&c) {
            conditions.push(c);
        }
    };
    for (path, id) in &license_files {
        if t.agrees(&Terms::known(table::by_id(id).expect("recognised ids exist"))) {
            push(format!("ship {path} unchanged"));
        }
    }
    for path in &notices {
        push(format!("ship {path} unchanged"));
    }
    for (path, name) in &policies {
        push(format!("ship {path} unchanged ({name})"));
    }
    let requires_acceptance = matches!(t.class, LicenseClass::Restricted | LicenseClass::Unknown);
    LicenseVerdict {
        spdx: Some(t.id().to_string()),
        name: t.name.clone(),
        class: t.class,
        redistribution: t.redistribution,
        reason: t.reason.clone(),
        requires_acceptance,
        conditions,
        evidence,
        conflicts,
    }
}

/// The custom-terms claim to report: the first with a name.
fn named_custom<'a>(custom: &[&'a Claim]) -> &'a Claim {
    custom.iter().find(|c| c.terms.name.is_some()).copied().unwrap_or(custom[0])
}

fn unrecognised_phrase(src: &str, v: &str) -> String {
    if src.starts_with("file:") {
        format!("{src}: the text is not a license mlxport recognises")
    } else {
        format!("{src}: \"{v}\" is not a license mlxport recognises")
    }
}

/// No source names a license mlxport knows.
fn nothing_found(
    evidence: Vec<Evidence>,
    conflicts: Vec<String>,
    unrecognised: &[(String, String)],
    policies: &[(String, String)],
    notices: &[String],
) -> LicenseVerdict {
    let mut conditions: Vec<String> = Vec::new();
    for p in notices {
        conditions.push(format!("ship {p} unchanged"));
    }
    for (p, n) in policies {
        conditions.push(format!("ship {p} unchanged ({n})"));
    }
    if let Some((src, v)) = unrecognised.first() {
        conditions.insert(0, "read the terms before redistributing".into());
        return LicenseVerdict {
            spdx: Some("other".into()),
            name: (!src.starts_with("file:")).then(|| v.clone()),
            class: LicenseClass::Unknown,
            redistribution: Redistribution::Unknown,
            reason: format!(
                "a license is declared but not recognised ({}); a person must read it before converted weights are redistributed",
                unrecognised_phrase(src, v)
            ),
            requires_acceptance: true,
            conditions,
            evidence,
            conflicts,
        };
    }
    if let Some((p, n)) = policies.first() {
        conditions.insert(0, "read the terms before redistributing".into());
        return LicenseVerdict {
            spdx: Some("other".into()),
            name: Some(format!("terms with {n}")),
            class: LicenseClass::Restricted,
            redistribution: Redistribution::Unknown,
            reason: format!(
                "only a use policy ({p}) was found: the model comes with use restrictions, but the license they belong to is missing; find it before redistributing"
            ),
            requires_acceptance: true,
            conditions,
            evidence,
            conflicts,
        };
    }
    conditions.insert(0, "obtain the rights holder's permission before redistributing".into());
    LicenseVerdict {
        spdx: None,
        name: None,
        class: LicenseClass::Unknown,
        redistribution: Redistribution::No,
        reason: "no license found; treat as all rights reserved: converted weights may not be redistributed without the rights holder's permission".into(),
        requires_acceptance: true,
        conditions,
        evidence,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let Read::Terms(t) = read_value("MIT OR Apache-2.0") else { panic!() };
        assert_eq!(t.id(), "mit");
        assert_eq!(t.options, vec!["mit", "apache-2.0"]);
        let Read::Terms(t) = read_value("(Apache-2.0 AND CC-BY-NC-4.0)") else { panic!() };
        assert_eq!(t.id(), "cc-by-nc-4.0");
        let Read::Terms(t) = read_value("GPL-2.0-only WITH Classpath-exception-2.0") else { panic!() };
        assert_eq!(t.id(), "gpl-2.0");
        assert!(matches!(read_value("NOASSERTION"), Read::Nothing));
        assert!(matches!(read_value("my own terms or else"), Read::Unrecognised(_)));
    }

    #[test]
    fn bounds_and_cleaning() {
        assert_eq!(bound("aé", 2), "a");
        assert_eq!(clean("a\u{0}b\n\n c"), "a b c");
        assert!(clean(&"x ".repeat(1000)).chars().count() <= MAX_EVIDENCE_CHARS + 1);
        assert_eq!(text_from_bytes(b"ok\xff", 10), "ok\u{fffd}");
        assert_eq!(text_from_bytes(b"abcdef", 3), "abc");
    }
}
