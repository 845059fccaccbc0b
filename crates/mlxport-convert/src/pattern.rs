//! Name patterns with `{name}` placeholders.
//!
//! A placeholder matches a decimal index (`0`, `17`; no sign, no leading
//! zero unless the index is 0). `model.layers.{i}.mlp.experts.{e}.w1.weight`
//! matches `model.layers.3.mlp.experts.0.w1.weight` with `i = 3, e = 0`.
//! Every other character matches itself.

use std::collections::BTreeMap;

use regex::Regex;

use crate::error::{Error, Result};

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    text: String,
    regex: Regex,
    /// Placeholder names in order of appearance (unique).
    names: Vec<String>,
}

/// Placeholder values.
pub type Bindings = BTreeMap<String, u64>;

impl Pattern {
    /// Compile; an [`Error::Pattern`] says what is wrong with the text.
    pub fn new(text: &str) -> Result<Pattern> {
        let bad = |rule: String| Error::pattern(text, rule);
        let mut re = String::from("^");
        let mut names: Vec<String> = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            re.push_str(&regex::escape(&rest[..open]));
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| bad("'{' without '}'".into()))?;
            let name = &after[..close];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(bad(format!("placeholder '{{{name}}}' must be lower-case letters or '_'")));
            }
            if names.iter().any(|n| n == name) {
                return Err(bad(format!("placeholder '{{{name}}}' appears twice")));
            }
            re.push_str(&format!("(?P<{name}>0|[1-9][0-9]{{0,8}})"));
            names.push(name.to_string());
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(bad("'}' without '{'".into()));
        }
        re.push_str(&regex::escape(rest));
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| bad(e.to_string()))?;
        Ok(Pattern { text: text.to_string(), regex, names })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Placeholder names, in order of appearance.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the pattern has no placeholder.
    pub fn is_exact(&self) -> bool {
        self.names.is_empty()
    }

    /// Match a name; the placeholders' values on success.
    pub fn matches(&self, name: &str) -> Option<Bindings> {
        if self.names.is_empty() {
            return (self.text == name).then(Bindings::new);
        }
        let caps = self.regex.captures(name)?;
        let mut b = Bindings::new();
        for n in &self.names {
            b.insert(n.clone(), caps.name(n)?.as_str().parse().ok()?);
        }
        Some(b)
    }

    /// Substitute values; `None` if a placeholder has no value.
    pub fn fill(&self, b: &Bindings) -> Option<String> {
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}')?;
            out.push_str(&b.get(&after[..close])?.to_string());
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// Replace every decimal run that forms a whole dot-separated segment with
/// `{i}` (a layer index), keeping the rest: `model.layers.3.mlp` ->
/// `model.layers.{i}.mlp`. Names with two index segments get `{i}` and
/// `{e}` in that order.
pub fn generalize(name: &str) -> String {
    let placeholders = ["{i}", "{e}", "{j}", "{k}"];
    let mut used = 0;
    name.split('.')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) && used < placeholders.len() && (seg == "0" || !seg.starts_with('0')) {
                used += 1;
                placeholders[used - 1].to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_and_fill() {
        let p = Pattern::new("model.layers.{i}.mlp.experts.{e}.w1.weight").unwrap();
        let b = p.matches("model.layers.12.mlp.experts.0.w1.weight").unwrap();
        assert_eq!(b["i"], 12);
        assert_eq!(b["e"], 0);
        assert_eq!(p.fill(&b).unwrap(), "model.layers.12.mlp.experts.0.w1.weight");
        assert!(p.matches("model.layers.01.mlp.experts.0.w1.weight").is_none());
        assert!(p.matches("model.layers.x.mlp.experts.0.w1.weight").is_none());
        assert!(p.matches("model_layers.1.mlp.experts.0.w1.weight").is_none(), "dots are literal");
        assert!(Pattern::new("a.{i}.{i}").is_err());
        assert!(Pattern::new("a.{I}").is_err());
        assert!(Pattern::new("a.{i").is_err());
        match Pattern::new("a.{i}.{i}") {
            Err(e @ Error::Pattern { .. }) => assert_eq!(e.to_string(), "pattern 'a.{i}.{i}': placeholder '{i}' appears twice"),
            other => panic!("expected Error::Pattern, got {other:?}"),
        }
        assert_eq!(generalize("blk.10.attn_q.weight"), "blk.{i}.attn_q.weight");
        assert_eq!(generalize("model.layers.2.mlp.experts.7.w1.weight"), "model.layers.{i}.mlp.experts.{e}.w1.weight");
        assert_eq!(generalize("token_embd.weight"), "token_embd.weight");
    }
}
