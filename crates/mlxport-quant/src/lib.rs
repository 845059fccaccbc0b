//! MLX quantization kernels, bit-exact with `mx.quantize` / `mx.dequantize`
//! on MLX's CPU backend.
//!
//! The crate's one job: turn one float tensor (raw little-endian F32, F16 or
//! BF16 bytes) into MLX's quantized triple — packed `w_q` words, scales and
//! (affine only) biases — and back, producing the very bytes MLX produces.
//! It knows nothing about models or files: callers stream one tensor in and
//! get one out. Work is parallel over rows (rayon); the inner loops
//! allocate nothing.
//!
//! ```
//! use mlxport_quant::{dequantize_f32, quantize, Mode, Params};
//! use mlxport_tensor::DType;
//! let w: Vec<f32> = (0..2 * 64).map(|i| (i as f32 - 64.0) / 64.0).collect();
//! let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
//! let p = Params::new(Mode::Affine, Some(4), Some(64))?;
//! let q = quantize(&bytes, DType::F32, &[2, 64], &p)?;
//! assert_eq!(q.wq_shape(), vec![2, 8]);
//! let back = dequantize_f32(&q, &p)?;
//! assert!(back.iter().zip(&w).all(|(a, b)| (a - b).abs() <= 0.07));
//! # Ok::<(), mlxport_quant::QuantError>(())
//! ```
//!
//! # Modes
//!
//! | mode   | group size            | bits                    | scales         | biases |
//! |--------|-----------------------|-------------------------|----------------|--------|
//! | affine | 32, 64 (default), 128 | 1, 2, 3, 4 (default), 5, 6, 8 | input dtype | input dtype |
//! | mxfp4  | 32                    | 4                       | uint8, E8M0    | no |
//! | mxfp8  | 32                    | 8                       | uint8, E8M0    | no |
//! | nvfp4  | 16                    | 4                       | uint8, E4M3    | no |
//!
//! Groups are runs of `group_size` consecutive elements along the last axis
//! (ndim >= 2, last dim divisible by the group size). `w_q` has shape
//! `[..., K*bits/32]` (uint32), scales and biases `[..., K/group_size]`.
//! Rows are independent: quantizing a large tensor in slices of whole rows
//! (shape `[rows, K]` each) and concatenating the parts gives the same
//! bytes, so callers can stream it.
//!
//! # Exact semantics (CPU)
//!
//! As `mx.quantize` computes them in mlx 0.32.4 (pinned in
//! `python/requirements.lock`), every rule checked against it by
//! `tests/mlx_reference.rs` on random and adversarial input.
//!
//! Affine, per group, in float32: `wmin`/`wmax`; `s = max((wmax-wmin)/n,
//! 1e-7)` with `n = 2^bits-1`. One bit: `bias = wmin`, `s` as is. Two or
//! more bits: if `|wmin| > |wmax|` the edge is `wmin` and
//! `s` stays positive, else the edge is `wmax` and `s = -s`; `q0 =
//! rint(edge/s)`, and if `q0 != 0` then `s = edge/q0`, `bias = edge`, else
//! `bias = 0`. Codes are `clamp(rint((w-bias)/s), 0, n)` (`rint` rounds
//! half to even); scale and bias are stored rounded to the input dtype.
//! A group whose range overflows the dtype gets an infinite scale, and
//! dequantizes to NaN, in MLX and here alike.
//! Dequantization is `q*s + b` in the scales' dtype, rounded after the
//! multiply and again after the add, then cast to the requested dtype.
//!
//! Packing: the codes of a tensor form a little-endian bit stream, read as
//! little-endian uint32 words (3-, 5- and 6-bit codes straddle bytes).
//!
//! mxfp4 / mxfp8: `s = amax/6` (or `/448`) rounded to the input dtype; the
//! E8M0 exponent is the exact `ceil(log2 s)` (0 when `s == 0`), stored as
//! `e + 127` wrapping to a byte (MLX does not clamp it, so groups below
//! about 2^-127 wrap around). Elements are divided by `2^e` in the input
//! dtype, then encoded: FP8 E4M3 saturating at 448, or the FP4 E2M1 code at the least
//! distance (distances rounded to the input dtype; ties take the lower
//! code, so magnitude ties round down and `-0.25` becomes `+0`).
//!
//! nvfp4: `s = amax/6` in the input dtype, times the float32 encoding scale
//! (1, or `448*6/global_scale`), stored as E4M3; elements are divided by the
//! decoded scale in the input dtype, multiplied by the encoding scale in
//! float32, and FP4-encoded as above with float32 distances.
//!
//! FP dequantization: code value times `2^(byte-127)` (mx) or the E4M3 scale
//! (nv) in the output dtype (MLX's default output is bfloat16, see
//! [`Params::default_output`]); with an nvfp4 global scale MLX computes, and
//! returns, float32.
//!
//! Conversions to float16 and bfloat16 round to nearest even; a NaN becomes
//! MLX's NaN (`sign | 0x7D00` in float16, `0x7FC0` in bfloat16), so even
//! the NaNs of an overflowing group match MLX bit for bit.
//!
//! # Speed
//!
//! Rows are spread over rayon's threads. Each row is decoded into a float32
//! scratch row and quantized group by group with branch-free loops (the
//! `rint` of the codes by the 2^23 addition trick, min/max in eight lanes,
//! FP4 codes from a 64 Ki-entry table per half type); on x86-64 a copy of
//! the row kernel compiled for AVX2 is chosen at run time. Divisions stay
//! divisions and no fused multiply-add is formed, so every copy gives the
//! same bytes.
//!
//! # CPU versus Metal
//!
//! MLX's Metal (and CUDA) kernels differ from this CPU path: they round
//! half away from zero and start the running max at 0, so a Mac's GPU can
//! give other codes on exact ties and on all-negative groups. This crate
//! matches the CPU path; models quantized by `mlx_lm.convert` on Apple
//! silicon GPUs may differ in those cases.
//!
//! # GGUF
//!
//! [`from_gguf_blocks`] repacks GGUF Q4_0, Q4_1 and Q8_0 blocks (from
//! `mlxport_tensor`'s `GgufFile::affine_blocks`) as MLX affine without
//! requantizing, exactly as `mx.load` lays them out.

mod affine;
mod error;
mod float;
mod fp;
mod gguf;
mod pack;
mod stats;

use std::fmt;
use std::str::FromStr;

use mlxport_tensor::DType;
use rayon::prelude::*;

pub use error::{QuantError, Result};
pub use gguf::from_gguf_blocks;
pub use stats::{error_stats, ErrorStats};

use float::Float;

static SIMD_DISPATCH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the row kernels may use their AVX2 copies (on by default). The
/// portable and AVX2 copies give identical bytes; turning dispatch off lets
/// tests check the portable copy on machines that have AVX2.
#[doc(hidden)]
pub fn set_simd_dispatch(enabled: bool) {
    SIMD_DISPATCH.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

#[inline(always)]
pub(crate) fn simd_dispatch() -> bool {
    SIMD_DISPATCH.load(std::sync::atomic::Ordering::Relaxed)
}

/// Rows handed to one rayon task at a time.
const ROWS_PER_TASK: usize = 16;

/// A quantization mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Affine,
    Mxfp4,
    Mxfp8,
    Nvfp4,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Affine, Mode::Mxfp4, Mode::Mxfp8, Mode::Nvfp4];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Affine => "affine",
            Mode::Mxfp4 => "mxfp4",
            Mode::Mxfp8 => "mxfp8",
            Mode::Nvfp4 => "nvfp4",
        }
    }

    /// The bit widths MLX accepts for this mode.
    pub fn supported_bits(self) -> &'static [u8] {
        match self {
            Mode::Affine => &[1, 2, 3, 4, 5, 6, 8],
            Mode::Mxfp4 | Mode::Nvfp4 => &[4],
            Mode::Mxfp8 => &[8],
        }
    }

    /// The group sizes MLX accepts for this mode.
    pub fn supported_group_sizes(self) -> &'static [usize] {
        match self {
            Mode::Affine => &[32, 64, 128],
            Mode::Mxfp4 | Mode::Mxfp8 => &[32],
            Mode::Nvfp4 => &[16],
        }
    }

    pub fn default_bits(self) -> u8 {
        match self {
            Mode::Mxfp8 => 8,
            _ => 4,
        }
    }

    pub fn default_group_size(self) -> usize {
        match self {
            Mode::Affine => 64,
            Mode::Mxfp4 | Mode::Mxfp8 => 32,
            Mode::Nvfp4 => 16,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| QuantError::UnknownMode(s.to_string()))
    }
}

/// Quantization parameters: mode, bits per element and group size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub mode: Mode,
    pub bits: u8,
    pub group_size: usize,
}

impl Params {
    /// Parameters with MLX's defaults for what is not given, validated
    /// against what MLX accepts for the mode.
    pub fn new(mode: Mode, bits: Option<u8>, group_size: Option<usize>) -> Result<Params> {
        let p = Params { mode, bits: bits.unwrap_or(mode.default_bits()), group_size: group_size.unwrap_or(mode.default_group_size()) };
        p.validate()?;
        Ok(p)
    }

    /// Check the combination against what MLX accepts.
    pub fn validate(&self) -> Result<()> {
        let m = self.mode;
        if !m.supported_bits().contains(&self.bits) {
            let supported = match m {
                Mode::Affine => "1, 2, 3, 4, 5, 6, 8",
                Mode::Mxfp8 => "8",
                _ => "4",
            };
            return Err(QuantError::Bits { mode: m, bits: self.bits, supported });
        }
        if !m.supported_group_sizes().contains(&self.group_size) {
            let supported = match m {
                Mode::Affine => "32, 64, 128",
                Mode::Nvfp4 => "16",
                _ => "32",
            };
            return Err(QuantError::GroupSize { mode: m, group_size: self.group_size, supported });
        }
        Ok(())
    }

    /// Bits per weight of the stored form, scales and biases included, as
    /// mlx-lm counts them (stored bytes * 8 / parameters) for a tensor of
    /// the given input dtype.
    pub fn bits_per_weight(&self, input: DType) -> f64 {
        let extra = match self.mode {
            Mode::Affine => 2 * input.bits(),
            _ => 8,
        };
        self.bits as f64 + extra as f64 / self.group_size as f64
    }

    /// The dtype `mx.dequantize` returns when none is asked for: the scales'
    /// dtype for affine (the input dtype), bfloat16 for the FP modes.
    pub fn default_output(&self, input: DType) -> DType {
        match self.mode {
            Mode::Affine => input,
            _ => DType::BF16,
        }
    }

    /// The dtype of the scales (and biases) for a given input dtype.
    pub fn scale_dtype(&self, input: DType) -> DType {
        match self.mode {
            Mode::Affine => input,
            _ => DType::U8,
        }
    }
}

/// One quantized tensor, in MLX's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// Packed codes, shape [`Quantized::wq_shape`].
    pub wq: Vec<u32>,
    /// Raw little-endian scales of `scale_dtype`, shape [`Quantized::scales_shape`].
    pub scales: Vec<u8>,
    /// Raw little-endian biases of `scale_dtype` (affine only).
    pub biases: Option<Vec<u8>>,
    /// The input dtype for affine, `U8` for the FP modes.
    pub scale_dtype: DType,
    /// The float tensor's shape.
    pub shape: Vec<usize>,
}

impl Quantized {
    fn last(&self) -> usize {
        self.shape.last().copied().unwrap_or(0)
    }

    fn lead(&self) -> &[usize] {
        &self.shape[..self.shape.len().saturating_sub(1)]
    }

    /// `[..., K*bits/32]`, derived from the float shape and the word count
    /// (the last dimension reads 0 when the tensor has no rows).
    pub fn wq_shape(&self) -> Vec<usize> {
        let rows: usize = self.lead().iter().product();
        let mut s = self.lead().to_vec();
        s.push(self.wq.len().checked_div(rows).unwrap_or(0));
        s
    }

    /// `[..., K/group_size]`.
    pub fn scales_shape(&self) -> Vec<usize> {
        let rows: usize = self.lead().iter().product();
        let sz = self.scale_dtype.size().unwrap_or(1);
        let mut s = self.lead().to_vec();
        s.push((self.scales.len() / sz).checked_div(rows).unwrap_or(0));
        s
    }

    /// The `w_q` words as little-endian bytes.
    pub fn wq_bytes(&self) -> &[u8] {
        #[cfg(not(target_endian = "little"))]
        compile_error!("mlxport-quant assumes a little-endian target");
        // SAFETY: u32 has no padding and any byte pattern is a valid u8;
        // the length covers exactly the vector's initialized elements.
        unsafe { std::slice::from_raw_parts(self.wq.as_ptr().cast::<u8>(), self.wq.len() * 4) }
    }

    /// Check that the parts agree with each other and with `p`.
    fn check(&self, p: &Params) -> Result<(usize, usize)> {
        p.validate()?;
        check_shape(&self.shape, p)?;
        let k = self.last();
        let rows: usize = self.lead().iter().product();
        let want_wq = rows * k * p.bits as usize / 32;
        if self.wq.len() != want_wq {
            return Err(QuantError::Inconsistent(format!("w_q has {} words, shape {:?} at {} bits needs {}", self.wq.len(), self.shape, p.bits, want_wq)));
        }
        let sd = p.scale_dtype(self.scale_dtype);
        if sd != self.scale_dtype || (p.mode == Mode::Affine && Float::of(sd).is_none()) {
            return Err(QuantError::Inconsistent(format!("scale dtype {} does not fit mode {}", self.scale_dtype, p.mode)));
        }
        let want_s = rows * (k / p.group_size) * sd.size().unwrap_or(1);
        if self.scales.len() != want_s {
            return Err(QuantError::Inconsistent(format!("scales are {} bytes, expected {}", self.scales.len(), want_s)));
        }
        match (&self.biases, p.mode) {
            (Some(b), Mode::Affine) if b.len() == want_s => {}
            (Some(b), Mode::Affine) => return Err(QuantError::Inconsistent(format!("biases are {} bytes, expected {}", b.len(), want_s))),
            (None, Mode::Affine) => return Err(QuantError::Inconsistent("affine needs biases".into())),
            (Some(_), m) => return Err(QuantError::Inconsistent(format!("{m} has no biases"))),
            (None, _) => {}
        }
        Ok((rows, k))
    }
}

pub(crate) fn check_shape(shape: &[usize], p: &Params) -> Result<()> {
    if shape.len() < 2 {
        return Err(QuantError::Shape { shape: shape.to_vec(), rule: format!("quantization needs at least 2 dimensions, got {}", shape.len()) });
    }
    let k = shape[shape.len() - 1];
    if k == 0 || !k.is_multiple_of(p.group_size) {
        return Err(QuantError::Shape {
            shape: shape.to_vec(),
            rule: format!("last dimension {k} is not a positive multiple of the group size {}", p.group_size),
        });
    }
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| QuantError::Shape { shape: shape.to_vec(), rule: "element count overflows".into() })?;
    Ok(())
}

fn input_float(dtype: DType) -> Result<Float> {
    Float::of(dtype).ok_or(QuantError::UnsupportedDType(dtype))
}

fn check_input(bytes: &[u8], dtype: DType, shape: &[usize], p: &Params) -> Result<(Float, usize, usize)> {
    p.validate()?;
    let f = input_float(dtype)?;
    check_shape(shape, p)?;
    let n: usize = shape.iter().product();
    let expected = (n as u64) * f.size() as u64;
    if bytes.len() as u64 != expected {
        return Err(QuantError::ByteLength { shape: shape.to_vec(), dtype, expected, actual: bytes.len() as u64 });
    }
    let k = shape[shape.len() - 1];
    Ok((f, n / k, k))
}

/// The error for the first NaN or infinite element, if a row kernel met one.
fn refuse_non_finite(bad: &std::sync::atomic::AtomicBool, f: Float, bytes: &[u8], k: usize) -> Result<()> {
    if !bad.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let i = f.first_non_finite(bytes).unwrap_or(0);
    Err(non_finite_error(f, bytes, i, k))
}

fn non_finite_error(f: Float, bytes: &[u8], index: usize, k: usize) -> QuantError {
    QuantError::NonFinite { index: index as u64, row: (index / k) as u64, col: (index % k) as u64, value: f.get(bytes, index) }
}

/// Quantize a float tensor exactly as `mx.quantize` does on the CPU.
///
/// `bytes` is raw little-endian data of `dtype` (F32, F16 or BF16) with
/// `shape` (ndim >= 2, last dim divisible by the group size). NaN or
/// infinite elements are an error naming the first one.
pub fn quantize(bytes: &[u8], dtype: DType, shape: &[usize], p: &Params) -> Result<Quantized> {
    quantize_impl(bytes, dtype, shape, p, None)
}

/// [`quantize`] for nvfp4 with MLX's optional float32 `global_scale`
/// (`mx.quantize(..., mode="nvfp4", global_scale=...)`).
pub fn quantize_nvfp4_global(bytes: &[u8], dtype: DType, shape: &[usize], global_scale: f32) -> Result<Quantized> {
    if !(global_scale.is_finite() && global_scale > 0.0) {
        return Err(QuantError::GlobalScale(global_scale));
    }
    let p = Params::new(Mode::Nvfp4, None, None)?;
    quantize_impl(bytes, dtype, shape, &p, Some(global_scale))
}

/// A quantized tensor's parts as the bytes a checkpoint stores: `w_q` as
/// little-endian words, scales and (affine) biases as in [`Quantized`].
pub struct QuantizedBytes {
    pub wq: Vec<u8>,
    pub scales: Vec<u8>,
    pub biases: Option<Vec<u8>>,
}

/// [`quantize`] with `w_q` packed straight into a byte buffer (no copy of
/// the codes afterwards): the same bytes as [`Quantized::wq_bytes`].
pub fn quantize_to_bytes(bytes: &[u8], dtype: DType, shape: &[usize], p: &Params) -> Result<QuantizedBytes> {
    let (_, rows, k) = check_input(bytes, dtype, shape, p)?;
    let mut wq = vec![0u8; rows * (k * p.bits as usize / 32) * 4];
    // SAFETY: any bit pattern is a valid u32; align_to_mut splits off the
    // unaligned ends, which are empty for an allocator's aligned block.
    let (pre, words, post) = unsafe { wq.align_to_mut::<u32>() };
    if !pre.is_empty() || !post.is_empty() {
        let q = quantize(bytes, dtype, shape, p)?;
        return Ok(QuantizedBytes { wq: q.wq_bytes().to_vec(), scales: q.scales, biases: q.biases });
    }
    let (scales, biases) = quantize_core(bytes, dtype, shape, p, None, words)?;
    Ok(QuantizedBytes { wq, scales, biases })
}

fn quantize_impl(bytes: &[u8], dtype: DType, shape: &[usize], p: &Params, global_scale: Option<f32>) -> Result<Quantized> {
    let (_, rows, k) = check_input(bytes, dtype, shape, p)?;
    let mut wq = vec![0u32; rows * (k * p.bits as usize / 32)];
    let (scales, biases) = quantize_core(bytes, dtype, shape, p, global_scale, &mut wq)?;
    Ok(Quantized { wq, scales, biases, scale_dtype: p.scale_dtype(dtype), shape: shape.to_vec() })
}

/// Quantize into `wq` (exactly the tensor's words); returns scales and
/// (affine) biases.
fn quantize_core(bytes: &[u8], dtype: DType, shape: &[usize], p: &Params, global_scale: Option<f32>, wq: &mut [u32]) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let (f, rows, k) = check_input(bytes, dtype, shape, p)?;
    let bad = std::sync::atomic::AtomicBool::new(false);
    let flag = |b: bool| {
        if b {
            bad.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let bits = p.bits as u32;
    let gs = p.group_size;
    let wpr = k * bits as usize / 32;
    let gpr = k / gs;
    let sd = p.scale_dtype(dtype);
    let ssz = sd.size().unwrap_or(1);
    debug_assert_eq!(wq.len(), rows * wpr);
    let mut scales = vec![0u8; rows * gpr * ssz];
    let row_bytes = k * f.size();
    let chunk = ROWS_PER_TASK;
    match p.mode {
        Mode::Affine => {
            let mut biases = vec![0u8; rows * gpr * ssz];
            wq.par_chunks_mut(wpr * chunk)
                .zip(scales.par_chunks_mut(gpr * ssz * chunk))
                .zip(biases.par_chunks_mut(gpr * ssz * chunk))
                .zip(bytes.par_chunks(row_bytes * chunk))
                .for_each_init(
                    || (vec![0f32; k], vec![0u32; gs]),
                    |(x, codes), (((w, s), b), src)| {
                        for r in 0..src.len() / row_bytes {
                            flag(affine::quantize_row(
                                &src[r * row_bytes..(r + 1) * row_bytes],
                                x,
                                gs,
                                bits,
                                f,
                                &mut w[r * wpr..(r + 1) * wpr],
                                &mut s[r * gpr * ssz..(r + 1) * gpr * ssz],
                                &mut b[r * gpr * ssz..(r + 1) * gpr * ssz],
                                codes,
                            ));
                        }
                    },
                );
            refuse_non_finite(&bad, f, bytes, k)?;
            Ok((scales, Some(biases)))
        }
        _ => {
            wq.par_chunks_mut(wpr * chunk).zip(scales.par_chunks_mut(gpr * chunk)).zip(bytes.par_chunks(row_bytes * chunk)).for_each_init(
                || (vec![0f32; k], vec![0u32; gs]),
                |(x, codes), ((w, s), src)| {
                    for r in 0..src.len() / row_bytes {
                        flag(fp::quantize_row(
                            &src[r * row_bytes..(r + 1) * row_bytes],
                            x,
                            gs,
                            bits,
                            f,
                            global_scale,
                            &mut w[r * wpr..(r + 1) * wpr],
                            &mut s[r * gpr..(r + 1) * gpr],
                            codes,
                        ));
                    }
                },
            );
            refuse_non_finite(&bad, f, bytes, k)?;
            Ok((scales, None))
        }
    }
}

/// Dequantize into float32 values of the output dtype `out`, row by row in
/// parallel; `out_f` is the dtype MLX computes in.
fn dequantize_values(q: &Quantized, p: &Params, out: Float, global_scale: Option<f32>) -> Result<Vec<f32>> {
    let (rows, k) = q.check(p)?;
    let bits = p.bits as u32;
    let gs = p.group_size;
    let wpr = k * bits as usize / 32;
    let gpr = k / gs;
    let mut y = vec![0f32; rows * k];
    let chunk = ROWS_PER_TASK;
    match p.mode {
        Mode::Affine => {
            let sf = Float::of(q.scale_dtype).ok_or(QuantError::UnsupportedDType(q.scale_dtype))?;
            let ssz = sf.size();
            let biases = q.biases.as_deref().unwrap_or(&[]);
            y.par_chunks_mut(k * chunk)
                .zip(q.wq.par_chunks(wpr * chunk))
                .zip(q.scales.par_chunks(gpr * ssz * chunk))
                .zip(biases.par_chunks(gpr * ssz * chunk))
                .for_each_init(
                    || (vec![0f32; gpr], vec![0f32; gpr], vec![0u32; gs]),
                    |(sv, bv, codes), (((o, w), s), b)| {
                        for r in 0..o.len() / k {
                            sf.load(&s[r * gpr * ssz..(r + 1) * gpr * ssz], sv);
                            sf.load(&b[r * gpr * ssz..(r + 1) * gpr * ssz], bv);
                            let yr = &mut o[r * k..(r + 1) * k];
                            affine::dequantize_row(&w[r * wpr..(r + 1) * wpr], sv, bv, gs, bits, sf, yr, codes);
                            if out != sf {
                                for v in yr.iter_mut() {
                                    *v = out.round(*v);
                                }
                            }
                        }
                    },
                );
        }
        _ => {
            y.par_chunks_mut(k * chunk).zip(q.wq.par_chunks(wpr * chunk)).zip(q.scales.par_chunks(gpr * chunk)).for_each_init(
                || vec![0u32; gs],
                |codes, ((o, w), s)| {
                    for r in 0..o.len() / k {
                        fp::dequantize_row(
                            &w[r * wpr..(r + 1) * wpr],
                            &s[r * gpr..(r + 1) * gpr],
                            gs,
                            bits,
                            out,
                            global_scale,
                            &mut o[r * k..(r + 1) * k],
                            codes,
                        );
                    }
                },
            );
        }
    }
    Ok(y)
}

fn encode(values: &[f32], out: Float) -> Vec<u8> {
    let sz = out.size();
    let mut bytes = vec![0u8; values.len() * sz];
    bytes.par_chunks_mut(sz * 4096).zip(values.par_chunks(4096)).for_each(|(b, v)| match out {
        Float::F32 => b.chunks_exact_mut(4).zip(v).for_each(|(d, &x)| d.copy_from_slice(&x.to_le_bytes())),
        Float::F16 => b.chunks_exact_mut(2).zip(v).for_each(|(d, &x)| d.copy_from_slice(&float::to_f16_bits(x).to_le_bytes())),
        Float::BF16 => b.chunks_exact_mut(2).zip(v).for_each(|(d, &x)| d.copy_from_slice(&float::to_bf16_bits(x).to_le_bytes())),
    });
    bytes
}

/// Dequantize exactly as `mx.dequantize(..., dtype=out)` does on the CPU:
/// raw little-endian bytes of `out` (F32, F16 or BF16). For affine the
/// arithmetic is in the scales' dtype and the result is cast to `out`; for
/// the FP modes it is in `out`.
pub fn dequantize(q: &Quantized, p: &Params, out: DType) -> Result<Vec<u8>> {
    let of = Float::of(out).ok_or(QuantError::UnsupportedOutput(out))?;
    let v = dequantize_values(q, p, of, None)?;
    Ok(encode(&v, of))
}

/// [`dequantize`] of nvfp4 with a global scale. MLX promotes the result to
/// float32 whatever output dtype is asked for, so this returns float32
/// values of the computation in `out`.
pub fn dequantize_nvfp4_global(q: &Quantized, out: DType, global_scale: f32) -> Result<Vec<f32>> {
    if !(global_scale.is_finite() && global_scale > 0.0) {
        return Err(QuantError::GlobalScale(global_scale));
    }
    let of = Float::of(out).ok_or(QuantError::UnsupportedOutput(out))?;
    let p = Params::new(Mode::Nvfp4, None, None)?;
    dequantize_values(q, &p, of, Some(global_scale))
}

/// Dequantized values as float32: for affine, MLX's result in the scales'
/// dtype; for the FP modes, MLX's float32 result.
pub fn dequantize_f32(q: &Quantized, p: &Params) -> Result<Vec<f32>> {
    let out = match p.mode {
        Mode::Affine => Float::of(q.scale_dtype).ok_or(QuantError::UnsupportedDType(q.scale_dtype))?,
        _ => Float::F32,
    };
    dequantize_values(q, p, out, None)
}

/// Dequantized values as float32, computed in the given dtype (what
/// [`error_stats`] compares against).
pub(crate) fn dequantize_as(q: &Quantized, p: &Params, dt: DType) -> Result<Vec<f32>> {
    let of = Float::of(dt).ok_or(QuantError::UnsupportedOutput(dt))?;
    dequantize_values(q, p, of, None)
}
