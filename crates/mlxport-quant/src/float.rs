//! The three floating input/output types, as MLX's CPU backend computes in
//! them: every operation happens in float32 and is rounded (to nearest, ties
//! to even) to the array's dtype afterwards. Also MLX's own float8 E4M3
//! encoder and decoder, which the FP modes use.

use half::{bf16, f16, slice::HalfFloatSliceExt};
use mlxport_tensor::DType;

/// A floating dtype the kernels read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Float {
    F32,
    F16,
    BF16,
}

impl Float {
    pub(crate) fn of(d: DType) -> Option<Float> {
        match d {
            DType::F32 => Some(Float::F32),
            DType::F16 => Some(Float::F16),
            DType::BF16 => Some(Float::BF16),
            _ => None,
        }
    }

    pub(crate) fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            _ => 2,
        }
    }

    /// Round a float32 to this dtype and back (the value an MLX array of this
    /// dtype would hold).
    #[inline(always)]
    pub(crate) fn round(self, x: f32) -> f32 {
        match self {
            Float::F32 => x,
            Float::F16 => f16_bits_to_f32(to_f16_bits(x)),
            Float::BF16 => f32::from_bits((to_bf16_bits(x) as u32) << 16),
        }
    }

    /// Decode little-endian elements into `out` (`bytes.len() == out.len() * size`).
    #[inline(always)]
    pub(crate) fn load(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            Float::F32 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Float::F16 => {
                let mut tmp = [f16::ZERO; 256];
                for (o, b) in out.chunks_mut(256).zip(bytes.chunks(512)) {
                    let t = &mut tmp[..o.len()];
                    for (h, c) in t.iter_mut().zip(b.chunks_exact(2)) {
                        *h = f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
                    }
                    t.convert_to_f32_slice(o);
                }
            }
            Float::BF16 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
                }
            }
        }
    }

    /// Encode values (already representable, or rounded here) as little-endian bytes.
    #[inline(always)]
    pub(crate) fn store(self, x: f32, out: &mut [u8]) {
        match self {
            Float::F32 => out[..4].copy_from_slice(&x.to_le_bytes()),
            Float::F16 => out[..2].copy_from_slice(&to_f16_bits(x).to_le_bytes()),
            Float::BF16 => out[..2].copy_from_slice(&to_bf16_bits(x).to_le_bytes()),
        }
    }

    /// Index of the first NaN or infinite element of raw little-endian data.
    pub(crate) fn first_non_finite(self, bytes: &[u8]) -> Option<usize> {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 16;
        let sz = self.size();
        // branch-free per chunk (so it vectorizes); the exact index is
        // found afterwards in the first bad chunk
        let bad_chunk = bytes.par_chunks(CHUNK * sz).position_first(|c| match self {
            Float::F32 => c.chunks_exact(4).fold(false, |a, b| a | ((u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000) == 0x7f80_0000)),
            Float::F16 => c.chunks_exact(2).fold(false, |a, b| a | ((u16::from_le_bytes([b[0], b[1]]) & 0x7c00) == 0x7c00)),
            Float::BF16 => c.chunks_exact(2).fold(false, |a, b| a | ((u16::from_le_bytes([b[0], b[1]]) & 0x7f80) == 0x7f80)),
        })?;
        let start = bad_chunk * CHUNK;
        let c = &bytes[start * sz..((start + CHUNK) * sz).min(bytes.len())];
        let mut v = vec![0f32; c.len() / sz];
        self.load(c, &mut v);
        v.iter().position(|x| !x.is_finite()).map(|i| start + i)
    }

    /// The value of element `i` of raw data.
    pub(crate) fn get(self, bytes: &[u8], i: usize) -> f32 {
        let mut v = [0f32];
        let s = self.size();
        self.load(&bytes[i * s..(i + 1) * s], &mut v);
        v[0]
    }
}

/// Round to float16 and back (MLX's conversion, NaN included).
#[inline(always)]
pub(crate) fn round_f16(x: f32) -> f32 {
    f16_bits_to_f32(to_f16_bits(x))
}

/// Round to bfloat16 and back (MLX's conversion, NaN included).
#[inline(always)]
pub(crate) fn round_bf16(x: f32) -> f32 {
    f32::from_bits((to_bf16_bits(x) as u32) << 16)
}

/// Rounding to one dtype, as a type, so loops over elements are compiled
/// once per dtype without a per-element dispatch.
pub(crate) trait Rounder: Copy {
    fn r(self, x: f32) -> f32;
}

#[derive(Clone, Copy)]
pub(crate) struct R32;
#[derive(Clone, Copy)]
pub(crate) struct R16;
#[derive(Clone, Copy)]
pub(crate) struct RB16;

impl Rounder for R32 {
    #[inline(always)]
    fn r(self, x: f32) -> f32 {
        x
    }
}
impl Rounder for R16 {
    #[inline(always)]
    fn r(self, x: f32) -> f32 {
        round_f16(x)
    }
}
impl Rounder for RB16 {
    #[inline(always)]
    fn r(self, x: f32) -> f32 {
        round_bf16(x)
    }
}

/// float32 to float16 bits as MLX converts: round to nearest even, and
/// every NaN becomes `sign | 0x7D00`.
#[inline(always)]
pub(crate) fn to_f16_bits(x: f32) -> u16 {
    // Branch-free rounding by float addition (the FP16 library's method,
    // which MLX's converter also uses): scaling pushes the bits to be
    // dropped below the precision of `base`, and the addition rounds them.
    let w = x.to_bits();
    let shl1 = w.wrapping_add(w);
    let sign = ((w & 0x8000_0000) >> 16) as u16;
    if shl1 > 0xff00_0000 {
        return sign | 0x7d00; // NaN
    }
    let base = (x.abs() * f32::from_bits(0x7780_0000)) * f32::from_bits(0x0880_0000);
    let bias = (shl1 & 0xff00_0000).max(0x7100_0000);
    let r = (f32::from_bits((bias >> 1) + 0x0780_0000) + base).to_bits();
    sign | (((r >> 13) & 0x7c00) + (r & 0x0fff)) as u16
}

/// float16 bits to float32, exactly (branch-free; a NaN comes out quiet,
/// as the hardware converter gives it).
#[inline(always)]
pub(crate) fn f16_bits_to_f32(h: u16) -> f32 {
    let w = (h as u32) << 16;
    let sign = w & 0x8000_0000;
    let two_w = w.wrapping_add(w);
    let normalized = f32::from_bits((two_w >> 4) + (0xe0 << 23)) * f32::from_bits(0x0780_0000);
    let denormalized = f32::from_bits((two_w >> 17) | (126 << 23)) - 0.5;
    let m = if two_w < (1 << 27) { denormalized.to_bits() } else { normalized.to_bits() };
    f32::from_bits(sign | m)
}

/// float32 to bfloat16 bits as MLX converts: round to nearest even, and
/// every NaN becomes `0x7FC0`.
#[inline(always)]
pub(crate) fn to_bf16_bits(x: f32) -> u16 {
    if x.is_nan() {
        0x7fc0
    } else {
        bf16::from_f32(x).to_bits()
    }
}

/// MLX's float8 E4M3 ("fn") encoder: round to nearest even, subnormals
/// included; anything at or above 464 (and NaN, infinities) saturates to
/// +-448 (0x7E/0xFE).
#[inline(always)]
pub(crate) fn to_fp8(x: f32) -> u8 {
    const FP8_MAX: u32 = 543 << 21;
    const DENORM_MASK: u32 = 141 << 23;
    let mut bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    bits ^= sign;
    let r = if bits >= FP8_MAX {
        0x7e
    } else if bits < (121 << 23) {
        let low = (f32::from_bits(bits) + f32::from_bits(DENORM_MASK)).to_bits();
        low.wrapping_sub(DENORM_MASK) as u8
    } else {
        let mant_odd = (bits >> 20) & 1;
        let high = bits.wrapping_add(((7u32.wrapping_sub(127)) << 23).wrapping_add(0x7ffff)).wrapping_add(mant_odd);
        (high >> 20) as u8
    };
    r | (sign >> 24) as u8
}

/// MLX's float8 E4M3 decoder (the magnitude bits read as a float16 and
/// multiplied by 256).
#[inline(always)]
pub(crate) fn from_fp8(x: u8) -> f32 {
    let v = ((x & 127) as u16) << 7;
    let m = f16::from_bits(v).to_f32() * 256.0;
    if x & 128 != 0 {
        -m
    } else {
        m
    }
}

/// `2^e` as float32: exact, 0 below the subnormal range, infinite above.
#[inline(always)]
pub(crate) fn exp2i(e: i32) -> f32 {
    (2f64).powi(e) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_conversions_agree_with_the_half_crate() {
        for h in 0..=u16::MAX {
            let x = f16::from_bits(h);
            if x.is_nan() {
                assert!(f16_bits_to_f32(h).is_nan());
                continue;
            }
            assert_eq!(f16_bits_to_f32(h).to_bits(), x.to_f32().to_bits(), "{h:#x}");
        }
        let mut z = 0x1234_5678u64;
        for i in 0..2_000_000u64 {
            z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let b = if i < 65536 { (i as u32) << 13 | (i as u32 & 1) } else { (z >> 32) as u32 };
            let x = f32::from_bits(b);
            let want = if x.is_nan() { ((b >> 16) as u16 & 0x8000) | 0x7d00 } else { f16::from_f32(x).to_bits() };
            assert_eq!(to_f16_bits(x), want, "{b:#x}");
        }
    }

    #[test]
    fn fp8_round_trip_of_all_codes() {
        for c in 0u8..=255 {
            if c & 0x7f == 0x7f {
                continue; // NaN codes
            }
            assert_eq!(to_fp8(from_fp8(c)), if c == 0x80 { 0x80 } else { c }, "code {c:#x}");
        }
        assert_eq!(from_fp8(0x7e), 448.0);
        assert_eq!(to_fp8(1e9), 0x7e);
        assert_eq!(to_fp8(f32::NEG_INFINITY), 0xfe);
    }
}
