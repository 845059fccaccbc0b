//! Summary statistics of a tensor, computed streaming and in parallel.
//!
//! [`Stats`] holds the element count, NaN and infinity counts, and the min,
//! max, mean and population standard deviation of the finite values. Values
//! are visited once, in independent blocks that are merged with Chan's
//! parallel update, so the result does not depend on the number of threads
//! and the variance does not suffer the cancellation of a sum-of-squares.
//!
//! ```
//! use mlxport_tensor::{stats::Stats, DType};
//! let bytes: Vec<u8> = [1.0f32, 2.0, f32::NAN, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
//! let s = Stats::of_bytes(DType::F32, &bytes).unwrap();
//! assert_eq!((s.count, s.nan, s.finite), (4, 1, 3));
//! assert_eq!(s.max, Some(4.0));
//! ```

use rayon::prelude::*;

use crate::dtype::{decode_f64, ConvertError, DType};

/// Elements per parallel task.
const TASK: usize = 1 << 18;
/// Elements per block inside a task (fits in L1 as f32).
const BLOCK: usize = 2048;

/// Summary statistics of one tensor.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Stats {
    /// All elements.
    pub count: u64,
    /// Finite elements (the ones min/max/mean/std describe).
    pub finite: u64,
    pub nan: u64,
    /// Positive or negative infinities.
    pub inf: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Population standard deviation (numpy's `std` with `ddof=0`).
    pub std: Option<f64>,
}

/// Running moments of finite values.
#[derive(Clone, Copy, Debug)]
struct Acc {
    count: u64,
    nan: u64,
    inf: u64,
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Acc {
    const EMPTY: Acc = Acc { count: 0, nan: 0, inf: 0, n: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY };

    fn merge(self, o: Acc) -> Acc {
        let n = self.n + o.n;
        let (mean, m2) = if o.n == 0 {
            (self.mean, self.m2)
        } else if self.n == 0 {
            (o.mean, o.m2)
        } else {
            let (na, nb, nn) = (self.n as f64, o.n as f64, n as f64);
            let d = o.mean - self.mean;
            (self.mean + d * nb / nn, self.m2 + o.m2 + d * d * na * nb / nn)
        };
        Acc { count: self.count + o.count, nan: self.nan + o.nan, inf: self.inf + o.inf, n, mean, m2, min: self.min.min(o.min), max: self.max.max(o.max) }
    }

    fn finish(self) -> Stats {
        let some = |v: f64| (self.n > 0).then_some(v);
        Stats {
            count: self.count,
            finite: self.n,
            nan: self.nan,
            inf: self.inf,
            min: some(self.min),
            max: some(self.max),
            mean: some(self.mean),
            std: some((self.m2 / self.n as f64).sqrt()),
        }
    }
}

/// Moments of one block of f32 values (at most [`BLOCK`]). One branch-free
/// pass accumulates shifted sums `sum(x-k)`, `sum((x-k)^2)` in f64 with `k`
/// the block's first value; a block with non-finite values, or one whose
/// shifted sums would cancel badly, is redone exactly in two passes.
#[inline(always)]
fn block_f32(xs: &[f32]) -> Acc {
    const L: usize = 16;
    let k = match xs.first() {
        Some(&x) if x.is_finite() => x as f64,
        _ => return block_f32_exact(xs),
    };
    let mut finite = [0u32; L];
    let mut s1 = [0f64; L];
    let mut s2 = [0f64; L];
    let mut lo = [f32::INFINITY; L];
    let mut hi = [f32::NEG_INFINITY; L];
    let chunks = xs.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..L {
            let x = c[i];
            let ok = (x.to_bits() & 0x7f80_0000) != 0x7f80_0000;
            let d = if ok { x as f64 - k } else { 0.0 };
            finite[i] += ok as u32;
            s1[i] += d;
            s2[i] += d * d;
            lo[i] = lo[i].min(if ok { x } else { f32::INFINITY });
            hi[i] = hi[i].max(if ok { x } else { f32::NEG_INFINITY });
        }
    }
    let mut n: u64 = finite.iter().map(|&c| c as u64).sum();
    let (mut a, mut b) = (s1.iter().sum::<f64>(), s2.iter().sum::<f64>());
    let mut mn = lo.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let mut mx = hi.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for &x in tail {
        if x.is_finite() {
            let d = x as f64 - k;
            n += 1;
            a += d;
            b += d * d;
            mn = mn.min(x);
            mx = mx.max(x);
        }
    }
    if n as usize != xs.len() {
        return block_f32_exact(xs);
    }
    let nf = n as f64;
    let shift = a * a / nf;
    let m2 = b - shift;
    // Cancellation check: the shift term must not dwarf the result.
    // (NaN-safe: a NaN m2 fails `m2 >= 0`.)
    if m2.is_nan() || m2 < 0.0 || shift > 1e6 * m2 {
        return block_f32_exact(xs);
    }
    Acc { count: n, nan: 0, inf: 0, n, mean: k + a / nf, m2, min: mn as f64, max: mx as f64 }
}

/// Exact two-pass moments of a block, with NaN and infinity counts.
fn block_f32_exact(xs: &[f32]) -> Acc {
    let mut acc = Acc { count: xs.len() as u64, ..Acc::EMPTY };
    let mut s = 0f64;
    for &x in xs {
        if x.is_nan() {
            acc.nan += 1;
        } else if x.is_infinite() {
            acc.inf += 1;
        } else {
            acc.n += 1;
            s += x as f64;
            acc.min = acc.min.min(x as f64);
            acc.max = acc.max.max(x as f64);
        }
    }
    if acc.n == 0 {
        return acc;
    }
    acc.mean = s / acc.n as f64;
    acc.m2 = xs.iter().filter(|x| x.is_finite()).map(|&x| (x as f64 - acc.mean) * (x as f64 - acc.mean)).sum();
    acc
}

/// Moments of one block of f64 values.
fn block_f64(xs: &[f64]) -> Acc {
    let mut acc = Acc { count: xs.len() as u64, ..Acc::EMPTY };
    let mut s = 0.0;
    for &x in xs {
        if x.is_nan() {
            acc.nan += 1;
        } else if x.is_infinite() {
            acc.inf += 1;
        } else {
            acc.n += 1;
            s += x;
            acc.min = acc.min.min(x);
            acc.max = acc.max.max(x);
        }
    }
    if acc.n == 0 {
        return acc;
    }
    acc.mean = s / acc.n as f64;
    acc.m2 = xs.iter().filter(|x| x.is_finite()).map(|&x| (x - acc.mean) * (x - acc.mean)).sum();
    acc
}

fn task_f32(xs: &[f32]) -> Acc {
    xs.chunks(BLOCK).map(block_f32).fold(Acc::EMPTY, Acc::merge)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn task_f32_avx2(xs: &[f32]) -> Acc {
    xs.chunks(BLOCK).map(block_f32).fold(Acc::EMPTY, Acc::merge)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn task_f32_avx512(xs: &[f32]) -> Acc {
    xs.chunks(BLOCK).map(block_f32).fold(Acc::EMPTY, Acc::merge)
}

fn task_f32_best(xs: &[f32]) -> Acc {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { task_f32_avx512(xs) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { task_f32_avx2(xs) };
        }
    }
    task_f32(xs)
}

/// Decode little-endian bytes of `dtype` to f32 one block at a time and
/// accumulate; used for F16/BF16 and unaligned F32.
fn task_decoded_f32(dtype: DType, bytes: &[u8]) -> Acc {
    let size = dtype.size().unwrap_or(1);
    let mut buf = [0f32; BLOCK];
    let mut acc = Acc::EMPTY;
    for chunk in bytes.chunks(BLOCK * size) {
        let n = chunk.len() / size;
        let out = &mut buf[..n];
        match dtype {
            DType::F16 => {
                for (o, c) in out.iter_mut().zip(chunk.chunks_exact(2)) {
                    *o = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
                }
            }
            DType::BF16 => {
                for (o, c) in out.iter_mut().zip(chunk.chunks_exact(2)) {
                    *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
                }
            }
            _ => {
                for (o, c) in out.iter_mut().zip(chunk.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
        acc = acc.merge(block_f32(out));
    }
    acc
}

/// Decode to f64 (exact for every other real dtype) and accumulate.
fn task_decoded_f64(dtype: DType, bytes: &[u8]) -> Result<Acc, ConvertError> {
    let size = dtype.size().unwrap_or(1);
    let mut buf = vec![0f64; BLOCK];
    let mut acc = Acc::EMPTY;
    for chunk in bytes.chunks(BLOCK * size) {
        let n = chunk.len() / size;
        decode_f64(dtype, chunk, &mut buf[..n])?;
        acc = acc.merge(block_f64(&buf[..n]));
    }
    Ok(acc)
}

impl Stats {
    /// Statistics of little-endian elements of `dtype`.
    pub fn of_bytes(dtype: DType, bytes: &[u8]) -> Result<Stats, ConvertError> {
        let size = dtype.size().filter(|_| dtype.is_decodable()).ok_or(ConvertError::NotReal(dtype))?;
        if !bytes.len().is_multiple_of(size) {
            return Err(ConvertError::Ragged { dtype, len: bytes.len() });
        }
        let acc = match dtype {
            DType::F32 => {
                // SAFETY: every bit pattern is a valid f32; align_to only
                // yields the correctly aligned middle part.
                let (head, mid, tail) = unsafe { bytes.align_to::<f32>() };
                if head.is_empty() && tail.is_empty() && cfg!(target_endian = "little") {
                    mid.par_chunks(TASK).map(task_f32_best).reduce(|| Acc::EMPTY, Acc::merge)
                } else {
                    bytes.par_chunks(TASK * 4).map(|c| task_decoded_f32(dtype, c)).reduce(|| Acc::EMPTY, Acc::merge)
                }
            }
            DType::F16 | DType::BF16 => bytes.par_chunks(TASK * 2).map(|c| task_decoded_f32(dtype, c)).reduce(|| Acc::EMPTY, Acc::merge),
            _ => bytes.par_chunks(TASK * size).map(|c| task_decoded_f64(dtype, c)).try_reduce(|| Acc::EMPTY, |a, b| Ok(a.merge(b)))?,
        };
        Ok(acc.finish())
    }

    /// Statistics of f32 values already in memory.
    pub fn of_f32(values: &[f32]) -> Stats {
        values.par_chunks(TASK).map(task_f32_best).reduce(|| Acc::EMPTY, Acc::merge).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(xs: &[f64]) -> (u64, f64, f64, f64, f64) {
        let f: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        let n = f.len() as f64;
        let mean = f.iter().sum::<f64>() / n;
        let var = f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let mn = f.iter().copied().fold(f64::INFINITY, f64::min);
        let mx = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (f.len() as u64, mn, mx, mean, var.sqrt())
    }

    #[test]
    fn matches_naive_two_pass_with_specials() {
        let mut xs: Vec<f32> = (0..1_000_003).map(|i| ((i as f32) * 0.37).sin() * 1e3 + 1e4).collect();
        xs[17] = f32::NAN;
        xs[999_999] = f32::INFINITY;
        xs[5] = f32::NEG_INFINITY;
        let s = Stats::of_f32(&xs);
        let wide: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
        let (n, mn, mx, mean, std) = naive(&wide);
        assert_eq!((s.count, s.finite, s.nan, s.inf), (xs.len() as u64, n, 1, 2));
        assert_eq!((s.min.unwrap(), s.max.unwrap()), (mn, mx));
        assert!((s.mean.unwrap() - mean).abs() <= 1e-12 * mean.abs());
        assert!((s.std.unwrap() - std).abs() <= 1e-9 * std);
        let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        // Unaligned path gives the same answer.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        let s2 = Stats::of_bytes(DType::F32, &shifted[1..]).unwrap();
        assert_eq!(s.count, s2.count);
        assert!((s.std.unwrap() - s2.std.unwrap()).abs() <= 1e-9 * std);
    }

    #[test]
    fn all_nonfinite_and_empty() {
        let s = Stats::of_f32(&[f32::NAN, f32::INFINITY]);
        assert_eq!((s.count, s.finite, s.nan, s.inf, s.min), (2, 0, 1, 1, None));
        let s = Stats::of_f32(&[]);
        assert_eq!((s.count, s.mean), (0, None));
    }

    #[test]
    fn integers_and_half() {
        let v: Vec<u8> = [-3i16, 7, 1000].iter().flat_map(|x| x.to_le_bytes()).collect();
        let s = Stats::of_bytes(DType::I16, &v).unwrap();
        assert_eq!((s.min, s.max), (Some(-3.0), Some(1000.0)));
        let h: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&x| half::bf16::from_f32(x).to_bits().to_le_bytes()).collect();
        let s = Stats::of_bytes(DType::BF16, &h).unwrap();
        assert_eq!((s.min, s.max, s.mean), (Some(-2.0), Some(1.5), Some(-0.25)));
        assert!(Stats::of_bytes(DType::C64, &[0; 8]).is_err());
    }
}
