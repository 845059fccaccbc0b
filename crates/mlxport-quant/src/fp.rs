//! Floating-point block modes (mxfp4, mxfp8, nvfp4), as MLX's CPU path
//! computes them: a chain of array operations, each rounded to its result
//! dtype. The input dtype matters: the scale division and the element
//! division round to it.

use std::sync::OnceLock;

use crate::float::{exp2i, from_fp8, to_fp8, Float, Rounder, R16, R32, RB16};

/// FP4 E2M1 values by code (bit 3 is the sign).
pub(crate) const FP4: [f32; 16] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0];

/// The FP4 code MLX picks: the first code (lowest index) whose distance
/// `|x - value|`, rounded to `dt`, is smallest. Ties go to the smaller
/// magnitude, and `-0.25` becomes `+0`.
#[inline(always)]
fn fp4_code(x: f32, dt: Float) -> u32 {
    let mut best = dt.round((x - FP4[0]).abs());
    let mut idx = 0u32;
    for (k, &l) in FP4.iter().enumerate().skip(1) {
        let d = dt.round(dt.round(x - l).abs());
        if d < best {
            best = d;
            idx = k as u32;
        }
    }
    idx
}

/// `ceil(log2(s))`, exactly, for a finite `s > 0` (subnormals included).
#[inline(always)]
fn ceil_log2(s: f32) -> i32 {
    let b = s.to_bits() & 0x7fff_ffff;
    let exp = (b >> 23) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0 {
        // subnormal: man * 2^-149
        let floor = 31 - man.leading_zeros() as i32 - 149;
        floor + i32::from(!man.is_power_of_two())
    } else {
        exp - 127 + i32::from(man != 0)
    }
}

/// [`fp4_code`] for every float16 (or bfloat16) bit pattern, so the
/// encoder costs one lookup.
fn fp4_table(dt: Float) -> &'static [u8; 65536] {
    static F16: OnceLock<Box<[u8; 65536]>> = OnceLock::new();
    static BF16: OnceLock<Box<[u8; 65536]>> = OnceLock::new();
    let cell = if dt == Float::F16 { &F16 } else { &BF16 };
    cell.get_or_init(|| {
        let mut t = Box::new([0u8; 65536]);
        for (h, c) in t.iter_mut().enumerate() {
            let x = match dt {
                Float::F16 => crate::float::f16_bits_to_f32(h as u16),
                _ => f32::from_bits((h as u32) << 16),
            };
            *c = fp4_code(x, dt) as u8;
        }
        t
    })
}

/// [`fp4_code`] with float32 distances: in [-8, 8] the nearest value with
/// ties to the smaller magnitude (and `-0.25..0` to `+0`); elsewhere (where
/// rounded distances can tie, and for NaN or infinities) the exact search.
#[inline(always)]
fn fp4_code_f32(x: f32) -> u32 {
    let a = x.abs();
    if a.is_nan() || a > 8.0 {
        return fp4_code(x, Float::F32);
    }
    let k = (a > 0.25) as u32 + (a > 0.75) as u32 + (a > 1.25) as u32 + (a > 1.75) as u32 + (a > 2.5) as u32 + (a > 3.5) as u32 + (a > 5.0) as u32;
    if k != 0 && x < 0.0 {
        k | 8
    } else {
        k
    }
}

/// Per group scales and codes for the mx modes (group 32, E8M0 scale) and
/// nvfp4 (group 16, E4M3 scale, optional float32 global scale).
/// Dispatches to a copy compiled for AVX2 when the CPU has it (same IEEE
/// operations, so the same bytes).
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantize_row(
    src: &[u8],
    x: &mut [f32],
    gs: usize,
    bits: u32,
    dt: Float,
    global_scale: Option<f32>,
    wq: &mut [u32],
    scales: &mut [u8],
    codes: &mut [u32],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::simd_dispatch() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { quantize_row_avx2(src, x, gs, bits, dt, global_scale, wq, scales, codes) };
    }
    quantize_row_impl(src, x, gs, bits, dt, global_scale, wq, scales, codes)
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
    global_scale: Option<f32>,
    wq: &mut [u32],
    scales: &mut [u8],
    codes: &mut [u32],
) -> bool {
    quantize_row_impl(src, x, gs, bits, dt, global_scale, wq, scales, codes)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn quantize_row_impl(
    src: &[u8],
    x: &mut [f32],
    gs: usize,
    bits: u32,
    dt: Float,
    global_scale: Option<f32>,
    wq: &mut [u32],
    scales: &mut [u8],
    codes: &mut [u32],
) -> bool {
    dt.load(src, x);
    // NaN and infinities are refused; finding them here (in cache, in a
    // loop that vectorizes) saves a pass over the input
    if x.iter().fold(false, |a, v| a | ((v.to_bits() & 0x7f80_0000) == 0x7f80_0000)) {
        return true;
    }
    let maxval = if bits == 4 { 6.0f32 } else { 448.0 };
    let wpg = gs * bits as usize / 32;
    for (g, xs) in x.chunks_exact(gs).enumerate() {
        let mut amax = f32::NEG_INFINITY;
        for &v in xs {
            let a = v.abs();
            amax = if amax < a { a } else { amax };
        }
        let s = dt.round(amax / maxval);
        let codes = &mut codes[..gs];
        if gs == 16 {
            let enc = global_scale.map_or(1.0f32, |g| (448.0f32 * 6.0) / g);
            let sc = to_fp8(s * enc);
            scales[g] = sc;
            let sd = from_fp8(sc);
            // The element division is in the input dtype; the product with
            // the (float32) encoding scale promotes to float32.
            for (c, &v) in codes.iter_mut().zip(xs) {
                let y = dt.round(v / sd) * enc;
                *c = fp4_code_f32(y);
            }
        } else {
            let e: i32 = if s == 0.0 { 0 } else { ceil_log2(s) };
            scales[g] = (e.wrapping_add(127)) as u8;
            let p = dt.round(exp2i(e));
            if bits == 4 {
                match dt {
                    Float::F32 => {
                        for (c, &v) in codes.iter_mut().zip(xs) {
                            *c = fp4_code_f32(v / p);
                        }
                    }
                    Float::F16 => {
                        let t = fp4_table(dt);
                        for (c, &v) in codes.iter_mut().zip(xs) {
                            *c = t[crate::float::to_f16_bits(v / p) as usize] as u32;
                        }
                    }
                    Float::BF16 => {
                        let t = fp4_table(dt);
                        for (c, &v) in codes.iter_mut().zip(xs) {
                            *c = t[crate::float::to_bf16_bits(v / p) as usize] as u32;
                        }
                    }
                }
            } else {
                for (c, &v) in codes.iter_mut().zip(xs) {
                    *c = to_fp8(dt.round(v / p)) as u32;
                }
            }
        }
        crate::pack::pack(codes, bits, &mut wq[g * wpg..(g + 1) * wpg]);
    }
    false
}

/// The decoded scale of one group, in the output dtype (float32 when a
/// global scale is given, as MLX promotes).
#[inline(always)]
pub(crate) fn scale_value(code: u8, gs: usize, out: Float, global_scale: Option<f32>) -> f32 {
    if gs == 16 {
        let s = from_fp8(code);
        match global_scale {
            None => s,
            Some(g) => s * (g / out.round(448.0 * 6.0)),
        }
    } else {
        let e = code as f32 - 127.0;
        out.round(exp2i(e as i32))
    }
}

/// Dequantize one row into float32 values of the output dtype.
/// Dispatches to an AVX2 copy like [`quantize_row`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn dequantize_row(wq: &[u32], scales: &[u8], gs: usize, bits: u32, out: Float, global_scale: Option<f32>, y: &mut [f32], codes: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd_dispatch() && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { dequantize_row_avx2(wq, scales, gs, bits, out, global_scale, y, codes) };
    }
    dequantize_row_impl(wq, scales, gs, bits, out, global_scale, y, codes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn dequantize_row_avx2(wq: &[u32], scales: &[u8], gs: usize, bits: u32, out: Float, global_scale: Option<f32>, y: &mut [f32], codes: &mut [u32]) {
    dequantize_row_impl(wq, scales, gs, bits, out, global_scale, y, codes)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dequantize_row_impl(wq: &[u32], scales: &[u8], gs: usize, bits: u32, out: Float, global_scale: Option<f32>, y: &mut [f32], codes: &mut [u32]) {
    let calc = if global_scale.is_some() { Float::F32 } else { out };
    match calc {
        Float::F32 => dequantize_groups(wq, scales, gs, bits, out, global_scale, R32, y, codes),
        Float::F16 => dequantize_groups(wq, scales, gs, bits, out, global_scale, R16, y, codes),
        Float::BF16 => dequantize_groups(wq, scales, gs, bits, out, global_scale, RB16, y, codes),
    }
}

/// Element values by code: FP4 E2M1 (first 16) or E4M3.
fn code_values(bits: u32) -> &'static [f32; 256] {
    static FP4V: OnceLock<[f32; 256]> = OnceLock::new();
    static FP8V: OnceLock<[f32; 256]> = OnceLock::new();
    if bits == 4 {
        FP4V.get_or_init(|| std::array::from_fn(|c| FP4[c & 15]))
    } else {
        FP8V.get_or_init(|| std::array::from_fn(|c| from_fp8(c as u8)))
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dequantize_groups<R: Rounder>(
    wq: &[u32],
    scales: &[u8],
    gs: usize,
    bits: u32,
    out: Float,
    global_scale: Option<f32>,
    r: R,
    y: &mut [f32],
    codes: &mut [u32],
) {
    let wpg = gs * bits as usize / 32;
    let vals = code_values(bits);
    for (g, o) in y.chunks_exact_mut(gs).enumerate() {
        let codes = &mut codes[..gs];
        crate::pack::unpack(&wq[g * wpg..(g + 1) * wpg], bits, codes);
        let s = scale_value(scales[g], gs, out, global_scale);
        for (v, &c) in o.iter_mut().zip(codes.iter()) {
            *v = r.r(vals[(c & 255) as usize] * s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_fp4_encoders_equal_the_search() {
        for dt in [Float::F16, Float::BF16] {
            let t = fp4_table(dt);
            // the table is built by the search; check the float32 fast path
            // on every value of the half types too
            for h in 0..=u16::MAX {
                let x = match dt {
                    Float::F16 => crate::float::f16_bits_to_f32(h),
                    _ => f32::from_bits((h as u32) << 16),
                };
                assert_eq!(fp4_code_f32(x), fp4_code(x, Float::F32), "{x:e}");
                assert_eq!(t[h as usize] as u32, fp4_code(x, dt));
            }
        }
        let mut z = 99u64;
        for _ in 0..1_000_000 {
            z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let x = f32::from_bits((z >> 32) as u32);
            assert_eq!(fp4_code_f32(x), fp4_code(x, Float::F32), "{x:e}");
            let y = ((z >> 11) as f64 / (1u64 << 53) as f64 * 20.0 - 10.0) as f32;
            assert_eq!(fp4_code_f32(y), fp4_code(y, Float::F32), "{y:e}");
        }
        for x in [0.25f32, -0.25, 0.75, -0.75, 2.5, -2.5, 5.0, -5.0, -0.0, 0.0, 8.0, -8.0, 6.0] {
            assert_eq!(fp4_code_f32(x), fp4_code(x, Float::F32), "{x}");
        }
    }

    #[test]
    fn ceil_log2_is_exact() {
        for e in -149..128 {
            let p = exp2i(e);
            assert_eq!(ceil_log2(p), e, "2^{e}");
            let up = f32::from_bits(p.to_bits() + 1);
            if up.is_finite() && e < 127 {
                assert_eq!(ceil_log2(up), e + 1, "just above 2^{e}");
            }
            let down = f32::from_bits(p.to_bits() - 1);
            if e > -148 {
                assert_eq!(ceil_log2(down), e, "just below 2^{e}");
            }
        }
        assert_eq!(ceil_log2(3.0), 2);
        assert_eq!(ceil_log2(f32::from_bits(3)), -147);
    }
}
