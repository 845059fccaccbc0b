//! Tensor transforms: shape and dtype inference, exact application on the
//! stored bytes, and inverses.
//!
//! A rule's transforms act on a list of tensors: the rule's inputs in
//! order. Unary transforms (`transpose`, `reshape`, `squeeze`, `unsqueeze`,
//! `slice`, `cast`, the RoPE permutations) apply to every tensor in the
//! list; `split` and `unstack` turn one tensor into several; `concat` and
//! `stack` turn the whole list into one. Layout transforms move whole
//! elements and never change a bit; `cast` rounds to nearest even.

use std::borrow::Cow;

/// Why a transform cannot apply to the tensors it is given (the rule it
/// breaks, with the shapes or dtypes concerned); the conversion names the
/// rule and tensor around it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(pub String);

impl From<String> for TransformError {
    fn from(s: String) -> Self {
        TransformError(s)
    }
}

impl From<&str> for TransformError {
    fn from(s: &str) -> Self {
        TransformError(s.to_string())
    }
}

use mlxport_tensor::dtype::{decode_f32, decode_f64, encode_f32, encode_f64, f32_to_bf16_bits};
use mlxport_tensor::DType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One transform step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// The name changes, the data does not (stated for readers of the map;
    /// every rule renames).
    Rename,
    /// Permute axes: output axis k is input axis `perm[k]`.
    Transpose {
        perm: Vec<usize>,
    },
    /// Same elements, new shape; one entry may be -1.
    Reshape {
        shape: Vec<i64>,
    },
    Squeeze {
        axis: usize,
    },
    Unsqueeze {
        axis: usize,
    },
    /// Keep `start..end` along `axis`.
    Slice {
        axis: usize,
        start: u64,
        end: u64,
    },
    /// One tensor into consecutive parts of the given sizes along `axis`.
    Split {
        axis: usize,
        sizes: Vec<u64>,
    },
    /// The list into one tensor along an existing axis.
    Concat {
        axis: usize,
    },
    /// The list into one tensor along a new axis (MoE experts: `[E, out, in]`).
    Stack {
        axis: usize,
    },
    /// One tensor into its slices along `axis` (the inverse of `stack`).
    Unstack {
        axis: usize,
    },
    /// Convert floating elements to another floating dtype.
    Cast {
        dtype: String,
    },
    /// Undo llama.cpp's Q/K row permutation for its RoPE layout: rows
    /// grouped as `[heads, half, 2]` become `[heads, 2, half]` (what
    /// transformers does when it loads a GGUF file).
    UnpermuteRope {
        heads: u64,
    },
    /// llama.cpp's permutation (the inverse of `unpermute_rope`).
    PermuteRope {
        heads: u64,
    },
}

/// What inference knows of a tensor: its shape and, where known, dtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub shape: Vec<u64>,
    pub dtype: Option<DType>,
}

/// A tensor flowing through a rule: bytes as stored (little-endian,
/// row-major), borrowed where no transform touched them.
#[derive(Clone, Debug)]
pub struct Buf<'a> {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Cow<'a, [u8]>,
}

fn numel(shape: &[u64]) -> u64 {
    shape.iter().product()
}

/// A dtype named in a map: safetensors spelling, case-insensitive, plus
/// the short forms `bf16`, `f16`, `f32`.
pub fn parse_dtype(s: &str) -> Option<DType> {
    let up = s.to_ascii_uppercase();
    DType::from_name(&up).or(match up.as_str() {
        "FLOAT32" => Some(DType::F32),
        "FLOAT16" => Some(DType::F16),
        "BFLOAT16" => Some(DType::BF16),
        _ => None,
    })
}

impl Transform {
    /// Short text for reports.
    pub fn describe(&self) -> String {
        match self {
            Transform::Rename => "rename".into(),
            Transform::Transpose { perm } => format!("transpose{perm:?}"),
            Transform::Reshape { shape } => format!("reshape{shape:?}"),
            Transform::Squeeze { axis } => format!("squeeze({axis})"),
            Transform::Unsqueeze { axis } => format!("unsqueeze({axis})"),
            Transform::Slice { axis, start, end } => format!("slice({axis}, {start}..{end})"),
            Transform::Split { axis, sizes } => format!("split({axis}, {sizes:?})"),
            Transform::Concat { axis } => format!("concat({axis})"),
            Transform::Stack { axis } => format!("stack({axis})"),
            Transform::Unstack { axis } => format!("unstack({axis})"),
            Transform::Cast { dtype } => format!("cast({dtype})"),
            Transform::UnpermuteRope { heads } => format!("unpermute_rope({heads})"),
            Transform::PermuteRope { heads } => format!("permute_rope({heads})"),
        }
    }

    /// Shapes out for shapes in.
    pub fn infer_shapes(&self, shapes: &[Vec<u64>]) -> Result<Vec<Vec<u64>>, TransformError> {
        let metas: Vec<Meta> = shapes.iter().map(|s| Meta { shape: s.clone(), dtype: None }).collect();
        Ok(self.infer(&metas)?.into_iter().map(|m| m.shape).collect())
    }

    /// Shapes and dtypes out for shapes and dtypes in; the error says what
    /// rule of the transform the input breaks.
    pub fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>, TransformError> {
        match self {
            Transform::Split { axis, sizes } => {
                let [one] = ins else { return Err(TransformError(format!("split takes one tensor, got {}", ins.len()))) };
                let dim = *one.shape.get(*axis).ok_or_else(|| format!("split axis {axis} is out of range for shape {:?}", one.shape))?;
                let sum: u64 = sizes.iter().sum();
                if sum != dim {
                    return Err(TransformError(format!("split sizes {sizes:?} add up to {sum}, but axis {axis} of shape {:?} has {dim}", one.shape)));
                }
                Ok(sizes
                    .iter()
                    .map(|&n| {
                        let mut s = one.shape.clone();
                        s[*axis] = n;
                        Meta { shape: s, dtype: one.dtype }
                    })
                    .collect())
            }
            Transform::Unstack { axis } => {
                let [one] = ins else { return Err(TransformError(format!("unstack takes one tensor, got {}", ins.len()))) };
                let dim = *one.shape.get(*axis).ok_or_else(|| format!("unstack axis {axis} is out of range for shape {:?}", one.shape))?;
                let mut s = one.shape.clone();
                s.remove(*axis);
                Ok((0..dim).map(|_| Meta { shape: s.clone(), dtype: one.dtype }).collect())
            }
            Transform::Concat { axis } | Transform::Stack { axis } => {
                let stack = matches!(self, Transform::Stack { .. });
                let name = if stack { "stack" } else { "concat" };
                let first = ins.first().ok_or_else(|| format!("{name} of no tensors"))?;
                for m in ins {
                    if m.dtype.is_some() && first.dtype.is_some() && m.dtype != first.dtype {
                        return Err(TransformError(format!(
                            "dtype conflict: {name} of {} and {}",
                            first.dtype.map(|d| d.name()).unwrap_or("?"),
                            m.dtype.map(|d| d.name()).unwrap_or("?")
                        )));
                    }
                }
                if stack {
                    if *axis > first.shape.len() {
                        return Err(TransformError(format!("stack axis {axis} is out of range for shape {:?}", first.shape)));
                    }
                    if let Some(m) = ins.iter().find(|m| m.shape != first.shape) {
                        return Err(TransformError(format!("stack of different shapes {:?} and {:?}", first.shape, m.shape)));
                    }
                    let mut s = first.shape.clone();
                    s.insert(*axis, ins.len() as u64);
                    Ok(vec![Meta { shape: s, dtype: first.dtype }])
                } else {
                    if *axis >= first.shape.len() {
                        return Err(TransformError(format!("concat axis {axis} is out of range for shape {:?}", first.shape)));
                    }
                    let mut total = 0u64;
                    for m in ins {
                        let same_rank = m.shape.len() == first.shape.len();
                        let others_equal = same_rank && m.shape.iter().zip(&first.shape).enumerate().all(|(k, (a, b))| k == *axis || a == b);
                        if !others_equal {
                            return Err(TransformError(format!("concat along axis {axis} of shapes {:?} and {:?}", first.shape, m.shape)));
                        }
                        total += m.shape[*axis];
                    }
                    let mut s = first.shape.clone();
                    s[*axis] = total;
                    Ok(vec![Meta { shape: s, dtype: first.dtype }])
                }
            }
            _ => ins.iter().map(|m| self.infer_one(m)).collect(),
        }
    }

    fn infer_one(&self, m: &Meta) -> Result<Meta, TransformError> {
        let shape = &m.shape;
        let out = |s: Vec<u64>| Ok(Meta { shape: s, dtype: m.dtype });
        match self {
            Transform::Rename => out(shape.clone()),
            Transform::Transpose { perm } => {
                let mut seen = vec![false; shape.len()];
                if perm.len() != shape.len() || perm.iter().any(|&p| p >= shape.len() || std::mem::replace(&mut seen[p], true)) {
                    return Err(TransformError(format!("transpose {perm:?} is not a permutation of the {} axes of shape {shape:?}", shape.len())));
                }
                out(perm.iter().map(|&p| shape[p]).collect())
            }
            Transform::Reshape { shape: want } => {
                let total = numel(shape);
                let wild = want.iter().filter(|&&d| d == -1).count();
                if wild > 1 || want.iter().any(|&d| d < -1) {
                    return Err(TransformError(format!("reshape {want:?}: at most one -1 and no other negative size")));
                }
                let known: u64 = want.iter().filter(|&&d| d >= 0).map(|&d| d as u64).product();
                let mut s: Vec<u64> = Vec::with_capacity(want.len());
                for &d in want {
                    if d == -1 {
                        if known == 0 || !total.is_multiple_of(known) {
                            return Err(TransformError(format!("reshape {shape:?} ({total} elements) to {want:?}: does not divide")));
                        }
                        s.push(total / known);
                    } else {
                        s.push(d as u64);
                    }
                }
                if numel(&s) != total {
                    return Err(TransformError(format!("reshape {shape:?} ({total} elements) to {want:?} ({} elements)", numel(&s))));
                }
                out(s)
            }
            Transform::Squeeze { axis } => {
                if shape.get(*axis) != Some(&1) {
                    return Err(TransformError(format!("squeeze axis {axis} of shape {shape:?}: not a size-1 axis")));
                }
                let mut s = shape.clone();
                s.remove(*axis);
                out(s)
            }
            Transform::Unsqueeze { axis } => {
                if *axis > shape.len() {
                    return Err(TransformError(format!("unsqueeze axis {axis} is out of range for shape {shape:?}")));
                }
                let mut s = shape.clone();
                s.insert(*axis, 1);
                out(s)
            }
            Transform::Slice { axis, start, end } => {
                let dim = *shape.get(*axis).ok_or_else(|| format!("slice axis {axis} is out of range for shape {shape:?}"))?;
                if start > end || *end > dim {
                    return Err(TransformError(format!("slice {start}..{end} of axis {axis} with {dim} entries (shape {shape:?})")));
                }
                let mut s = shape.clone();
                s[*axis] = end - start;
                out(s)
            }
            Transform::Cast { dtype } => {
                let to = parse_dtype(dtype).ok_or_else(|| format!("cast to unknown dtype '{dtype}'"))?;
                if !to.is_float() || to.size().is_none() {
                    return Err(TransformError(format!("dtype conflict: cast to {} (only floating dtypes of whole bytes are cast targets)", to.name())));
                }
                if let Some(from) = m.dtype {
                    if !from.is_float() {
                        return Err(TransformError(format!("dtype conflict: cast of {} to {} (only floating tensors are cast)", from.name(), to.name())));
                    }
                }
                Ok(Meta { shape: shape.clone(), dtype: Some(to) })
            }
            Transform::UnpermuteRope { heads } | Transform::PermuteRope { heads } => {
                let rows = *shape.first().ok_or("RoPE permutation of a scalar")?;
                if *heads == 0 || !rows.is_multiple_of(2 * heads) {
                    return Err(TransformError(format!("RoPE permutation with {heads} heads: {rows} rows do not divide into heads x 2")));
                }
                out(shape.clone())
            }
            Transform::Split { .. } | Transform::Unstack { .. } | Transform::Concat { .. } | Transform::Stack { .. } => {
                unreachable!("list transforms are handled by infer")
            }
        }
    }

    /// The transform(s) that undo this one, given the shapes (and dtype)
    /// of its inputs where known. Fails for transforms that lose data.
    pub fn inverse(&self, before: Option<&[Vec<u64>]>, before_dtype: Option<DType>) -> Result<Vec<Transform>, TransformError> {
        Ok(vec![match self {
            Transform::Rename => Transform::Rename,
            Transform::Transpose { perm } => {
                let mut inv = vec![0; perm.len()];
                for (k, &p) in perm.iter().enumerate() {
                    if p < inv.len() {
                        inv[p] = k;
                    }
                }
                Transform::Transpose { perm: inv }
            }
            Transform::Reshape { .. } => {
                let s = before.and_then(|b| b.first()).ok_or("the shape before a reshape must be declared (source_shapes) to invert it")?;
                Transform::Reshape { shape: s.iter().map(|&d| d as i64).collect() }
            }
            Transform::Squeeze { axis } => Transform::Unsqueeze { axis: *axis },
            Transform::Unsqueeze { axis } => Transform::Squeeze { axis: *axis },
            Transform::Slice { .. } => return Err("a slice drops data".into()),
            Transform::Split { axis, .. } => Transform::Concat { axis: *axis },
            Transform::Concat { axis } => {
                let b = before.ok_or("the shapes before a concat must be declared (source_shapes) to invert it")?;
                let sizes = b.iter().map(|s| s.get(*axis).copied().ok_or("concat axis out of range")).collect::<Result<Vec<_>, _>>()?;
                Transform::Split { axis: *axis, sizes }
            }
            Transform::Stack { axis } => Transform::Unstack { axis: *axis },
            Transform::Unstack { axis } => Transform::Stack { axis: *axis },
            Transform::Cast { dtype } => {
                let to = parse_dtype(dtype).ok_or("unknown dtype")?;
                let from = before_dtype.ok_or("a cast is invertible only when the source dtype is declared")?;
                let widening = from == to || (to == DType::F32 && matches!(from, DType::F16 | DType::BF16)) || (to == DType::F64 && from.is_float());
                if !widening {
                    return Err(TransformError(format!("casting {} to {} loses bits", from.name(), to.name())));
                }
                Transform::Cast { dtype: from.name().into() }
            }
            Transform::UnpermuteRope { heads } => Transform::PermuteRope { heads: *heads },
            Transform::PermuteRope { heads } => Transform::UnpermuteRope { heads: *heads },
        }])
    }

    /// Apply to real tensors. Shapes must already have been checked by
    /// [`Transform::infer`]; errors here are defensive.
    pub fn apply<'a>(&self, ins: Vec<Buf<'a>>) -> Result<Vec<Buf<'a>>, TransformError> {
        let metas: Vec<Meta> = ins.iter().map(|b| Meta { shape: b.shape.clone(), dtype: Some(b.dtype) }).collect();
        let outs = self.infer(&metas)?;
        match self {
            Transform::Split { axis, sizes } => {
                let one = &ins[0];
                let es = elem_size(one.dtype)?;
                let mut start = 0;
                let mut parts = Vec::with_capacity(sizes.len());
                for (n, m) in sizes.iter().zip(outs) {
                    parts.push(Buf { dtype: one.dtype, shape: m.shape, data: Cow::Owned(slice_axis(&one.data, &one.shape, es, *axis, start, start + n)) });
                    start += n;
                }
                Ok(parts)
            }
            Transform::Unstack { axis } => {
                let one = &ins[0];
                let es = elem_size(one.dtype)?;
                Ok(outs
                    .into_iter()
                    .enumerate()
                    .map(|(k, m)| Buf {
                        dtype: one.dtype,
                        shape: m.shape,
                        data: Cow::Owned(slice_axis(&one.data, &one.shape, es, *axis, k as u64, k as u64 + 1)),
                    })
                    .collect())
            }
            Transform::Concat { axis } | Transform::Stack { axis } => {
                let dtype = ins[0].dtype;
                let es = elem_size(dtype)?;
                // Stacking is concatenation along a new size-1 axis.
                let shapes: Vec<Vec<u64>> = ins
                    .iter()
                    .map(|b| {
                        let mut s = b.shape.clone();
                        if matches!(self, Transform::Stack { .. }) {
                            s.insert(*axis, 1);
                        }
                        s
                    })
                    .collect();
                let outer: u64 = shapes[0][..*axis].iter().product();
                let total: usize = ins.iter().map(|b| b.data.len()).sum();
                let mut data = Vec::with_capacity(total);
                for o in 0..outer {
                    for (b, s) in ins.iter().zip(&shapes) {
                        let chunk = (numel(&s[*axis..]) as usize) * es;
                        let at = o as usize * chunk;
                        data.extend_from_slice(&b.data[at..at + chunk]);
                    }
                }
                Ok(vec![Buf { dtype, shape: outs.into_iter().next().map(|m| m.shape).unwrap_or_default(), data: Cow::Owned(data) }])
            }
            _ => ins.into_iter().zip(outs).map(|(b, m)| self.apply_one(b, m)).collect(),
        }
    }

    fn apply_one<'a>(&self, b: Buf<'a>, m: Meta) -> Result<Buf<'a>, TransformError> {
        match self {
            Transform::Rename | Transform::Reshape { .. } | Transform::Squeeze { .. } | Transform::Unsqueeze { .. } => {
                Ok(Buf { dtype: b.dtype, shape: m.shape, data: b.data })
            }
            Transform::Transpose { perm } => {
                let es = elem_size(b.dtype)?;
                if perm.iter().enumerate().all(|(k, &p)| k == p) {
                    return Ok(Buf { dtype: b.dtype, shape: m.shape, data: b.data });
                }
                Ok(Buf { dtype: b.dtype, data: Cow::Owned(transpose(&b.data, &b.shape, perm, es)), shape: m.shape })
            }
            Transform::Slice { axis, start, end } => {
                let es = elem_size(b.dtype)?;
                Ok(Buf { dtype: b.dtype, data: Cow::Owned(slice_axis(&b.data, &b.shape, es, *axis, *start, *end)), shape: m.shape })
            }
            Transform::Cast { dtype } => {
                let to = parse_dtype(dtype).ok_or_else(|| format!("unknown dtype {dtype}"))?;
                Ok(Buf { dtype: to, shape: m.shape, data: cast(b.data, b.dtype, to)? })
            }
            Transform::UnpermuteRope { heads } | Transform::PermuteRope { heads } => {
                let es = elem_size(b.dtype)?;
                let rows = b.shape[0];
                let row_bytes = b.data.len() / rows.max(1) as usize;
                let _ = es;
                let half = rows / heads / 2;
                let unpermute = matches!(self, Transform::UnpermuteRope { .. });
                let mut out = vec![0u8; b.data.len()];
                out.par_chunks_mut(row_bytes.max(1)).enumerate().for_each(|(r, dst)| {
                    let r = r as u64;
                    let (h, within) = (r / (2 * half), r % (2 * half));
                    // unpermute: out (h, s, d) <- in (h, d, s); permute: the reverse.
                    let src_within = if unpermute {
                        let (s, d) = (within / half, within % half);
                        d * 2 + s
                    } else {
                        let (d, s) = (within / 2, within % 2);
                        s * half + d
                    };
                    let src = (h * 2 * half + src_within) as usize * row_bytes;
                    dst.copy_from_slice(&b.data[src..src + row_bytes]);
                });
                Ok(Buf { dtype: b.dtype, shape: m.shape, data: Cow::Owned(out) })
            }
            Transform::Split { .. } | Transform::Unstack { .. } | Transform::Concat { .. } | Transform::Stack { .. } => unreachable!(),
        }
    }
}

fn elem_size(d: DType) -> Result<usize, TransformError> {
    d.size().ok_or_else(|| TransformError(format!("{} elements are not whole bytes; layout transforms need whole-byte elements", d.name())))
}

/// Keep `start..end` along `axis`.
fn slice_axis(data: &[u8], shape: &[u64], es: usize, axis: usize, start: u64, end: u64) -> Vec<u8> {
    let outer: u64 = shape[..axis].iter().product();
    let inner = numel(&shape[axis + 1..]) as usize * es;
    let dim = shape[axis] as usize;
    let mut out = Vec::with_capacity(outer as usize * (end - start) as usize * inner);
    for o in 0..outer as usize {
        let base = o * dim * inner;
        out.extend_from_slice(&data[base + start as usize * inner..base + end as usize * inner]);
    }
    out
}

/// General N-d transpose of whole elements.
fn transpose(data: &[u8], shape: &[u64], perm: &[usize], es: usize) -> Vec<u8> {
    let rank = shape.len();
    let mut in_strides = vec![0usize; rank];
    let mut acc = 1usize;
    for k in (0..rank).rev() {
        in_strides[k] = acc;
        acc *= shape[k] as usize;
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p] as usize).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let last = *out_shape.last().unwrap_or(&1);
    let last_stride = *strides.last().unwrap_or(&1);
    let rows = acc.checked_div(last).unwrap_or(0);
    let mut out = vec![0u8; data.len()];
    out.par_chunks_mut((last * es).max(1)).take(rows).enumerate().for_each(|(row, dst)| {
        // Source offset of this output row's first element.
        let mut rem = row;
        let mut off = 0usize;
        for k in (0..rank.saturating_sub(1)).rev() {
            let idx = rem % out_shape[k];
            rem /= out_shape[k];
            off += idx * strides[k];
        }
        for j in 0..last {
            let s = (off + j * last_stride) * es;
            dst[j * es..(j + 1) * es].copy_from_slice(&data[s..s + es]);
        }
    });
    out
}

/// Convert floating elements, rounding to nearest even; the same dtype
/// passes through untouched.
pub fn cast<'a>(data: Cow<'a, [u8]>, from: DType, to: DType) -> Result<Cow<'a, [u8]>, TransformError> {
    cast_with(data, from, to, None)
}

/// Called on each converted chunk of a cast's input.
pub type ChunkDone<'f> = &'f (dyn Fn(&[u8]) + Sync);

/// [`cast`], calling `done` on each chunk of the input once it has been
/// converted (`convert` releases the pages of a memory-mapped source as it
/// goes, so a large tensor never sits in memory twice).
pub fn cast_with<'a>(data: Cow<'a, [u8]>, from: DType, to: DType, done: Option<ChunkDone>) -> Result<Cow<'a, [u8]>, TransformError> {
    if from == to {
        return Ok(data);
    }
    if !from.is_float() || !to.is_float() {
        return Err(TransformError(format!("dtype conflict: cast of {} to {} (only floating tensors are cast)", from.name(), to.name())));
    }
    let (fs, ts) = (elem_size(from)?, elem_size(to)?);
    let n = data.len() / fs;
    let mut out = vec![0u8; n * ts];
    const CHUNK: usize = 1 << 16;
    let err = std::sync::Mutex::new(None::<TransformError>);
    out.par_chunks_mut(CHUNK * ts).zip(data.par_chunks(CHUNK * fs)).for_each(|(dst, src)| {
        if let Err(e) = cast_chunk(src, from, dst, to) {
            *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
        if let Some(done) = done {
            done(src);
        }
    });
    if let Some(e) = err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(Cow::Owned(out))
}

/// f32 bits to bf16 bits, round to nearest even, NaN kept quiet: the
/// arithmetic of `f32_to_bf16_bits` with a select instead of a branch.
#[inline(always)]
fn bf16_bits_branchless(b: u32) -> u16 {
    let nan = (b & 0x7fff_ffff) > 0x7f80_0000;
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16;
    let quiet = (b >> 16) | 0x0040;
    (if nan { quiet } else { rounded }) as u16
}

fn cast_chunk(src: &[u8], from: DType, dst: &mut [u8], to: DType) -> Result<(), TransformError> {
    match (from, to) {
        (DType::F32, DType::BF16) => {
            // Blocks of 16 elements through fixed-size arrays, branch-free,
            // so the compiler vectorizes; the same rounding as
            // `f32_to_bf16_bits` (checked against it in the tests).
            let mut blocks = src.chunks_exact(64).zip(dst.chunks_exact_mut(32));
            for (s, d) in &mut blocks {
                let mut o = [0u8; 32];
                for i in 0..16 {
                    let b = u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
                    o[2 * i..2 * i + 2].copy_from_slice(&bf16_bits_branchless(b).to_le_bytes());
                }
                d.copy_from_slice(&o);
            }
            let done = src.len() / 64 * 64;
            for (s, d) in src[done..].chunks_exact(4).zip(dst[done / 2..].chunks_exact_mut(2)) {
                let x = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                d.copy_from_slice(&f32_to_bf16_bits(x).to_le_bytes());
            }
            Ok(())
        }
        (DType::F64, _) | (_, DType::F64) => {
            let n = src.len() / elem_size(from)?;
            let mut tmp = vec![0f64; n];
            decode_f64(from, src, &mut tmp).map_err(|e| TransformError(e.to_string()))?;
            let mut enc = Vec::with_capacity(dst.len());
            encode_f64(to, &tmp, &mut enc).map_err(|e| TransformError(e.to_string()))?;
            dst.copy_from_slice(&enc);
            Ok(())
        }
        _ => {
            // Every other floating type is exact in f32.
            let n = src.len() / elem_size(from)?;
            let mut tmp = vec![0f32; n];
            decode_f32(from, src, &mut tmp).map_err(|e| TransformError(e.to_string()))?;
            let mut enc = Vec::with_capacity(dst.len());
            encode_f32(to, &tmp, &mut enc).map_err(|e| TransformError(e.to_string()))?;
            dst.copy_from_slice(&enc);
            Ok(())
        }
    }
}

/// Shapes and dtypes through a list of transforms; the error names the
/// step.
pub fn infer_all(transforms: &[Transform], ins: Vec<Meta>) -> Result<Vec<Meta>, TransformError> {
    let mut cur = ins;
    for (k, t) in transforms.iter().enumerate() {
        cur = t.infer(&cur).map_err(|e| format!("step {} ({}): {e}", k + 1, t.describe()))?;
    }
    Ok(cur)
}

/// Apply a list of transforms to real tensors.
pub fn apply_all<'a>(transforms: &[Transform], ins: Vec<Buf<'a>>) -> Result<Vec<Buf<'a>>, TransformError> {
    let mut cur = ins;
    for (k, t) in transforms.iter().enumerate() {
        cur = t.apply(cur).map_err(|e| format!("step {} ({}): {e}", k + 1, t.describe()))?;
    }
    Ok(cur)
}

#[cfg(test)]
mod cast_tests {
    use super::*;

    /// The blocked f32 -> bf16 cast equals `half`'s conversion on every
    /// class of input (zeros, subnormals, ties, overflow to infinity,
    /// infinities, NaNs with payloads), whatever the buffer length.
    #[test]
    fn f32_to_bf16_matches_half() {
        let mut bits: Vec<u32> = vec![
            0,
            0x8000_0000,
            1,
            0x0000_8000,
            0x0001_8000,
            0x3f80_8000,
            0x3f81_8000,
            0x7f7f_ffff,
            0x7f80_0000,
            0xff80_0000,
            0x7f80_0001,
            0x7fc0_0000,
            0xffff_ffff,
            0x7fff_ffff,
        ];
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..100_003 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bits.push(x);
        }
        let src: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let out = cast(Cow::Borrowed(&src), DType::F32, DType::BF16).unwrap();
        for (i, b) in bits.iter().enumerate() {
            let got = u16::from_le_bytes([out[2 * i], out[2 * i + 1]]);
            let f = f32::from_bits(*b);
            if f.is_nan() {
                assert!(half::bf16::from_bits(got).is_nan(), "{b:#x}");
                assert_eq!(got, f32_to_bf16_bits(f), "{b:#x}");
            } else {
                assert_eq!(got, half::bf16::from_f32(f).to_bits(), "{b:#x}");
            }
        }
    }
}
