//! Quantization error of one tensor: the float weights against their
//! dequantized form.

use crate::float::Float;
use crate::{Params, QuantError, Quantized, Result};
use mlxport_tensor::DType;
use rayon::prelude::*;

/// Error of a quantized tensor against its float weights, accumulated in
/// float64 in a fixed order (same input, same figures).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ErrorStats {
    /// Root mean square error.
    pub rmse: f64,
    /// Largest absolute error (NaN when a dequantized value is NaN, as
    /// MLX gives for groups whose range overflows the dtype).
    pub max_abs: f64,
    /// `||w - dq||_F / ||w||_F` (0 when both are 0, infinite when only the weights are).
    pub rel_frobenius: f64,
    /// Signal to quantization noise, `10 log10(sum w^2 / sum (w-dq)^2)` (infinite for no error).
    pub sqnr_db: f64,
    pub elements: u64,
}

/// Compare `original` (raw little-endian `dtype` data, the input of
/// [`crate::quantize`]) with `q` dequantized in `dtype`, as MLX would
/// dequantize it for use.
pub fn error_stats(original: &[u8], dtype: DType, q: &Quantized, p: &Params) -> Result<ErrorStats> {
    let f = Float::of(dtype).ok_or(QuantError::UnsupportedDType(dtype))?;
    let n: usize = q.shape.iter().product();
    if original.len() != n * f.size() {
        return Err(QuantError::ByteLength { shape: q.shape.clone(), dtype, expected: (n * f.size()) as u64, actual: original.len() as u64 });
    }
    let dq = crate::dequantize_as(q, p, dtype)?;
    const CHUNK: usize = 1 << 14;
    let parts: Vec<(f64, f64, f64)> = original
        .par_chunks(CHUNK * f.size())
        .zip(dq.par_chunks(CHUNK))
        .map(|(o, d)| {
            let mut w = vec![0f32; d.len()];
            f.load(o, &mut w);
            let (mut se, mut sw, mut mx) = (0f64, 0f64, 0f64);
            for (&a, &b) in w.iter().zip(d) {
                let e = a as f64 - b as f64;
                se += e * e;
                sw += a as f64 * a as f64;
                mx = if e.abs() > mx || e.is_nan() { e.abs() } else { mx };
            }
            (se, sw, mx)
        })
        .collect();
    let (mut se, mut sw, mut mx) = (0f64, 0f64, 0f64);
    for (a, b, c) in parts {
        se += a;
        sw += b;
        mx = if c > mx || c.is_nan() { c } else { mx };
    }
    let rel = if se == 0.0 {
        0.0
    } else if sw == 0.0 {
        f64::INFINITY
    } else {
        (se / sw).sqrt()
    };
    let sqnr = if se == 0.0 { f64::INFINITY } else { 10.0 * (sw / se).log10() };
    Ok(ErrorStats { rmse: if n == 0 { 0.0 } else { (se / n as f64).sqrt() }, max_abs: mx, rel_frobenius: rel, sqnr_db: sqnr, elements: n as u64 })
}
