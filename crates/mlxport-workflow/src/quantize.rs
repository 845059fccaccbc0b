//! The quantization choice (`--bits`, `--group-size`, `--mode`, `--recipe`,
//! `--rule`, `--target-bpw`), as `mlxport quantize`, `convert -q`, `port -q`
//! and the optimize candidates read it.

use crate::error::Result;
use mlxport_convert::quantize::QuantOptions;
use serde::Serialize;

/// What to quantize to; every field `None`/empty means the mode's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuantChoice {
    pub bits: Option<u8>,
    pub group_size: Option<usize>,
    /// `affine`, `mxfp4`, `mxfp8` or `nvfp4`.
    pub mode: Option<String>,
    /// One of mlx-lm's mixed recipes (`mixed_4_6`, ...).
    pub recipe: Option<String>,
    /// Per-layer overrides, `REGEX=bits:8,group:64[,mode:M]` or `REGEX=skip`.
    pub rules: Vec<String>,
    /// An average bits-per-weight budget.
    pub target_bpw: Option<f64>,
}

impl QuantChoice {
    /// Whether any option was given.
    pub fn any(&self) -> bool {
        self.bits.is_some() || self.group_size.is_some() || self.mode.is_some() || self.recipe.is_some() || !self.rules.is_empty() || self.target_bpw.is_some()
    }

    /// The validated quantization options (`report`: build the per-layer
    /// error report).
    pub fn options(&self, report: bool) -> Result<QuantOptions> {
        let mut o = QuantOptions::new(self.mode.as_deref(), self.bits, self.group_size, self.recipe.as_deref(), &self.rules, self.target_bpw)?;
        o.report = report;
        Ok(o)
    }

    /// The flags that reproduce this choice on a command line.
    pub fn flags(&self) -> Vec<String> {
        let mut c = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                c.push(k.to_string());
                c.push(v);
            }
        };
        push("--bits", self.bits.map(|b| b.to_string()));
        push("--group-size", self.group_size.map(|b| b.to_string()));
        push("--mode", self.mode.clone());
        push("--recipe", self.recipe.clone());
        push("--target-bpw", self.target_bpw.map(|b| b.to_string()));
        for r in &self.rules {
            c.push("--rule".into());
            c.push(r.clone());
        }
        c
    }
}
