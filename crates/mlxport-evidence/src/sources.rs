//! The rules every evidence source must follow (`mlxport sources
//! validate`), checked offline.
//!
//! - URLs: `https` only; no user name or password; no loopback, private,
//!   link-local or otherwise non-public host (IP literals and names such
//!   as `localhost` or `*.internal`); no credential-like query parameters.
//! - `kind = "repository"`: a full 40-hex `commit`, and the URL names it.
//! - `kind = "package"`: a `version` (`name X.Y.Z`); a repository URL
//!   points at that version's tag or at a full commit.
//! - `kind = "docs"`: a `date` (`YYYY-MM-DD`) the page was read.
//! - `kind = "paper"`: a `version`; an arXiv URL names that version.
//! - `kind = "spec"`: a `version` or a `date`.
//! - Unique, non-empty ids and titles.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mlxport_kb::data::Source;
use serde::Serialize;

/// The kinds of source and how each is pinned.
pub const KINDS: [&str; 5] = ["repository", "package", "docs", "paper", "spec"];

/// One rule a source breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The source id (or `#N` for an entry without one).
    pub source: String,
    /// Short rule name: `https-only`, `commit-pinned`, ...
    pub rule: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "source {}: {} ({})", self.source, self.message, self.rule)
    }
}

/// What URLs are allowed: the normal policy, or the loopback allowance
/// that only the tests of `--check-urls` use (a local server speaks plain
/// HTTP on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// Test only: accept `http` and loopback hosts. Never set by the CLI.
    pub allow_loopback_http: bool,
}

/// Query parameters that carry credentials.
const SECRET_PARAMS: [&str; 12] =
    ["token", "access_token", "api_key", "apikey", "key", "password", "passwd", "secret", "sig", "signature", "auth", "x-amz-signature"];

/// Check one URL against the policy; `Err` names the rule and the reason.
pub fn check_url(raw: &str, policy: UrlPolicy) -> Result<url::Url, (&'static str, String)> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(("url-syntax", format!("URL '{raw}' contains whitespace or control characters")));
    }
    let u = url::Url::parse(raw).map_err(|e| ("url-syntax", format!("URL '{raw}' does not parse: {e}")))?;
    let loopback_ok = policy.allow_loopback_http;
    match u.scheme() {
        "https" => {}
        "http" if loopback_ok => {}
        s => return Err(("https-only", format!("URL '{raw}' uses {s}; only https is allowed"))),
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(("no-credentials", format!("URL '{}' carries a user name or password", redact(&u))));
    }
    for (k, _) in u.query_pairs() {
        let k = k.to_ascii_lowercase();
        if SECRET_PARAMS.contains(&k.as_str()) || k.ends_with("_token") || k.ends_with("_key") {
            return Err(("no-credentials", format!("URL '{}' has a credential-like query parameter '{k}'", redact(&u))));
        }
    }
    let host = match u.host() {
        None => return Err(("public-host", format!("URL '{raw}' has no host"))),
        Some(h) => h,
    };
    let ip = match host {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    };
    let name = match host {
        url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        _ => String::new(),
    };
    let is_loopback = ip.map(|a| a.is_loopback()).unwrap_or(false) || name == "localhost" || name.ends_with(".localhost");
    if is_loopback {
        if loopback_ok {
            return Ok(u);
        }
        return Err(("public-host", format!("URL '{raw}' points at a loopback host")));
    }
    if let Some(a) = ip {
        if !is_public_ip(a) {
            return Err(("public-host", format!("URL '{raw}' points at a private, link-local or reserved address")));
        }
    } else {
        let private_suffix = [".local", ".internal", ".lan", ".home", ".corp", ".intranet", ".localdomain", ".home.arpa"];
        if !name.contains('.') || private_suffix.iter().any(|s| name.ends_with(s)) {
            return Err(("public-host", format!("URL '{raw}' names a private host '{name}'")));
        }
    }
    Ok(u)
}

fn redact(u: &url::Url) -> String {
    let mut v = u.clone();
    let _ = v.set_username("");
    let _ = v.set_password(None);
    v.set_query(None);
    v.to_string()
}

fn is_public_ip(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => is_public_v4(v),
        IpAddr::V6(v) => {
            if let Some(v4) = v.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v.segments();
            !(v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)) // documentation
                && v != Ipv6Addr::UNSPECIFIED
        }
    }
}

fn is_public_v4(v: Ipv4Addr) -> bool {
    let o = v.octets();
    !(v.is_private()
        || v.is_loopback()
        || v.is_link_local()
        || v.is_unspecified()
        || v.is_broadcast()
        || v.is_documentation()
        || v.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || o[0] >= 240)
}

fn is_hex40(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `YYYY-MM-DD` with a real month and day.
pub fn is_date(s: &str) -> bool {
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 || !s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return false;
    }
    let (y, m, d): (u32, u32, u32) = match (p[0].parse(), p[1].parse(), p[2].parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return false,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize] && y >= 1990
}

/// The git ref a GitHub file URL names (`/blob/REF/...`, `/tree/REF/...`,
/// `/commit/REF`), if any.
pub fn github_ref(u: &url::Url) -> Option<String> {
    if u.host_str()? != "github.com" {
        return None;
    }
    let segs: Vec<&str> = u.path_segments()?.collect();
    if segs.len() >= 4 && matches!(segs[2], "blob" | "tree" | "commit" | "raw") {
        return Some(segs[3].to_string());
    }
    None
}

/// `name X.Y.Z` → (`name`, `X.Y.Z`).
fn package_version(v: &str) -> Option<(&str, &str)> {
    let (name, ver) = v.trim().rsplit_once(' ')?;
    let ok = !name.is_empty()
        && !ver.is_empty()
        && ver.split('.').count() >= 2
        && ver.split('.').all(|p| !p.is_empty() && p.chars().next().is_some_and(|c| c.is_ascii_digit()));
    ok.then_some((name, ver))
}

/// Validate every source; an empty result means the registry is sound.
pub fn validate(sources: &[Source], policy: UrlPolicy) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |s: &str, rule: &str, m: String| out.push(Finding { source: s.to_string(), rule: rule.to_string(), message: m });
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        let id = if s.id.trim().is_empty() { format!("#{}", i + 1) } else { s.id.clone() };
        if s.id.trim().is_empty() {
            push(&id, "id", "empty id".into());
        }
        *seen.entry(s.id.as_str()).or_insert(0) += 1;
        if s.title.trim().is_empty() {
            push(&id, "title", "empty title".into());
        }
        let url = match check_url(&s.url, policy) {
            Ok(u) => Some(u),
            Err((rule, m)) => {
                push(&id, rule, m);
                None
            }
        };
        let gref = url.as_ref().and_then(github_ref);
        if let Some(c) = &s.commit {
            if !is_hex40(c) {
                push(&id, "commit-pinned", format!("commit '{c}' is not a full 40-hex lowercase commit"));
            }
        }
        if let Some(d) = &s.date {
            if !is_date(d) {
                push(&id, "date", format!("date '{d}' is not a YYYY-MM-DD day"));
            }
        }
        let Some(kind) = s.kind.as_deref() else {
            push(&id, "kind", format!("no kind (one of: {})", KINDS.join(", ")));
            continue;
        };
        match kind {
            "repository" => match &s.commit {
                None => push(&id, "commit-pinned", "repository source without a commit (a full 40-hex commit is required)".into()),
                Some(c) if is_hex40(c) => {
                    if url.is_some() && gref.as_deref() != Some(c.as_str()) && !s.url.contains(c.as_str()) {
                        push(&id, "commit-pinned", format!("URL does not name the pinned commit {c}"));
                    }
                }
                Some(_) => {}
            },
            "package" => match s.version.as_deref().and_then(package_version) {
                None => push(&id, "version", format!("package source needs a version 'name X.Y.Z' (got {:?})", s.version)),
                Some((_, ver)) => {
                    if let Some(r) = &gref {
                        let tag_ok = r == ver || r.strip_prefix('v') == Some(ver);
                        if !tag_ok && !is_hex40(r) {
                            push(&id, "version", format!("URL points at '{r}', neither the tag of version {ver} nor a full commit"));
                        }
                    }
                }
            },
            "docs" => {
                if s.date.is_none() {
                    push(&id, "date", "docs source without the date it was read (date = \"YYYY-MM-DD\")".into());
                }
            }
            "paper" => match &s.version {
                None => push(&id, "version", "paper source without a version".into()),
                Some(v) => {
                    if let Some(u) = &url {
                        if u.host_str() == Some("arxiv.org") {
                            let last = u.path().rsplit('/').next().unwrap_or("");
                            let uv = last.rfind('v').map(|p| &last[p..]).filter(|x| x.len() > 1 && x[1..].bytes().all(|b| b.is_ascii_digit()));
                            match uv {
                                None => push(&id, "version", format!("arXiv URL '{}' does not name a version (…vN)", s.url)),
                                Some(uv) if !v.split_whitespace().any(|w| w == uv) => {
                                    push(&id, "version", format!("arXiv URL names {uv} but the version is '{v}'"))
                                }
                                _ => {}
                            }
                        }
                    }
                }
            },
            "spec" => {
                if s.version.is_none() && s.date.is_none() {
                    push(&id, "version", "spec source without a version or a date".into());
                }
            }
            other => push(&id, "kind", format!("unknown kind '{other}' (one of: {})", KINDS.join(", "))),
        }
    }
    for (id, n) in seen {
        if n > 1 && !id.trim().is_empty() {
            push(id, "unique-id", format!("duplicate id ({n} entries)"));
        }
    }
    out
}

/// Parse a sources file (the `[[source]]` tables of `sources.toml`); a
/// broken rule is an [`Error::SourcesInvalid`](crate::Error::SourcesInvalid)
/// naming `file`.
pub fn parse_file(text: &str, file: &str) -> crate::Result<Vec<Source>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct F {
        #[allow(dead_code)]
        schema: u32,
        #[serde(default)]
        source: Vec<Source>,
    }
    toml::from_str::<F>(text).map(|f| f.source).map_err(|e| crate::Error::SourcesInvalid { file: file.to_string(), rule: e.to_string().trim_end().to_string() })
}
