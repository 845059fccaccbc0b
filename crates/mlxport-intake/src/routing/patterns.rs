//! Dotted-segment patterns for tensor names and config key paths.
//!
//! A pattern such as `mixer.A_log` matches a name when its segments occur
//! as a contiguous run of whole segments (`backbone.layers.3.mixer.A_log`
//! matches, `mixer.A_logits` does not). A leading `^` anchors the pattern at
//! the first segment. Matching indexes patterns by their first segment, so
//! a name costs one hash lookup per segment however many patterns exist.

// Looked up once per segment of every tensor name: foldhash, not SipHash.
use foldhash::{HashMap, HashMapExt};

pub(crate) struct SegmentMatcher {
    patterns: Vec<Pattern>,
    by_first: HashMap<String, Vec<usize>>,
    /// Some pattern starts with an all-digit segment (else layer indexes
    /// in names are skipped without a lookup).
    digit_first: bool,
}

struct Pattern {
    segments: Vec<String>,
    anchored: bool,
}

impl SegmentMatcher {
    pub fn new<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut out = SegmentMatcher { patterns: Vec::new(), by_first: HashMap::new(), digit_first: false };
        for (i, text) in patterns.enumerate() {
            let (anchored, body) = match text.strip_prefix('^') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let segments: Vec<String> = body.split('.').map(str::to_string).collect();
            if segments.iter().any(String::is_empty) {
                return Err(format!("pattern {text:?} has an empty segment"));
            }
            out.digit_first |= is_digits(&segments[0]);
            out.by_first.entry(segments[0].clone()).or_default().push(i);
            out.patterns.push(Pattern { segments, anchored });
        }
        Ok(out)
    }

    /// Call `hit(pattern_index)` once for every pattern that matches `name`.
    /// `segs` is scratch space reused across calls.
    pub fn scan<'n>(&self, name: &'n str, segs: &mut Vec<&'n str>, seen: &mut Vec<usize>, mut hit: impl FnMut(usize)) {
        segs.clear();
        segs.extend(name.split('.'));
        seen.clear();
        for i in 0..segs.len() {
            if !self.digit_first && is_digits(segs[i]) {
                continue;
            }
            let Some(list) = self.by_first.get(segs[i]) else { continue };
            for &p in list {
                let pat = &self.patterns[p];
                if pat.anchored && i != 0 {
                    continue;
                }
                let rest = &segs[i..];
                if rest.len() >= pat.segments.len() && rest.iter().zip(&pat.segments).all(|(a, b)| *a == b.as_str()) && !seen.contains(&p) {
                    seen.push(p);
                    hit(p);
                }
            }
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::SegmentMatcher;

    fn hits(m: &SegmentMatcher, name: &str) -> Vec<usize> {
        let (mut segs, mut seen, mut out) = (Vec::new(), Vec::new(), Vec::new());
        m.scan(name, &mut segs, &mut seen, |p| out.push(p));
        out
    }

    #[test]
    fn whole_segments_only() {
        let m = SegmentMatcher::new(["mixer.A_log", "experts", "^visual"].into_iter()).unwrap();
        assert_eq!(hits(&m, "backbone.layers.0.mixer.A_log"), [0]);
        assert!(hits(&m, "backbone.layers.0.mixer.A_logits").is_empty());
        assert_eq!(hits(&m, "model.layers.1.mlp.experts.3.w1.weight"), [1]);
        assert!(hits(&m, "model.layers.1.mlp.num_experts_gate.weight").is_empty());
        assert_eq!(hits(&m, "visual.blocks.0.attn.qkv.weight"), [2]);
        assert!(hits(&m, "model.visual.blocks.0.attn.qkv.weight").is_empty());
        assert_eq!(hits(&m, "a.experts.b.experts.c"), [1]);
        assert!(SegmentMatcher::new(["a..b"].into_iter()).is_err());
        // A pattern may start with a number.
        let m = SegmentMatcher::new(["0.attn", "experts"].into_iter()).unwrap();
        assert_eq!(hits(&m, "layers.0.attn.q.weight"), [0]);
        assert_eq!(hits(&m, "layers.1.experts.0.attn"), [1, 0]);
    }
}
