//! What the user asked for: mode, bits, group size, a mixed recipe, per-layer
//! rules and a bits-per-weight budget, validated before anything is read.
//!
//! Rules (`--rule 'REGEX=bits:8,group:64'`, `--rule 'REGEX=skip'`) are
//! matched against the module path (the tensor name without `.weight`,
//! e.g. `model.layers.3.mlp.down_proj`) with `Regex::is_match` (anchor with
//! `^...$` for a whole-path match). The first rule that matches a layer
//! decides it and overrides the recipe and the model's own predicate;
//! `skip` leaves the layer in floating point. `mode:` may also be given
//! (`REGEX=mode:affine,bits:8,group:64`); a key left out takes the global
//! value.

use regex::Regex;
use serde::Serialize;

use crate::{Error, Result};

/// The affine bit widths MLX supports.
pub const AFFINE_BITS: [u8; 6] = [2, 3, 4, 5, 6, 8];

/// The quantization modes MLX has, with mlx-lm's default (group size,
/// bits) for each.
pub const MODES: [(&str, usize, u8); 4] = [("affine", 64, 4), ("mxfp4", 32, 4), ("nvfp4", 16, 4), ("mxfp8", 32, 8)];

/// mlx-lm's mixed recipes.
pub const RECIPES: [&str; 4] = ["mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6"];

/// One layer's quantization: mode, bits, group size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Spec {
    pub mode: &'static str,
    pub bits: u8,
    pub group_size: usize,
}

impl Spec {
    /// Validate a combination MLX can quantize.
    pub fn new(mode: &str, bits: Option<u8>, group_size: Option<usize>) -> Result<Spec> {
        let &(m, g0, b0) = MODES
            .iter()
            .find(|(m, _, _)| *m == mode)
            .ok_or_else(|| Error::Usage(format!("unknown quantization mode '{mode}' (use affine, mxfp4, mxfp8 or nvfp4)")))?;
        let (g, b) = (group_size.unwrap_or(g0), bits.unwrap_or(b0));
        match m {
            "affine" => {
                if !AFFINE_BITS.contains(&b) {
                    return Err(Error::Usage(format!("affine quantization takes bits 2, 3, 4, 5, 6 or 8, not {b}")));
                }
                if ![32, 64, 128].contains(&g) {
                    return Err(Error::Usage(format!("affine quantization takes group sizes 32, 64 or 128, not {g}")));
                }
            }
            _ => {
                if b != b0 || g != g0 {
                    return Err(Error::Usage(format!("{m} quantization is bits {b0} with group size {g0} only (got bits {b}, group size {g})")));
                }
            }
        }
        Ok(Spec { mode: m, bits: b, group_size: g })
    }

    /// `affine q4 g64`.
    pub fn describe(&self) -> String {
        format!("{} q{} g{}", self.mode, self.bits, self.group_size)
    }
}

/// What a rule does to the layers it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAction {
    Skip,
    Set { mode: Option<String>, bits: Option<u8>, group_size: Option<usize> },
}

/// A `--rule`.
#[derive(Clone, Debug)]
pub struct LayerRule {
    pub text: String,
    pub regex: Regex,
    pub action: RuleAction,
}

impl LayerRule {
    /// Parse `REGEX=skip` or `REGEX=bits:8,group:64[,mode:affine]` (split
    /// at the last `=`).
    pub fn parse(text: &str) -> Result<LayerRule> {
        let bad = |why: String| Error::Usage(format!("--rule '{text}': {why} (expected 'REGEX=bits:8,group:64' or 'REGEX=skip')"));
        let (re, act) = text.rsplit_once('=').ok_or_else(|| bad("no '='".into()))?;
        if re.is_empty() {
            return Err(bad("empty pattern".into()));
        }
        let regex = Regex::new(re).map_err(|e| bad(format!("invalid regular expression: {e}")))?;
        let act = act.trim();
        let action = if act.eq_ignore_ascii_case("skip") {
            RuleAction::Skip
        } else {
            let (mut mode, mut bits, mut group_size) = (None, None, None);
            for kv in act.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once(':').ok_or_else(|| bad(format!("'{kv}' is not key:value")))?;
                match k.trim() {
                    "bits" => bits = Some(v.trim().parse::<u8>().map_err(|_| bad(format!("bits '{v}' is not a number")))?),
                    "group" | "group_size" => group_size = Some(v.trim().parse::<usize>().map_err(|_| bad(format!("group '{v}' is not a number")))?),
                    "mode" => mode = Some(v.trim().to_string()),
                    other => return Err(bad(format!("unknown key '{other}'"))),
                }
            }
            if mode.is_none() && bits.is_none() && group_size.is_none() {
                return Err(bad("nothing to set".into()));
            }
            RuleAction::Set { mode, bits, group_size }
        };
        Ok(LayerRule { text: text.to_string(), regex, action })
    }
}

/// Everything the quantizing stage is asked to do.
#[derive(Clone, Debug)]
pub struct QuantOptions {
    /// The default for every quantized layer.
    pub spec: Spec,
    /// Whether the user gave a group size (mlx-lm's recipes record
    /// `"group_size": null` in the per-layer entries when not).
    pub group_size_given: bool,
    pub recipe: Option<String>,
    pub rules: Vec<LayerRule>,
    /// Average bits per weight to meet (affine only).
    pub target_bpw: Option<f64>,
    /// Compute the per-layer error report.
    pub report: bool,
}

impl QuantOptions {
    /// Validate the command-line options together.
    pub fn new(
        mode: Option<&str>,
        bits: Option<u8>,
        group_size: Option<usize>,
        recipe: Option<&str>,
        rules: &[String],
        target_bpw: Option<f64>,
    ) -> Result<QuantOptions> {
        let mode = mode.unwrap_or("affine");
        let spec = Spec::new(mode, bits, group_size)?;
        if let Some(r) = recipe {
            if !RECIPES.contains(&r) {
                return Err(Error::Usage(format!("unknown recipe '{r}' (use {})", RECIPES.join(", "))));
            }
            if spec.mode != "affine" {
                return Err(Error::Usage(format!("recipe {r} quantizes in affine mode only, not {}", spec.mode)));
            }
            if bits.is_some() {
                return Err(Error::Usage(format!("recipe {r} chooses the bits itself; drop --bits")));
            }
        }
        if let Some(t) = target_bpw {
            if spec.mode != "affine" {
                return Err(Error::Usage(format!("--target-bpw chooses affine bit widths; it does not apply to mode {}", spec.mode)));
            }
            if recipe.is_some() {
                return Err(Error::Usage("--target-bpw and --recipe both choose the bits per layer; give one".into()));
            }
            if !t.is_finite() || !(2.0..=32.0).contains(&t) {
                return Err(Error::Usage(format!("--target-bpw {t}: give a budget between 2 and 32 bits per weight")));
            }
        }
        let rules = rules.iter().map(|r| LayerRule::parse(r)).collect::<Result<Vec<_>>>()?;
        for r in &rules {
            if let RuleAction::Set { mode: m, bits: b, group_size: g } = &r.action {
                let m = m.as_deref().unwrap_or(spec.mode);
                let (b, g) = if m == spec.mode { (b.or(Some(spec.bits)), g.or(Some(spec.group_size))) } else { (*b, *g) };
                Spec::new(m, b, g).map_err(|e| Error::Usage(format!("--rule '{}': {e}", r.text)))?;
            }
        }
        Ok(QuantOptions { spec, group_size_given: group_size.is_some(), recipe: recipe.map(str::to_string), rules, target_bpw, report: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_fail_clearly() {
        let r = LayerRule::parse(r"mlp\.down_proj=bits:8,group:64").unwrap();
        assert_eq!(r.action, RuleAction::Set { mode: None, bits: Some(8), group_size: Some(64) });
        assert_eq!(LayerRule::parse("lm_head=skip").unwrap().action, RuleAction::Skip);
        for (bad, why) in [
            ("nope", "no '='"),
            ("=skip", "empty pattern"),
            ("(=skip", "invalid regular expression"),
            ("x=bits:eight", "not a number"),
            ("x=colour:red", "unknown key"),
            ("x=", "nothing to set"),
        ] {
            let e = LayerRule::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn options_are_checked_together() {
        assert!(QuantOptions::new(None, Some(7), None, None, &[], None).unwrap_err().to_string().contains("bits 2, 3, 4, 5, 6 or 8"));
        assert!(QuantOptions::new(None, None, Some(48), None, &[], None).unwrap_err().to_string().contains("group sizes 32, 64 or 128"));
        assert!(QuantOptions::new(Some("mxfp4"), Some(8), None, None, &[], None).unwrap_err().to_string().contains("bits 4 with group size 32 only"));
        assert!(QuantOptions::new(Some("int4"), None, None, None, &[], None).unwrap_err().to_string().contains("unknown quantization mode"));
        assert!(QuantOptions::new(None, None, None, Some("mixed_9_9"), &[], None).unwrap_err().to_string().contains("unknown recipe"));
        assert!(QuantOptions::new(Some("nvfp4"), None, None, Some("mixed_3_6"), &[], None).unwrap_err().to_string().contains("affine mode only"));
        assert!(QuantOptions::new(None, None, None, None, &[], Some(1.0)).unwrap_err().to_string().contains("between 2 and 32"));
        assert!(QuantOptions::new(None, None, None, None, &["x=bits:7".into()], None).unwrap_err().to_string().contains("--rule 'x=bits:7'"));
        let o = QuantOptions::new(Some("mxfp8"), None, None, None, &[], None).unwrap();
        assert_eq!(o.spec, Spec { mode: "mxfp8", bits: 8, group_size: 32 });
    }
}
