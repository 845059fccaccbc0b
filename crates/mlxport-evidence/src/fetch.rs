//! `mlxport sources validate --check-urls`: fetch each source URL, one
//! hop at a time. Redirects are never followed by the HTTP client: each
//! `Location` is resolved, checked by the same URL rules as the registry
//! ([`crate::sources::check_url`]) and only then requested, up to
//! [`MAX_HOPS`] hops. Timeouts bound every request; bodies are not read.

use std::time::Duration;

use serde::Serialize;

use crate::sources::{check_url, UrlPolicy};

/// Redirects followed before giving up.
pub const MAX_HOPS: usize = 5;

/// The outcome for one URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlCheck {
    pub url: String,
    /// Every URL requested, in order (the first is `url`).
    pub hops: Vec<String>,
    /// HTTP status of the last response, if any.
    pub status: Option<u16>,
    pub ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Options for fetching.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    pub timeout: Duration,
    pub policy: UrlPolicy,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { timeout: Duration::from_secs(20), policy: UrlPolicy::default() }
    }
}

/// Fetch `url`, following redirects only after re-validating them.
pub fn check(url: &str, opts: &FetchOptions) -> UrlCheck {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(opts.timeout)
        .timeout(opts.timeout)
        .user_agent(concat!("mlxport/", env!("CARGO_PKG_VERSION"), " (sources validate --check-urls)"))
        .build();
    let mut out = UrlCheck { url: url.to_string(), hops: Vec::new(), status: None, ok: false, error: None };
    let mut current = match check_url(url, opts.policy) {
        Ok(u) => u,
        Err((rule, m)) => {
            out.error = Some(format!("{m} ({rule})"));
            return out;
        }
    };
    loop {
        if out.hops.len() > MAX_HOPS {
            out.error = Some(format!("more than {MAX_HOPS} redirects"));
            return out;
        }
        out.hops.push(current.to_string());
        let resp = match agent.head(current.as_str()).call() {
            // Some servers refuse HEAD; ask again with GET (body unread).
            Err(ureq::Error::Status(405, _)) | Err(ureq::Error::Status(403, _)) | Err(ureq::Error::Status(501, _)) => agent.get(current.as_str()).call(),
            r => r,
        };
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => {
                out.status = Some(code);
                out.error = Some(format!("HTTP {code} from {current}"));
                return out;
            }
            Err(ureq::Error::Transport(t)) => {
                out.error = Some(format!("could not fetch {current}: {t}"));
                return out;
            }
        };
        let code = resp.status();
        out.status = Some(code);
        if (300..400).contains(&code) {
            let Some(loc) = resp.header("location") else {
                out.error = Some(format!("HTTP {code} from {current} without a Location header"));
                return out;
            };
            let next = match current.join(loc) {
                Ok(n) => n,
                Err(e) => {
                    out.error = Some(format!("redirect from {current} to an unparsable location '{loc}': {e}"));
                    return out;
                }
            };
            match check_url(next.as_str(), opts.policy) {
                Ok(n) => current = n,
                Err((rule, m)) => {
                    out.error = Some(format!("redirect from {current} refused: {m} ({rule})"));
                    return out;
                }
            }
            continue;
        }
        if (200..300).contains(&code) {
            out.ok = true;
        } else {
            out.error = Some(format!("HTTP {code} from {current}"));
        }
        return out;
    }
}
