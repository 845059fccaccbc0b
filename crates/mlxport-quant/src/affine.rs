//! Affine quantization: per group, a scale and a bias in the input dtype and
//! unsigned codes, computed exactly as MLX's CPU kernel computes them.

use crate::float::{Float, Rounder, R16, R32, RB16};
use crate::pack::{pack, unpack};

/// 2^23: adding and subtracting it rounds a float in [0, 2^23) to the
/// nearest integer, ties to even (the default rounding mode), which is
/// `rint` without a library call, so the loop vectorizes.
const ROUNDER: f32 = 8_388_608.0;
const ROUNDER_BITS: u32 = 0x4b00_0000;

/// Quantize one row of raw input `src` (`x` is scratch of the row's length,
/// a multiple of `gs`). Dispatches to a copy compiled for AVX2 when the CPU
/// has it; the arithmetic is the same IEEE operations either way (no fused
/// multiply-add is ever formed), so the bytes are too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantize_row(
    src: &[u8],
    x: &mut [f32],
    gs: usize,
    bits: u32,
    dt: Float,
    wq: &mut [u32],
    scales: &mut [u8],
    biases: &mut [u8],
    codes: &mut [u32],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::simd_dispatch() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { quantize_row_avx2(src, x, gs, bits, dt, wq, scales, biases, codes) };
    }
    quantize_row_impl(src, x, gs, bits, dt, wq, scales, biases, codes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn quantize_row_avx2(
    src: &[u8],
    x: &mut [f32],
    gs: usize,
    bits: u32,
    dt: Float,
    wq: &mut [u32],
    scales: &mut [u8],
    biases: &mut [u8],
    codes: &mut [u32],
) -> bool {
    quantize_row_impl(src, x, gs, bits, dt, wq, scales, biases, codes)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn quantize_row_impl(
    src: &[u8],
    x: &mut [f32],
    gs: usize,
    bits: u32,
    dt: Float,
    wq: &mut [u32],
    scales: &mut [u8],
    biases: &mut [u8],
    codes: &mut [u32],
) -> bool {
    dt.load(src, x);
    // NaN and infinities are refused; finding them here (in cache, in a
    // loop that vectorizes) saves a pass over the input
    if x.iter().fold(false, |a, v| a | ((v.to_bits() & 0x7f80_0000) == 0x7f80_0000)) {
        return true;
    }
    let mask = (1u32 << bits) - 1;
    let n_bins = mask as f32;
    let eps = 1e-7f32;
    let wpg = gs * bits as usize / 32;
    let sz = dt.size();
    for (g, xs) in x.chunks_exact(gs).enumerate() {
        // min and max in 8 independent lanes (so they vectorize); without
        // NaNs the order does not change them, except for the sign of a
        // zero, which only the 1-bit bias keeps (see below)
        let mut lo = [f32::INFINITY; 8];
        let mut hi = [f32::NEG_INFINITY; 8];
        for c in xs.chunks_exact(8) {
            for l in 0..8 {
                hi[l] = if hi[l] < c[l] { c[l] } else { hi[l] };
                lo[l] = if c[l] < lo[l] { c[l] } else { lo[l] };
            }
        }
        let mut w_min = f32::INFINITY;
        let mut w_max = f32::NEG_INFINITY;
        for l in 0..8 {
            w_max = if w_max < hi[l] { hi[l] } else { w_max };
            w_min = if lo[l] < w_min { lo[l] } else { w_min };
        }
        if bits == 1 && w_min == 0.0 {
            // MLX keeps the first minimal zero met in order
            w_min = f32::INFINITY;
            for &v in xs {
                w_min = if v < w_min { v } else { w_min };
            }
        }
        let d = (w_max - w_min) / n_bins;
        let mut scale = if d < eps { eps } else { d };
        let mut bias = 0f32;
        if bits == 1 {
            // one bit: the two levels are wmin and wmin + scale
            bias = w_min;
        } else {
            let mask = w_min.abs() > w_max.abs();
            if !mask {
                scale = -scale;
            }
            let edge = if mask { w_min } else { w_max };
            let q0 = (edge / scale).round_ties_even();
            if q0 != 0.0 {
                scale = edge / q0;
                bias = edge;
            }
        }
        let codes = &mut codes[..gs];
        for (c, &v) in codes.iter_mut().zip(xs) {
            let mut y = (v - bias) / scale;
            y = if y < 0.0 { 0.0 } else { y };
            y = if n_bins < y { n_bins } else { y };
            // y + 2^23 is an integer in [2^23, 2^23 + n]: its low mantissa
            // bits are the code (the mask only guards the packing)
            *c = (y + ROUNDER).to_bits().wrapping_sub(ROUNDER_BITS) & mask;
        }
        pack(codes, bits, &mut wq[g * wpg..(g + 1) * wpg]);
        dt.store(scale, &mut scales[g * sz..]);
        dt.store(bias, &mut biases[g * sz..]);
    }
    false
}

/// Dequantize one row: `q * scale + bias` in the scales' dtype (rounded
/// after each operation), returned as float32 values of that dtype.
/// Dispatches to an AVX2 copy like [`quantize_row`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn dequantize_row(wq: &[u32], scales: &[f32], biases: &[f32], gs: usize, bits: u32, dt: Float, out: &mut [f32], codes: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd_dispatch() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { dequantize_row_avx2(wq, scales, biases, gs, bits, dt, out, codes) };
    }
    dequantize_row_impl(wq, scales, biases, gs, bits, dt, out, codes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn dequantize_row_avx2(wq: &[u32], scales: &[f32], biases: &[f32], gs: usize, bits: u32, dt: Float, out: &mut [f32], codes: &mut [u32]) {
    dequantize_row_impl(wq, scales, biases, gs, bits, dt, out, codes)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dequantize_row_impl(wq: &[u32], scales: &[f32], biases: &[f32], gs: usize, bits: u32, dt: Float, out: &mut [f32], codes: &mut [u32]) {
    match dt {
        Float::F32 => dequantize_groups(wq, scales, biases, gs, bits, R32, out, codes),
        Float::F16 => dequantize_groups(wq, scales, biases, gs, bits, R16, out, codes),
        Float::BF16 => dequantize_groups(wq, scales, biases, gs, bits, RB16, out, codes),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dequantize_groups<R: Rounder>(wq: &[u32], scales: &[f32], biases: &[f32], gs: usize, bits: u32, r: R, out: &mut [f32], codes: &mut [u32]) {
    let wpg = gs * bits as usize / 32;
    for (g, o) in out.chunks_exact_mut(gs).enumerate() {
        let codes = &mut codes[..gs];
        unpack(&wq[g * wpg..(g + 1) * wpg], bits, codes);
        let (s, b) = (scales[g], biases[g]);
        for (y, &c) in o.iter_mut().zip(codes.iter()) {
            *y = r.r(r.r(c as f32 * s) + b);
        }
    }
}
