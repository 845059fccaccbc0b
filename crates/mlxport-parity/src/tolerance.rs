//! Tolerances: defaults by dtype from machine epsilon, global overrides and
//! per-tensor rules.
//!
//! Defaults, for the less precise of the two sides' dtypes with machine
//! epsilon `eps` (f32 `2^-23`, f16 `2^-10`, bf16 `2^-7`, f64 `2^-52`):
//!
//! - `rtol = eps^(2/3)` — f32 `2.4e-5`, f16 `9.8e-3`, bf16 `3.9e-2`,
//!   f64 `3.6e-11`. One rounding is `eps/2`; two implementations of the same
//!   graph that reduce in different orders (matmuls, softmax, norms) differ
//!   by many roundings, growing with the reduction length, so the default
//!   allows about `eps^(-1/3)` units of roundoff (f32: ~200, bf16: ~5).
//! - `atol = rtol * scale`, where `scale` is the reference tensor's size:
//!   the power of two nearest the RMS of its finite values (by ratio:
//!   `2^k` with `2^k / sqrt 2 <= RMS < 2^k * sqrt 2`; see [`scale_of`]). An
//!   element near zero is then held to the tolerance of a typical element,
//!   not to a relative one it cannot meet.
//! - `cosine_min = 1 - rtol`.
//! - integers (ids, masks) compare exactly; no ULP limit unless asked.
//!
//! Block-quantized GGUF tensors count as a float of the block's code width
//! (Q8: `2^-7`, Q6: `2^-5`, Q5: `2^-4`, Q4: `2^-3`, Q3: `2^-2`, Q2: `2^-1`).
//!
//! Normwise gate (`norm:true`, what `mlxport parity` uses): instead of
//! holding every element to `atol + rtol * |b|`, the pair passes when the
//! normwise relative errors are within `rtol`: `||a - b||_2 <= rtol *
//! ||b||_2` and `max |a - b| <= rtol * max |b|`. This is the measure
//! floating-point error analysis bounds: rounding in a dot product, a
//! softmax or a norm is bounded relative to the magnitudes of what was
//! summed, not to each result element (an element near zero computed from
//! large terms carries their absolute error). Deep networks with large
//! outlier activations (the residual stream of an LLM) fail the
//! element-wise test on correct ports; the normwise one still catches a
//! wrong RoPE base (relative error 1e-2) or one perturbed weight row
//! (1e-3) by orders of magnitude.
//!
//! Overrides apply in order: defaults, then the global flags, then the
//! ladder rung's tolerances, then every `--tol` rule whose regular
//! expression matches the tensor's name (later rules win).

use mlxport_tensor::{DType, Encoding};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The tolerance a pair is judged by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Absolute tolerance; `None` until resolved against the reference
    /// tensor's scale (`rtol * scale`).
    pub atol: Option<f64>,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub rtol: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_min: f64,
    /// Largest ULP distance allowed (same float dtype on both sides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulp: Option<u64>,
    /// NaN in the same place on both sides counts as equal.
    pub equal_nan: bool,
    /// Logits: largest mean KL divergence allowed (either direction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl_max: Option<f64>,
    /// Logits: smallest fraction of positions whose top-1 token agrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top1_min: Option<f64>,
    /// Judge by normwise relative errors (2-norm and max-norm) within
    /// `rtol` instead of element-wise allclose.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub normwise: bool,
}

/// Machine epsilon of a dtype (`None` for integers and undecodable types).
pub fn epsilon(d: DType) -> Option<f64> {
    Some(match d {
        DType::F64 => f64::EPSILON,
        DType::F32 => f32::EPSILON as f64,
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        DType::F8E4M3 | DType::F8E4M3Fnuz => 2f64.powi(-3),
        DType::F8E5M2 | DType::F8E5M2Fnuz => 2f64.powi(-2),
        DType::F8E8M0 => 1.0,
        _ => return None,
    })
}

/// Epsilon of an encoding, block-quantized GGUF types included.
pub fn encoding_epsilon(e: &Encoding) -> Option<f64> {
    match e {
        Encoding::Dense(d) => epsilon(*d),
        Encoding::Ggml { name, .. } => {
            let digits: String = name.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit()).collect();
            match digits.parse::<i32>() {
                Ok(bits @ 2..=8) => Some(2f64.powi(1 - bits)),
                _ => Some(f32::EPSILON as f64),
            }
        }
    }
}

impl Tolerance {
    /// The default for a pair of encodings: from the less precise float
    /// side; exact for integers on both sides.
    pub fn default_for(a: &Encoding, b: &Encoding) -> Tolerance {
        let eps = match (encoding_epsilon(a), encoding_epsilon(b)) {
            (Some(x), Some(y)) => x.max(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => 0.0,
        };
        let rtol = if eps > 0.0 { eps.powf(2.0 / 3.0) } else { 0.0 };
        Tolerance { atol: None, rtol, cosine_min: 1.0 - rtol, ulp: None, equal_nan: false, kl_max: None, top1_min: None, normwise: false }
    }

    /// Apply overrides (only the fields they set).
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = o.atol {
            self.atol = Some(v);
        }
        if let Some(v) = o.rtol {
            self.rtol = v;
        }
        if let Some(v) = o.cosine_min {
            self.cosine_min = v;
        }
        if let Some(v) = o.ulp {
            self.ulp = Some(v);
        }
        if let Some(v) = o.equal_nan {
            self.equal_nan = v;
        }
        if let Some(v) = o.kl_max {
            self.kl_max = Some(v);
        }
        if let Some(v) = o.top1_min {
            self.top1_min = Some(v);
        }
        if let Some(v) = o.normwise {
            self.normwise = v;
        }
    }
}

/// Some tolerance fields set, the others left alone.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "cosine")]
    pub cosine_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equal_nan: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "kl")]
    pub kl_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "top1")]
    pub top1_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "norm")]
    pub normwise: Option<bool>,
}

impl Overrides {
    /// Check that every value set is a sensible tolerance.
    pub fn validate(&self) -> Result<(), crate::Error> {
        self.check().map_err(crate::Error::InvalidInput)
    }

    fn check(&self) -> Result<(), String> {
        let nonneg = |what: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => Err(format!("{what} must be a finite number >= 0, not {x}")),
            _ => Ok(()),
        };
        nonneg("atol", self.atol)?;
        nonneg("rtol", self.rtol)?;
        nonneg("kl", self.kl_max)?;
        for (what, v) in [("cosine", self.cosine_min), ("top1", self.top1_min)] {
            if let Some(x) = v {
                if !(-1.0..=1.0).contains(&x) {
                    return Err(format!("{what} must be between -1 and 1, not {x}"));
                }
            }
        }
        Ok(())
    }

    /// Parse `atol:1e-5,rtol:1e-4,cosine:0.999,ulp:4,kl:1e-3,top1:0.99,equal_nan:true,norm:true`.
    pub fn parse(spec: &str) -> Result<Overrides, crate::Error> {
        Overrides::parse_text(spec).map_err(crate::Error::InvalidInput)
    }

    fn parse_text(spec: &str) -> Result<Overrides, String> {
        let mut o = Overrides::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once(':').ok_or_else(|| format!("'{part}' is not KEY:VALUE"))?;
            let num = || v.trim().parse::<f64>().map_err(|_| format!("{k}: '{v}' is not a number"));
            match k.trim() {
                "atol" => o.atol = Some(num()?),
                "rtol" => o.rtol = Some(num()?),
                "cosine" | "cosine_min" => o.cosine_min = Some(num()?),
                "ulp" => o.ulp = Some(v.trim().parse().map_err(|_| format!("ulp: '{v}' is not a whole number"))?),
                "kl" | "kl_max" => o.kl_max = Some(num()?),
                "top1" | "top1_min" => o.top1_min = Some(num()?),
                "equal_nan" => o.equal_nan = Some(v.trim().parse().map_err(|_| format!("equal_nan: '{v}' is not true or false"))?),
                "norm" | "normwise" => o.normwise = Some(v.trim().parse().map_err(|_| format!("norm: '{v}' is not true or false"))?),
                other => return Err(format!("unknown tolerance '{other}' (known: atol, rtol, cosine, ulp, kl, top1, equal_nan, norm)")),
            }
        }
        o.check()?;
        Ok(o)
    }
}

/// A per-tensor rule: tensors whose name matches get these overrides.
#[derive(Clone, Debug)]
pub struct Rule {
    pub pattern: Regex,
    pub overrides: Overrides,
}

impl Rule {
    /// Parse `REGEX=atol:..,rtol:..`. The split is at the last `=`, so the
    /// expression may contain `=` but the tolerances may not.
    pub fn parse(spec: &str) -> Result<Rule, crate::Error> {
        Rule::parse_text(spec).map_err(crate::Error::InvalidInput)
    }

    fn parse_text(spec: &str) -> Result<Rule, String> {
        let (re, tol) = spec.rsplit_once('=').ok_or_else(|| format!("--tol '{spec}': expected REGEX=atol:..,rtol:..,cosine:.."))?;
        let pattern = Regex::new(re).map_err(|e| format!("--tol '{spec}': bad regular expression: {e}"))?;
        let overrides = Overrides::parse(tol).map_err(|e| format!("--tol '{spec}': {e}"))?;
        Ok(Rule { pattern, overrides })
    }
}

/// Largest power of two not above `x` (0 for 0; subnormals included).
pub fn pow2_floor(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 0.0;
    }
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64;
    if e == 0 {
        let m = bits & ((1u64 << 52) - 1);
        f64::from_bits(1u64 << (63 - m.leading_zeros()))
    } else {
        f64::from_bits((e as u64) << 52)
    }
}

/// The scale of a tensor whose finite values have this RMS: the power of
/// two nearest it by ratio, `2^k` with `2^k / sqrt 2 <= rms < 2^k * sqrt 2`
/// (0 for 0). Rounding to a power of two makes the scale exact and the same
/// for every summation order except within an ulp of a boundary; placing
/// the boundaries at `sqrt 2` times a power of two keeps them away from
/// the RMS of normalised activations (1).
pub fn scale_of(rms: f64) -> f64 {
    let p = pow2_floor(rms);
    if p == 0.0 {
        return 0.0;
    }
    // Exact: division by a power of two.
    if rms / p >= std::f64::consts::SQRT_2 {
        (p * 2.0).min(f64::MAX)
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_epsilon() {
        let t = Tolerance::default_for(&Encoding::Dense(DType::F32), &Encoding::Dense(DType::BF16));
        assert!((t.rtol - 2f64.powf(-7.0 * 2.0 / 3.0)).abs() < 1e-15);
        let t = Tolerance::default_for(&Encoding::Dense(DType::F32), &Encoding::Dense(DType::F32));
        assert!((t.rtol - 2.42e-5).abs() < 1e-7, "{}", t.rtol);
        let t = Tolerance::default_for(&Encoding::Dense(DType::I64), &Encoding::Dense(DType::I32));
        assert_eq!(t.rtol, 0.0);
        assert_eq!(encoding_epsilon(&Encoding::Ggml { name: "Q4_1", id: 3 }), Some(0.125));
    }

    #[test]
    fn rules_parse_and_refuse() {
        let r = Rule::parse("^logits$=atol:1e-3,rtol:0,cosine:0.99,ulp:8,equal_nan:true").unwrap();
        assert!(r.pattern.is_match("logits"));
        assert_eq!(r.overrides.atol, Some(1e-3));
        assert_eq!(r.overrides.ulp, Some(8));
        assert!(Rule::parse("a=b").is_err());
        assert!(Rule::parse("(=atol:1").is_err());
        assert!(Rule::parse("x=atol:-1").is_err());
        assert!(Rule::parse("x=atol:nan").is_err());
        assert!(Rule::parse("x=cosine:2").is_err());
        assert!(Rule::parse("noequals").is_err());
        assert_eq!(Rule::parse(".=norm:true").unwrap().overrides.normwise, Some(true));
        assert!(Rule::parse(".=norm:1").is_err());
    }

    #[test]
    fn pow2() {
        assert_eq!(pow2_floor(1.0), 1.0);
        assert_eq!(pow2_floor(0.75), 0.5);
        assert_eq!(pow2_floor(3e-310), f64::from_bits(1 << 45));
        assert_eq!(pow2_floor(f64::from_bits(1)), f64::from_bits(1));
        assert_eq!(pow2_floor(0.0), 0.0);
        assert_eq!(pow2_floor(f64::MAX), 2f64.powi(1023));
        assert_eq!(scale_of(1.0), 1.0);
        assert_eq!(scale_of(0.99), 1.0);
        assert_eq!(scale_of(1.41), 1.0);
        assert_eq!(scale_of(1.415), 2.0);
        assert_eq!(scale_of(0.70), 0.5);
        assert_eq!(scale_of(0.0), 0.0);
    }
}
