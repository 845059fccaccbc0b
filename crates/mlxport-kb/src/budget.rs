//! Memory fit for a target machine, from an inspection's size section:
//! weights at each precision plus the KV cache for the inspected context,
//! against the share of memory a model may use
//! ([`mlxport_intake::fit::USABLE_SHARE`]).

use serde::{Deserialize, Serialize};

use crate::view::InspectionView;

/// The target assumed when none is given.
pub const DEFAULT_TARGET: &str = "16GB";

/// A target machine, as a TOML profile:
///
/// ```toml
/// name = "MacBook Air M2"
/// memory = "16GB"
/// chip = "M2"          # optional
/// usable_share = 0.75  # optional
/// ```
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetProfile {
    #[serde(default)]
    pub name: Option<String>,
    pub memory: String,
    #[serde(default)]
    pub chip: Option<String>,
    #[serde(default)]
    pub usable_share: Option<f64>,
}

impl TargetProfile {
    /// Parse a profile; `origin` names it in the
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) a broken rule gives.
    pub fn parse(text: &str, origin: &str) -> crate::Result<TargetProfile> {
        let p: TargetProfile = toml::from_str(text).map_err(|e| crate::Error::invalid(origin, e.to_string().trim_end()))?;
        mlxport_intake::fit::parse_size(&p.memory).map_err(|e| crate::Error::invalid(origin, format!("memory: {e}")))?;
        if let Some(s) = p.usable_share {
            if !(s > 0.0 && s <= 1.0) {
                return Err(crate::Error::invalid(origin, "usable_share must be in (0, 1]"));
            }
        }
        Ok(p)
    }
}

/// One precision's fit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrecisionFit {
    /// `f32`, `bf16`, `q8`, `q6`, `q4`.
    pub precision: String,
    pub weight_bytes: u64,
    /// Weights plus the KV cache for the context.
    pub total_bytes: u64,
    pub fits: bool,
}

/// The memory budget of a target and what fits in it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Budget {
    /// Where the target came from: `--target-memory`, `--target-profile`,
    /// `inspection` or `default`.
    pub target_from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
    pub memory_bytes: u64,
    pub usable_share: f64,
    pub usable_bytes: u64,
    /// KV-cache bytes at the inspected context (0 for families without one).
    pub kv_cache_bytes: u64,
    pub context: Option<u64>,
    pub precisions: Vec<PrecisionFit>,
    /// The highest precision that fits, if any.
    pub best_fit: Option<String>,
    pub verdict: String,
}

impl Budget {
    /// Whether the model fits at a precision (`q4`, `q8`, ...).
    pub fn fits(&self, precision: &str) -> Option<bool> {
        self.precisions.iter().find(|p| p.precision == precision).map(|p| p.fits)
    }
}

/// Where a target comes from, in order of preference.
#[derive(Debug, Clone)]
pub enum Target {
    Memory(u64),
    Profile(TargetProfile),
    /// Use the inspection's `--target-memory` or the default.
    FromInspection,
}

/// Compute the budget.
pub fn budget(i: &InspectionView, target: &Target) -> Budget {
    let default_bytes = mlxport_intake::fit::parse_size(DEFAULT_TARGET).unwrap_or(16_000_000_000);
    let (from, name, chip, memory, share) = match target {
        Target::Memory(b) => ("--target-memory".to_string(), None, None, *b, mlxport_intake::fit::USABLE_SHARE),
        Target::Profile(p) => (
            "--target-profile".to_string(),
            p.name.clone(),
            p.chip.clone(),
            mlxport_intake::fit::parse_size(&p.memory).unwrap_or(default_bytes),
            p.usable_share.unwrap_or(mlxport_intake::fit::USABLE_SHARE),
        ),
        Target::FromInspection => match i.size.target_memory_bytes {
            Some(b) => ("inspection".to_string(), None, None, b, mlxport_intake::fit::USABLE_SHARE),
            None => ("default".to_string(), None, None, default_bytes, mlxport_intake::fit::USABLE_SHARE),
        },
    };
    let usable = (memory as f64 * share) as u64;
    let kv = i.size.kv_cache.as_ref().map(|k| k.bytes_for_context).unwrap_or(0);
    let precisions: Vec<PrecisionFit> = i
        .size
        .weights
        .iter()
        .map(|w| {
            let total = w.bytes.saturating_add(kv);
            PrecisionFit { precision: w.precision.clone(), weight_bytes: w.bytes, total_bytes: total, fits: total <= usable }
        })
        .collect();
    let best_fit = precisions.iter().find(|p| p.fits).map(|p| p.precision.clone());
    let gb = |b: u64| format!("{:.2} GB", b as f64 / 1e9);
    let verdict = if precisions.is_empty() {
        "unknown: the inspection has no size section (no readable weights)".to_string()
    } else {
        match &best_fit {
            Some(p) if p == &precisions[0].precision => format!("fits at every precision, {} included, within {} usable of {}", p, gb(usable), gb(memory)),
            Some(p) => format!("fits from {p} down; higher precisions exceed the {} usable of {}", gb(usable), gb(memory)),
            None => format!(
                "does not fit even at 4 bits: {} needed, {} usable of {}",
                gb(precisions.last().map(|p| p.total_bytes).unwrap_or(0)),
                gb(usable),
                gb(memory)
            ),
        }
    };
    Budget {
        target_from: from,
        target_name: name,
        chip,
        memory_bytes: memory,
        usable_share: share,
        usable_bytes: usable,
        kv_cache_bytes: kv,
        context: i.size.kv_cache.as_ref().map(|k| k.context),
        precisions,
        best_fit,
        verdict,
    }
}

/// `1.23 GB` (decimal units, as memory sizes are sold).
pub fn gb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}
