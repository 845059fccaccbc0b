//! A scan of written files for local paths and secrets.
//!
//! Text files are read whole (bounded); safetensors files by their JSON
//! header only; other binary files are skipped. A finding names the file,
//! the line and the rule; the caller fails on any.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

/// Text files larger than this are not scanned (none of a model folder's
/// text files comes near it).
const MAX_TEXT: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Path relative to the scanned directory.
    pub file: String,
    pub line: usize,
    pub rule: &'static str,
    /// The match, secrets shortened so the report does not repeat them.
    pub excerpt: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {} ({})", self.file, self.line, self.rule, self.excerpt)
    }
}

fn rules() -> &'static [(&'static str, Regex, bool)] {
    static R: OnceLock<Vec<(&'static str, Regex, bool)>> = OnceLock::new();
    R.get_or_init(|| {
        let r = |s: &str| Regex::new(s).expect("scan rule");
        vec![
            ("local absolute path", r(r#"(?:^|[\s"'=:(\[,`])(/(?:home|Users|root|tmp|private/var|var/folders|mnt|media|scratch|work)/[^\s"'`),\]]+)"#), false),
            ("local Windows path", r(r#"(?i)\b([a-z]:\\(?:users|documents and settings|temp)\\[^\s"']+)"#), false),
            ("file URL", r(r#"(file://[^\s"']+)"#), false),
            ("Hugging Face token", r(r"\b(hf_[A-Za-z0-9]{30,})"), true),
            ("OpenAI-style API key", r(r"\b(sk-[A-Za-z0-9_-]{32,})"), true),
            ("GitHub token", r(r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"), true),
            ("AWS access key id", r(r"\b(AKIA[0-9A-Z]{16})\b"), true),
            ("Slack token", r(r"\b(xox[abposr]-[A-Za-z0-9-]{10,})"), true),
            ("private key", r(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)"), true),
        ]
    })
}

fn shorten(s: &str, secret: bool) -> String {
    if secret {
        format!("{}…", s.chars().take(6).collect::<String>())
    } else {
        s.chars().take(120).collect()
    }
}

/// Scan one text. `literals` are exact strings that must not appear (the
/// machine's own absolute paths).
pub fn scan_text(file: &str, text: &str, literals: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for (rule, re, secret) in rules() {
            if let Some(c) = re.captures(line) {
                let m = c.get(1).map(|m| m.as_str()).unwrap_or("");
                out.push(Finding { file: file.into(), line: i + 1, rule, excerpt: shorten(m, *secret) });
            }
        }
        for l in literals {
            if l.len() > 1 && line.contains(l.as_str()) {
                out.push(Finding { file: file.into(), line: i + 1, rule: "this machine's path", excerpt: shorten(l, false) });
            }
        }
    }
    out
}

fn safetensors_header(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n).ok()?;
    let len = u64::from_le_bytes(n);
    if len > 100 << 20 {
        return None;
    }
    let mut h = vec![0u8; len as usize];
    f.read_exact(&mut h).ok()?;
    String::from_utf8(h).ok()
}

/// Every file under `root`, relative, sorted.
pub fn files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel))? {
            let e = e?;
            let ty = e.file_type()?;
            let r = rel.join(e.file_name());
            if ty.is_dir() {
                stack.push(r);
            } else if ty.is_file() {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Scan a directory.
pub fn scan_dir(root: &Path, literals: &[String]) -> std::io::Result<Vec<Finding>> {
    let mut out = Vec::new();
    for rel in files(root)? {
        let p = root.join(&rel);
        let name = rel.to_string_lossy().replace('\\', "/");
        let text = if name.ends_with(".safetensors") {
            safetensors_header(&p)
        } else if std::fs::metadata(&p)?.len() <= MAX_TEXT {
            String::from_utf8(std::fs::read(&p)?).ok()
        } else {
            None
        };
        if let Some(t) = text {
            out.extend(scan_text(&name, &t, literals));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_secrets_are_found_ordinary_text_is_not() {
        let lits = vec!["/srv/me/port".to_string()];
        let bad = "cmd: \"/home/alice/models/x\"\nkey hf_abcdefghijklmnopqrstuvwxyz0123456789\nsee /srv/me/port/weights\nC:\\Users\\bob\\m\n-----BEGIN OPENSSH PRIVATE KEY-----\nfile:///etc/x";
        let f = scan_text("README.md", bad, &lits);
        let rules: Vec<&str> = f.iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["local absolute path", "Hugging Face token", "this machine's path", "local Windows path", "private key", "file URL"], "{f:?}");
        assert!(!f[1].excerpt.contains("abcdefghij"), "secrets are not repeated");
        let good = "See https://huggingface.co/home/x and weights/model.safetensors; ratio 1/2; \"/tmp\" token";
        assert!(scan_text("a", good, &lits).is_empty());
    }
}
