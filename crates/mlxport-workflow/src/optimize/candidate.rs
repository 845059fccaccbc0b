//! Candidates: one change from the float baseline each, named by a short
//! spec (`bf16`, `q4g64`, `mixed_3_6`, `bpw4.5`, `mxfp4`, ...), with the
//! hypothesis it tests and the quantization options that produce it.

use crate::error::{bail, Result};
use mlxport_convert::quantize::options::RECIPES;
use mlxport_convert::quantize::QuantOptions;
use serde::Serialize;

/// The dimension of the search a candidate moves along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    Dtype,
    AffineBits,
    GroupSize,
    MixedRecipe,
    BitBudget,
    FloatMode,
}

impl Dimension {
    pub fn as_str(&self) -> &'static str {
        match self {
            Dimension::Dtype => "dtype",
            Dimension::AffineBits => "affine bits",
            Dimension::GroupSize => "group size",
            Dimension::MixedRecipe => "mixed recipe",
            Dimension::BitBudget => "bit budget",
            Dimension::FloatMode => "float quantization mode",
        }
    }
}

/// What a candidate changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// Cast every floating tensor to bfloat16.
    Bf16,
    Affine {
        bits: u8,
        group_size: usize,
    },
    Recipe {
        recipe: String,
    },
    TargetBpw {
        bpw: f64,
    },
    /// mxfp4, nvfp4 or mxfp8 (fixed bits and group size).
    FloatMode {
        mode: String,
    },
}

/// One point of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// The spec as given (`q4g64`), also its directory and record name.
    pub id: String,
    pub dimension: Dimension,
    pub change: Change,
}

/// The default sweep for language models: dtype, affine bits at the
/// default group size, group sizes at 4 and 8 bits, mixed recipes, two
/// bit budgets, the float modes. The 2-bit point is not in it (known to
/// break small models; give `q2g64` to see the gate reject it).
pub const DEFAULT_SWEEP: &[&str] =
    &["bf16", "q8g64", "q6g64", "q4g64", "q8g32", "q4g32", "q4g128", "mixed_3_6", "mixed_4_6", "bpw5", "bpw4.5", "mxfp8", "mxfp4", "nvfp4"];

/// The spec grammar, for error messages and help.
pub const SPEC_HELP: &str =
    "bf16, qBITSgGROUP (q8g64, q4g32; bits 2-6 or 8, group 32/64/128), mixed_2_6 / mixed_3_4 / mixed_3_6 / mixed_4_6, bpwN (bpw4.5), mxfp4, nvfp4, mxfp8";

impl Candidate {
    /// Parse one spec.
    pub fn parse(spec: &str) -> Result<Candidate> {
        let s = spec.trim();
        let (dimension, change) = if s == "bf16" {
            (Dimension::Dtype, Change::Bf16)
        } else if let Some(rest) = s.strip_prefix('q').filter(|r| r.contains('g')) {
            let (b, g) = rest.split_once('g').unwrap_or_default();
            let (Ok(bits), Ok(group_size)) = (b.parse::<u8>(), g.parse::<usize>()) else { bail!("candidate '{s}': expected qBITSgGROUP such as q4g64") };
            // Bits at the default group size; anything else moves the group size.
            let dim = if group_size == 64 { Dimension::AffineBits } else { Dimension::GroupSize };
            (dim, Change::Affine { bits, group_size })
        } else if RECIPES.contains(&s) {
            (Dimension::MixedRecipe, Change::Recipe { recipe: s.to_string() })
        } else if let Some(b) = s.strip_prefix("bpw") {
            let Ok(bpw) = b.parse::<f64>() else { bail!("candidate '{s}': expected bpwN such as bpw4.5") };
            (Dimension::BitBudget, Change::TargetBpw { bpw })
        } else if ["mxfp4", "nvfp4", "mxfp8"].contains(&s) {
            (Dimension::FloatMode, Change::FloatMode { mode: s.to_string() })
        } else {
            bail!("unknown candidate '{s}' (use {SPEC_HELP})");
        };
        let c = Candidate { id: s.to_string(), dimension, change };
        c.quant_options()?;
        Ok(c)
    }

    /// Parse a comma-separated list (duplicates dropped, order kept).
    pub fn parse_list(list: &str) -> Result<Vec<Candidate>> {
        // No weight candidate: the float weights stay, only the serving
        // switches are measured.
        if list.trim() == "none" {
            return Ok(Vec::new());
        }
        let mut out: Vec<Candidate> = Vec::new();
        for spec in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let c = Candidate::parse(spec)?;
            if !out.iter().any(|o| o.id == c.id) {
                out.push(c);
            }
        }
        if out.is_empty() {
            bail!("--candidates: no candidates given (use {SPEC_HELP})");
        }
        Ok(out)
    }

    /// The default sweep.
    pub fn defaults() -> Vec<Candidate> {
        DEFAULT_SWEEP.iter().map(|s| Candidate::parse(s).expect("default candidates parse")).collect()
    }

    /// The quantization options (None for a dtype change).
    pub fn quant_options(&self) -> Result<Option<QuantOptions>> {
        let q = match &self.change {
            Change::Bf16 => return Ok(None),
            Change::Affine { bits, group_size } => QuantOptions::new(Some("affine"), Some(*bits), Some(*group_size), None, &[], None)?,
            Change::Recipe { recipe } => QuantOptions::new(Some("affine"), None, None, Some(recipe), &[], None)?,
            Change::TargetBpw { bpw } => QuantOptions::new(Some("affine"), None, None, None, &[], Some(*bpw))?,
            Change::FloatMode { mode } => QuantOptions::new(Some(mode), None, None, None, &[], None)?,
        };
        Ok(Some(q))
    }

    /// A readable name of the change.
    pub fn describe(&self) -> String {
        match &self.change {
            Change::Bf16 => "cast floating weights to bfloat16".into(),
            Change::Affine { bits, group_size } => format!("affine {bits}-bit weights, group size {group_size}"),
            Change::Recipe { recipe } => format!("mlx-lm recipe {recipe} (sensitive layers at more bits)"),
            Change::TargetBpw { bpw } => format!("affine bits chosen per layer for a {bpw} bits-per-weight budget"),
            Change::FloatMode { mode } => match mode.as_str() {
                "mxfp4" => "mxfp4 weights (4-bit floats, group 32)".into(),
                "nvfp4" => "nvfp4 weights (4-bit floats, group 16)".into(),
                _ => "mxfp8 weights (8-bit floats, group 32)".into(),
            },
        }
    }

    /// What the candidate is expected to do, to be confirmed or refuted.
    pub fn hypothesis(&self) -> String {
        match &self.change {
            Change::Bf16 => {
                "half the bytes of float32 weights: decoding (memory-bound) gets faster and peak memory drops, with quality essentially unchanged".into()
            }
            Change::Affine { bits, group_size } if *bits >= 8 => format!(
                "{bits}-bit weights (group {group_size}) read about a quarter of float32's bytes: faster decoding and lower memory at near-float quality"
            ),
            Change::Affine { bits, group_size } if *bits >= 5 => {
                format!("{bits}-bit weights (group {group_size}) cut bytes further than 8-bit while staying within the quality gate")
            }
            Change::Affine { bits, group_size } if *bits >= 4 => {
                format!("{bits}-bit weights (group {group_size}): the usual speed/memory sweet spot; quality loss on a small model may reach the gate")
            }
            Change::Affine { bits, group_size } => format!(
                "{bits}-bit weights (group {group_size}) are the smallest and fastest to read, but likely break a small model: the gate should reject it"
            ),
            Change::Recipe { .. } => "keeping sensitive layers at more bits recovers quality lost at low bits for little size".into(),
            Change::TargetBpw { bpw } => {
                format!("spending {bpw} bits per weight where the quantization error is largest beats a uniform width of the same size")
            }
            Change::FloatMode { mode } => format!("{mode}'s shared-exponent floats keep more dynamic range than affine at the same width"),
        }
    }

    /// The knowledge-base technique a kept candidate validates.
    pub fn technique(&self) -> Option<&'static str> {
        match &self.change {
            Change::Bf16 => None,
            Change::Affine { bits: 8, .. } => Some("affine-8bit"),
            Change::Affine { bits: 6, .. } => Some("affine-6bit"),
            Change::Affine { bits: 4, group_size: 32 } => Some("small-group-size"),
            Change::Affine { bits: 4, .. } => Some("affine-4bit"),
            Change::Affine { bits: 3, .. } => Some("affine-3bit"),
            Change::Affine { bits: 2, .. } => Some("uniform-2bit"),
            Change::Affine { .. } => None,
            Change::Recipe { .. } | Change::TargetBpw { .. } => Some("mixed-precision-recipe"),
            Change::FloatMode { mode } => match mode.as_str() {
                "mxfp4" => Some("mxfp4"),
                "nvfp4" => Some("nvfp4"),
                _ => Some("mxfp8"),
            },
        }
    }

    /// The group size a float mode needs the quantized dimension to divide.
    pub fn required_divisor(&self) -> Option<usize> {
        match &self.change {
            Change::FloatMode { mode } if mode == "nvfp4" => Some(16),
            Change::FloatMode { .. } => Some(32),
            Change::Affine { group_size, .. } => Some(*group_size),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_fail_clearly() {
        let c = Candidate::parse("q4g32").unwrap();
        assert_eq!(c.change, Change::Affine { bits: 4, group_size: 32 });
        assert_eq!(c.dimension, Dimension::GroupSize);
        assert_eq!(Candidate::parse("q8g64").unwrap().dimension, Dimension::AffineBits);
        assert_eq!(Candidate::parse("bpw4.5").unwrap().change, Change::TargetBpw { bpw: 4.5 });
        assert_eq!(Candidate::parse("nvfp4").unwrap().required_divisor(), Some(16));
        assert!(Candidate::parse("q7g64").unwrap_err().to_string().contains("bits"));
        assert!(Candidate::parse("q4g48").unwrap_err().to_string().contains("group"));
        assert!(Candidate::parse("bpw1").is_err());
        assert!(Candidate::parse("int4").unwrap_err().to_string().contains("unknown candidate"));
        let l = Candidate::parse_list("q8g64, q8g64,bf16").unwrap();
        assert_eq!(l.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["q8g64", "bf16"]);
        assert_eq!(Candidate::defaults().len(), DEFAULT_SWEEP.len());
        assert!(Candidate::parse_list(" , ").is_err());
    }
}
