//! The per-layer error report (`mlxport.quantize-report/v1`): for every
//! quantized tensor its RMSE, largest absolute error, relative Frobenius
//! error and SQNR against the floating-point weights it replaced, ranked
//! worst first (largest relative Frobenius error; ties by name).

use serde::Serialize;

use super::budget::Allocation;

pub const SCHEMA: &str = "mlxport.quantize-report/v1";

/// One quantized tensor's error.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LayerError {
    pub rank: usize,
    pub name: String,
    pub shape: Vec<u64>,
    pub mode: String,
    pub bits: u8,
    pub group_size: usize,
    /// What chose its parameters: `default`, `recipe`, `model`, `rule N`,
    /// `budget`.
    pub by: String,
    pub elements: u64,
    pub rmse: f64,
    pub max_abs: f64,
    pub rel_frobenius: f64,
    pub sqnr_db: f64,
}

/// A weight left in floating point, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub mode: String,
    pub bits: u8,
    pub group_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// mlx-lm's bits per weight of the written model.
    pub bpw: f64,
    pub parameters: u64,
    pub quantized: usize,
    /// GGUF blocks repacked losslessly (no error).
    pub kept_gguf: usize,
    pub skipped: Vec<Skipped>,
    /// Empty unless errors were measured.
    pub layers: Vec<LayerError>,
    /// Sum of squared errors over every measured tensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_sse: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_bpw: Option<Allocation>,
}

/// Sort worst first and number the ranks.
pub fn rank(layers: &mut [LayerError]) {
    layers.sort_by(|a, b| b.rel_frobenius.total_cmp(&a.rel_frobenius).then_with(|| a.name.cmp(&b.name)));
    for (i, l) in layers.iter_mut().enumerate() {
        l.rank = i + 1;
    }
}
