//! Dequantization of ggml block types to f32, and the raw codes of the
//! simple affine block types.
//!
//! Each block type is decoded exactly as ggml and the `gguf` Python
//! package do it, in the same float32 operation order (scale products
//! first, then `d * q`, then `+ m` or `- m`, each rounded to f32, never
//! fused), so the results are bit-identical to theirs. Large tensors are
//! split over blocks and decoded in parallel.
//!
//! Supported: F32, F16, BF16, F64, I8, I16, I32, I64, Q4_0, Q4_1, Q5_0,
//! Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.

use half::f16;
use rayon::prelude::*;

use super::types::GgmlType;
use crate::dtype::decode_f32;

/// Why a tensor could not be dequantized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DequantError {
    #[error("unsupported ggml type {0} for dequantization")]
    Unsupported(&'static str),
    #[error("{bytes} bytes of {ty} do not hold {numel} elements")]
    Length { ty: &'static str, bytes: usize, numel: usize },
    #[error("{0}")]
    Convert(String),
}

/// Blocks decoded by one parallel task.
const BLOCKS_PER_TASK: usize = 1024;
/// Elements below which a tensor is decoded on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Whether [`dequantize`] can decode this type.
pub fn supports(t: &GgmlType) -> bool {
    t.dense.is_some() || matches!(t.name, "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K" | "Q8_K")
}

/// Decode `src` (whole blocks of type `t`) into `dst`, which must hold
/// exactly the elements those blocks encode.
pub fn dequantize(t: &GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), DequantError> {
    if let Some(dtype) = t.dense {
        return dense(dtype, src, dst);
    }
    match t.name {
        "Q4_0" => blocks::<18, 32>(t, src, dst, q4_0),
        "Q4_1" => blocks::<20, 32>(t, src, dst, q4_1),
        "Q5_0" => blocks::<22, 32>(t, src, dst, q5_0),
        "Q5_1" => blocks::<24, 32>(t, src, dst, q5_1),
        "Q8_0" => blocks::<34, 32>(t, src, dst, q8_0),
        "Q2_K" => blocks::<84, 256>(t, src, dst, q2_k),
        "Q3_K" => blocks::<110, 256>(t, src, dst, q3_k),
        "Q4_K" => blocks::<144, 256>(t, src, dst, q4_k),
        "Q5_K" => blocks::<176, 256>(t, src, dst, q5_k),
        "Q6_K" => blocks::<210, 256>(t, src, dst, q6_k),
        "Q8_K" => blocks::<292, 256>(t, src, dst, q8_k),
        other => Err(DequantError::Unsupported(other)),
    }
}

/// Plain element types, through the crate's exact conversions.
fn dense(dtype: crate::DType, src: &[u8], dst: &mut [f32]) -> Result<(), DequantError> {
    let size = dtype.size().unwrap_or(1);
    let convert = |s: &[u8], d: &mut [f32]| match dtype {
        crate::DType::I64 => i64_to_f32(s, d),
        _ => decode_f32(dtype, s, d).map_err(|e| DequantError::Convert(e.to_string())),
    };
    if dst.len() < PARALLEL_MIN_ELEMENTS || src.len() != dst.len().saturating_mul(size) {
        return convert(src, dst);
    }
    let per = BLOCKS_PER_TASK * 64;
    src.par_chunks(per * size).zip(dst.par_chunks_mut(per)).try_for_each(|(s, d)| convert(s, d))
}

/// i64 to f32 with one rounding (to nearest even), as a C or NumPy cast
/// does; going through f64 would round twice above 2^53.
fn i64_to_f32(src: &[u8], dst: &mut [f32]) -> Result<(), DequantError> {
    if src.len() != dst.len().saturating_mul(8) {
        return Err(DequantError::Length { ty: "I64", bytes: src.len(), numel: dst.len() });
    }
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *d = i64::from_le_bytes(b) as f32;
    }
    Ok(())
}

/// Decode whole blocks of `N` bytes into `M` values each with `f`.
fn blocks<const N: usize, const M: usize>(t: &GgmlType, src: &[u8], dst: &mut [f32], f: fn(&[u8; N], &mut [f32; M])) -> Result<(), DequantError> {
    if !src.len().is_multiple_of(N) || src.len() / N * M != dst.len() {
        return Err(DequantError::Length { ty: t.name, bytes: src.len(), numel: dst.len() });
    }
    if dst.len() < PARALLEL_MIN_ELEMENTS {
        run_blocks(src, dst, f);
    } else {
        src.par_chunks(N * BLOCKS_PER_TASK).zip(dst.par_chunks_mut(M * BLOCKS_PER_TASK)).for_each(|(s, d)| run_blocks(s, d, f));
    }
    Ok(())
}

fn run_blocks<const N: usize, const M: usize>(src: &[u8], dst: &mut [f32], f: fn(&[u8; N], &mut [f32; M])) {
    for (s, d) in src.chunks_exact(N).zip(dst.chunks_exact_mut(M)) {
        if let (Ok(s), Ok(d)) = (<&[u8; N]>::try_from(s), <&mut [f32; M]>::try_from(d)) {
            f(s, d);
        }
    }
}

/// f16 at `b[i..i + 2]`, widened exactly.
#[inline]
fn h(lo: u8, hi: u8) -> f32 {
    f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}

/// Q4_0: f16 d, 16 bytes of nibbles; element j is the low nibble of byte j,
/// element j + 16 its high nibble; x = d * (q - 8).
fn q4_0(b: &[u8; 18], out: &mut [f32; 32]) {
    let d = h(b[0], b[1]);
    for j in 0..16 {
        let q = b[2 + j];
        out[j] = d * ((q & 0x0f) as i32 - 8) as f32;
        out[j + 16] = d * ((q >> 4) as i32 - 8) as f32;
    }
}

/// Q4_1: f16 d, f16 m, nibbles as Q4_0; x = d * q + m.
fn q4_1(b: &[u8; 20], out: &mut [f32; 32]) {
    let d = h(b[0], b[1]);
    let m = h(b[2], b[3]);
    for j in 0..16 {
        let q = b[4 + j];
        out[j] = d * (q & 0x0f) as f32 + m;
        out[j + 16] = d * (q >> 4) as f32 + m;
    }
}

/// The 5-bit code of element j from a u32 of high bits and 16 nibble bytes.
#[inline]
fn code5(qh: u32, qs: &[u8], j: usize) -> u8 {
    let lo = if j < 16 { qs[j] & 0x0f } else { qs[j - 16] >> 4 };
    lo | ((((qh >> j) & 1) as u8) << 4)
}

/// Q5_0: f16 d, u32 of fifth bits (bit j for element j), nibbles as Q4_0;
/// x = d * (q - 16).
fn q5_0(b: &[u8; 22], out: &mut [f32; 32]) {
    let d = h(b[0], b[1]);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * (code5(qh, qs, j) as i32 - 16) as f32;
    }
}

/// Q5_1: f16 d, f16 m, then as Q5_0; x = d * q + m.
fn q5_1(b: &[u8; 24], out: &mut [f32; 32]) {
    let d = h(b[0], b[1]);
    let m = h(b[2], b[3]);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * code5(qh, qs, j) as f32 + m;
    }
}

/// Q8_0: f16 d, 32 signed bytes; x = q * d.
fn q8_0(b: &[u8; 34], out: &mut [f32; 32]) {
    let d = h(b[0], b[1]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = (b[2 + j] as i8) as f32 * d;
    }
}

/// Q2_K: 16 scale bytes (low nibble scale, high nibble min, one per 16
/// elements), 64 bytes of 2-bit codes, f16 d, f16 dmin;
/// x = (d * sc) * q - (dmin * m).
fn q2_k(b: &[u8; 84], out: &mut [f32; 256]) {
    let d = h(b[80], b[81]);
    let dmin = h(b[82], b[83]);
    for (e, o) in out.iter_mut().enumerate() {
        let sc = b[e / 16];
        let dl = d * (sc & 0x0f) as f32;
        let ml = dmin * (sc >> 4) as f32;
        let byte = b[16 + (e / 128) * 32 + e % 32];
        let q = (byte >> (2 * ((e % 128) / 32))) & 3;
        *o = dl * q as f32 - ml;
    }
}

/// The 16 signed 6-bit scales of a Q3_K block.
fn q3_k_scales(s: &[u8]) -> [f32; 16] {
    let mut out = [0f32; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let lo = if i < 8 { s[i] & 0x0f } else { s[i - 8] >> 4 };
        let hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = ((lo | (hi << 4)) as i32 - 32) as f32;
    }
    out
}

/// Q3_K: 32 bytes of high-bit mask, 64 bytes of 2-bit codes, 12 bytes of
/// packed 6-bit scales, f16 d; q = low bits - 4 when the mask bit is clear;
/// x = (d * scale) * q.
fn q3_k(b: &[u8; 110], out: &mut [f32; 256]) {
    let d = h(b[108], b[109]);
    let scales = q3_k_scales(&b[96..108]);
    for (e, o) in out.iter_mut().enumerate() {
        let dl = d * scales[e / 16];
        let lo = (b[32 + (e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        let hbit = (b[e % 32] >> (e / 32)) & 1;
        let q = lo as i32 - if hbit == 0 { 4 } else { 0 };
        *o = dl * q as f32;
    }
}

/// The 8 (scale, min) pairs of a Q4_K / Q5_K block, 6 bits each.
fn k_scale_min(s: &[u8]) -> [(f32, f32); 8] {
    let mut out = [(0f32, 0f32); 8];
    for (j, o) in out.iter_mut().enumerate() {
        let (sc, m) = if j < 4 {
            (s[j] & 0x3f, s[j + 4] & 0x3f)
        } else {
            let k = j - 4;
            ((s[8 + k] & 0x0f) | ((s[k] >> 2) & 0x30), (s[8 + k] >> 4) | ((s[4 + k] >> 2) & 0x30))
        };
        *o = (sc as f32, m as f32);
    }
    out
}

/// Q4_K: f16 d, f16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles
/// (each 32-byte run holds two 32-element sub-blocks, low nibbles first);
/// x = (d * sc) * q - (dmin * m).
fn q4_k(b: &[u8; 144], out: &mut [f32; 256]) {
    let d = h(b[0], b[1]);
    let dmin = h(b[2], b[3]);
    let sm = k_scale_min(&b[4..16]);
    for (e, o) in out.iter_mut().enumerate() {
        let s = e / 32;
        let (sc, m) = sm[s];
        let q = (b[16 + (s / 2) * 32 + e % 32] >> (4 * (s % 2))) & 0x0f;
        *o = (d * sc) * q as f32 - dmin * m;
    }
}

/// Q5_K: as Q4_K plus 32 bytes of fifth bits (bit s of byte l for element
/// 32 s + l) between the scales and the nibbles.
fn q5_k(b: &[u8; 176], out: &mut [f32; 256]) {
    let d = h(b[0], b[1]);
    let dmin = h(b[2], b[3]);
    let sm = k_scale_min(&b[4..16]);
    for (e, o) in out.iter_mut().enumerate() {
        let s = e / 32;
        let (sc, m) = sm[s];
        let lo = (b[48 + (s / 2) * 32 + e % 32] >> (4 * (s % 2))) & 0x0f;
        let hi = (b[16 + e % 32] >> s) & 1;
        let q = lo | (hi << 4);
        *o = (d * sc) * q as f32 - dmin * m;
    }
}

/// Q6_K: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 signed
/// scales (one per 16 elements), f16 d; x = (d * scale) * (q - 32).
fn q6_k(b: &[u8; 210], out: &mut [f32; 256]) {
    let d = h(b[208], b[209]);
    for (e, o) in out.iter_mut().enumerate() {
        let half = e / 128;
        let r = e % 128;
        let lo = (b[half * 64 + r % 64] >> (4 * (r / 64))) & 0x0f;
        let hi = (b[128 + half * 32 + r % 32] >> (2 * (r / 32))) & 3;
        let q = (lo | (hi << 4)) as i32 - 32;
        let dl = d * (b[192 + e / 16] as i8) as f32;
        *o = dl * q as f32;
    }
}

/// Q8_K: f32 d, 256 signed bytes, 16 i16 block sums (unused here);
/// x = d * q.
fn q8_k(b: &[u8; 292], out: &mut [f32; 256]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * (b[4 + j] as i8) as f32;
    }
}

/// The codes and per-block parameters of a simple affine block type
/// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), for lossless repacking.
///
/// Element `i` of block `k` is
/// `(codes[i] - zero_point) * scales[k]`, plus `mins[k]` when present,
/// evaluated in f32 as ggml does.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineBlocks {
    /// The ggml type name.
    pub ty: &'static str,
    /// Elements per block (32).
    pub block_size: usize,
    /// Bits per code (4, 5 or 8).
    pub bits: u32,
    /// One unsigned code per element, in logical (row-major) order.
    pub codes: Vec<u8>,
    /// The block scale `d`, one per block.
    pub scales: Vec<f16>,
    /// The block minimum `m` (Q4_1, Q5_1), one per block.
    pub mins: Option<Vec<f16>>,
    /// Subtracted from each code before scaling: 8 (Q4_0), 16 (Q5_0),
    /// 128 (Q8_0, whose signed codes are stored here offset by 128), or 0.
    pub zero_point: u8,
}

/// Split whole blocks of an affine block type into codes and parameters.
pub fn affine_blocks(t: &GgmlType, src: &[u8]) -> Result<AffineBlocks, DequantError> {
    let (bits, zero_point, has_min) = match t.name {
        "Q4_0" => (4, 8, false),
        "Q4_1" => (4, 0, true),
        "Q5_0" => (5, 16, false),
        "Q5_1" => (5, 0, true),
        "Q8_0" => (8, 128, false),
        other => return Err(DequantError::Unsupported(other)),
    };
    let n = t.type_size as usize;
    if !src.len().is_multiple_of(n) {
        return Err(DequantError::Length { ty: t.name, bytes: src.len(), numel: 0 });
    }
    let nblocks = src.len() / n;
    let mut out = AffineBlocks {
        ty: t.name,
        block_size: 32,
        bits,
        codes: Vec::with_capacity(nblocks * 32),
        scales: Vec::with_capacity(nblocks),
        mins: has_min.then(|| Vec::with_capacity(nblocks)),
        zero_point,
    };
    for b in src.chunks_exact(n) {
        split_block(t.name, b, &mut out);
    }
    Ok(out)
}

/// Append one block's scale, min and 32 codes.
fn split_block(ty: &str, b: &[u8], out: &mut AffineBlocks) {
    let f = |i: usize| f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]]));
    out.scales.push(f(0));
    let body = if let Some(m) = out.mins.as_mut() {
        m.push(f(2));
        4
    } else {
        2
    };
    match ty {
        "Q8_0" => out.codes.extend(b[2..34].iter().map(|&q| (q as i8 as i32 + 128) as u8)),
        "Q4_0" | "Q4_1" => {
            let qs = &b[body..body + 16];
            out.codes.extend(qs.iter().map(|q| q & 0x0f));
            out.codes.extend(qs.iter().map(|q| q >> 4));
        }
        _ => {
            let qh = u32::from_le_bytes([b[body], b[body + 1], b[body + 2], b[body + 3]]);
            let qs = &b[body + 4..body + 20];
            out.codes.extend((0..32).map(|j| code5(qh, qs, j)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::types::ggml_type_by_name;

    #[test]
    fn q4_0_known_block() {
        let mut b = [0u8; 18];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        b[2] = 0x9f; // element 0 -> 15, element 16 -> 9
        let mut out = [0f32; 32];
        q4_0(&b, &mut out);
        assert_eq!(out[0], 3.5);
        assert_eq!(out[16], 0.5);
        assert_eq!(out[1], -4.0);
    }

    #[test]
    fn affine_codes_rebuild_dequantized_values() {
        let mut seed = 0x1234_5678_u32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for name in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"] {
            let t = ggml_type_by_name(name).unwrap();
            let n = t.type_size as usize;
            let mut src: Vec<u8> = (0..n * 3).map(|_| rnd() as u8).collect();
            for blk in src.chunks_exact_mut(n) {
                blk[..2].copy_from_slice(&f16::from_f32(0.01).to_bits().to_le_bytes());
                if matches!(name, "Q4_1" | "Q5_1") {
                    blk[2..4].copy_from_slice(&f16::from_f32(-0.3).to_bits().to_le_bytes());
                }
            }
            let mut want = vec![0f32; 96];
            dequantize(&t, &src, &mut want).unwrap();
            let a = affine_blocks(&t, &src).unwrap();
            for (i, w) in want.iter().enumerate() {
                let k = i / 32;
                let d = a.scales[k].to_f32();
                let q = (a.codes[i] as i32 - a.zero_point as i32) as f32;
                let v = match &a.mins {
                    Some(m) => d * q + m[k].to_f32(),
                    None => d * q,
                };
                assert_eq!(v.to_bits(), w.to_bits(), "{name} element {i}");
            }
        }
    }

    #[test]
    fn unsupported_types_are_named() {
        let t = ggml_type_by_name("IQ2_XXS").unwrap();
        let e = dequantize(&t, &[], &mut []).unwrap_err();
        assert_eq!(e.to_string(), "unsupported ggml type IQ2_XXS for dequantization");
    }
}
