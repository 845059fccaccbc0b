//! Element-wise comparison metrics of two tensors, in one streaming,
//! parallel pass in f64.
//!
//! Both tensors are read front to back in windows ([`ChunkRead`]); each
//! window is split into fixed tasks of [`TASK`] elements that run in
//! parallel, and the tasks' partial results are merged in element order.
//! Sums are carried as double-double (an f64 pair, error-free additions).
//! At the end each sum is checked against a proven bound on its error: if
//! the exact sum could lie on the other side of a rounding midpoint, the
//! sums are recomputed exactly ([`exact_sums_pass`], [`ExactSum`]) — rare,
//! slow and certain. Every reported sum is therefore the exact sum rounded
//! once, and nothing depends on the number of threads or the window size.
//!
//! Definitions, for elements `a[i]` (compared) and `b[i]` (reference)
//! decoded exactly to f64, over the *finite pairs* F (both finite), with
//! `d = a - b` rounded in f64:
//!
//! - `max_abs = max |d|`, with the first index that attains it;
//! - `mean_abs = sum|d| / |F|`, `rmse = sqrt(sum(d*d) / |F|)` (each
//!   `d*d` rounded in f64, the sums exact then rounded once);
//! - `max_rel = max |d| / max(|b|, floor)` with `floor = scale`, the power
//!   of two nearest the RMS of the finite `b` ([`crate::tolerance::scale_of`];
//!   `f64::MIN_POSITIVE` when that is 0): an element
//!   near zero is measured against the tensor's typical size;
//! - `cosine = sum(a*b) / sqrt(sum a*a * sum b*b)` (the square roots taken
//!   separately if the product over- or underflows), clamped to [-1, 1]; 1
//!   when both are all zero, 0 when one is;
//! - `max_ulp`: when both sides have the same float dtype, the largest
//!   distance between the two values counted in representable values of
//!   that dtype (`+0` and `-0` are 0 apart);
//! - NaN and infinity counts per side and the first non-finite index;
//! - allclose as numpy's `isclose(a, b)` (b the reference) in f64:
//!   `|a - b| <= atol + rtol * |b|` for finite pairs; infinities are close
//!   only to the same infinity; NaN is close only to NaN and only with
//!   `equal_nan`. The violations are counted and the first is kept.
//!
//! Integer (and bool) tensors on both sides compare exactly: mismatch
//! count and first mismatch with both values.

use mlxport_tensor::stream::ChunkRead;
use mlxport_tensor::DType;
use rayon::prelude::*;
use serde::Serialize;

/// Elements per parallel task. Task boundaries are fixed in element
/// positions, so the merge order never depends on scheduling.
pub const TASK: usize = 1 << 16;
/// Elements decoded and processed at a time inside a task (fits in L1).
const BLOCK: usize = 1024;
/// Elements per window read from each side.
pub const WINDOW: usize = 1 << 22;

/// A double-double accumulator: `hi + lo` holds the running sum with about
/// 106 bits of precision.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dd {
    pub hi: f64,
    pub lo: f64,
}

#[inline(always)]
fn two_sum(hi: &mut f64, lo: &mut f64, x: f64) {
    let s = *hi + x;
    let bp = s - *hi;
    let e = (*hi - (s - bp)) + (x - bp);
    *hi = s;
    *lo += e;
}

impl Dd {
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        two_sum(&mut self.hi, &mut self.lo, x);
    }
    /// Add another accumulator.
    pub fn merge(self, o: Dd) -> Dd {
        let mut r = self;
        r.add(o.hi);
        r.lo += o.lo;
        // Renormalise so `lo` stays small next to `hi`.
        let s = r.hi + r.lo;
        if s.is_finite() {
            let lo = r.lo - (s - r.hi);
            Dd { hi: s, lo }
        } else {
            r
        }
    }
    /// The sum rounded to f64. Infinite or NaN sums are returned as the
    /// plain running sum.
    pub fn value(self) -> f64 {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }
}

impl Dd {
    /// Whether [`Dd::value`] is certainly the correctly rounded sum, given
    /// a bound on the accumulated error of `hi + lo` against the exact sum.
    /// Checks that the true sum cannot lie on the other side of a rounding
    /// midpoint.
    pub fn certainly_rounded(self, bound: f64) -> bool {
        if !self.hi.is_finite() {
            return true;
        }
        let (mut r, mut e) = (self.hi, 0.0);
        two_sum(&mut r, &mut e, self.lo);
        if !r.is_finite() {
            return true;
        }
        let gap = if e > 0.0 {
            r.next_up() - r
        } else if e < 0.0 {
            r - r.next_down()
        } else {
            (r.next_up() - r).min(r - r.next_down())
        };
        e.abs() + bound < gap / 2.0
    }
}

/// An exact sum of f64 values (a list of non-overlapping partials, as in
/// Shewchuk's algorithm), rounded once at the end, correctly. Slower than
/// [`Dd`]; used where certainty matters more than speed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExactSum {
    partials: Vec<f64>,
    /// Sum of the non-finite terms (they make the result non-finite).
    special: f64,
}

impl ExactSum {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.special += x;
            return;
        }
        let mut x = x;
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    pub fn merge(&mut self, o: &ExactSum) {
        for &p in &o.partials {
            self.add(p);
        }
        self.special += o.special;
    }

    /// The exact sum, rounded to nearest even once.
    pub fn value(&self) -> f64 {
        if self.special != 0.0 || self.special.is_nan() {
            return self.special;
        }
        let p = &self.partials;
        let Some(mut n) = p.len().checked_sub(1) else { return 0.0 };
        let mut hi = p[n];
        let mut lo = 0.0;
        // Add partials from the largest down until the addition is inexact.
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Half-way case: the remaining partials decide the direction.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

/// Settings of one element-wise pass.
#[derive(Clone, Copy, Debug)]
pub struct PassOptions {
    pub atol: f64,
    pub rtol: f64,
    /// Floor of the relative error's denominator.
    pub floor: f64,
    pub equal_nan: bool,
    /// Measure ULP distances in this dtype (both sides have it).
    pub ulp: Option<DType>,
    /// Use the AVX-512 loops (set by [`PassOptions::new`] when the CPU has
    /// them; the results are the same either way).
    pub avx512: bool,
}

impl PassOptions {
    pub fn new(atol: f64, rtol: f64, floor: f64, equal_nan: bool, ulp: Option<DType>) -> PassOptions {
        #[cfg(target_arch = "x86_64")]
        let avx512 = has_avx512();
        #[cfg(not(target_arch = "x86_64"))]
        let avx512 = false;
        PassOptions { atol, rtol, floor, equal_nan, ulp, avx512 }
    }
}

/// Partial results of a run of elements; merged in element order.
#[derive(Clone, Copy, Debug)]
pub struct Acc {
    pub count: u64,
    pub finite: u64,
    pub nan_a: u64,
    pub inf_a: u64,
    pub nan_b: u64,
    pub inf_b: u64,
    pub first_nonfinite_a: Option<u64>,
    pub first_nonfinite_b: Option<u64>,
    /// -1 while empty.
    pub max_abs: f64,
    pub max_abs_at: u64,
    pub max_rel: f64,
    pub max_rel_at: u64,
    pub sum_abs: Dd,
    pub sum_sq: Dd,
    pub dot: Dd,
    pub sum_aa: Dd,
    pub sum_bb: Dd,
    pub violations: u64,
    pub first_violation: Option<u64>,
    pub max_ulp: u64,
    /// Squares and count of the finite B values paired with a non-finite
    /// A value (with `sum_bb` and `finite`, the reference's scale).
    pub extra_bb: Dd,
    pub extra_b: u64,
}

impl Acc {
    pub const EMPTY: Acc = Acc {
        count: 0,
        finite: 0,
        nan_a: 0,
        inf_a: 0,
        nan_b: 0,
        inf_b: 0,
        first_nonfinite_a: None,
        first_nonfinite_b: None,
        max_abs: -1.0,
        max_abs_at: 0,
        max_rel: -1.0,
        max_rel_at: 0,
        sum_abs: Dd { hi: 0.0, lo: 0.0 },
        sum_sq: Dd { hi: 0.0, lo: 0.0 },
        dot: Dd { hi: 0.0, lo: 0.0 },
        sum_aa: Dd { hi: 0.0, lo: 0.0 },
        sum_bb: Dd { hi: 0.0, lo: 0.0 },
        violations: 0,
        first_violation: None,
        max_ulp: 0,
        extra_bb: Dd { hi: 0.0, lo: 0.0 },
        extra_b: 0,
    };

    /// Merge `o`, which covers elements after `self`'s. Ties keep the
    /// earlier index.
    pub fn merge(self, o: Acc) -> Acc {
        let (max_abs, max_abs_at) = pick_max(self.max_abs, self.max_abs_at, o.max_abs, o.max_abs_at);
        let (max_rel, max_rel_at) = pick_max(self.max_rel, self.max_rel_at, o.max_rel, o.max_rel_at);
        Acc {
            count: self.count + o.count,
            finite: self.finite + o.finite,
            nan_a: self.nan_a + o.nan_a,
            inf_a: self.inf_a + o.inf_a,
            nan_b: self.nan_b + o.nan_b,
            inf_b: self.inf_b + o.inf_b,
            first_nonfinite_a: self.first_nonfinite_a.or(o.first_nonfinite_a),
            first_nonfinite_b: self.first_nonfinite_b.or(o.first_nonfinite_b),
            max_abs,
            max_abs_at,
            max_rel,
            max_rel_at,
            sum_abs: self.sum_abs.merge(o.sum_abs),
            sum_sq: self.sum_sq.merge(o.sum_sq),
            dot: self.dot.merge(o.dot),
            sum_aa: self.sum_aa.merge(o.sum_aa),
            sum_bb: self.sum_bb.merge(o.sum_bb),
            violations: self.violations + o.violations,
            first_violation: self.first_violation.or(o.first_violation),
            max_ulp: self.max_ulp.max(o.max_ulp),
            extra_bb: self.extra_bb.merge(o.extra_bb),
            extra_b: self.extra_b + o.extra_b,
        }
    }
}

/// The larger value, ties to the smaller index; NaN never wins.
#[inline(always)]
fn pick_max(v1: f64, i1: u64, v2: f64, i2: u64) -> (f64, u64) {
    if v2 > v1 || (v2 == v1 && i2 < i1) {
        (v2, i2)
    } else {
        (v1, i1)
    }
}

/// Whether every value is finite (branch-free, vectorises).
#[inline(always)]
fn all_finite(xs: &[f64]) -> bool {
    const EXP: u64 = 0x7ff0_0000_0000_0000;
    xs.iter().fold(0u64, |m, x| m | ((x.to_bits() & EXP) == EXP) as u64) == 0
}

#[inline(always)]
fn is_finite_bits(x: f64) -> bool {
    (x.to_bits() & 0x7ff0_0000_0000_0000) != 0x7ff0_0000_0000_0000
}

/// Lanes of the vectorised kernels.
const L: usize = 8;
type V = [f64; L];

#[inline(always)]
fn lanes(xs: &[f64]) -> V {
    let mut v = [0.0; L];
    v.copy_from_slice(&xs[..L]);
    v
}

/// `two_sum` on whole lane arrays, one step per loop so that each step
/// compiles to one vector instruction.
#[inline(always)]
fn two_sum_v(hi: &mut V, lo: &mut V, x: &V) {
    let mut s = [0.0; L];
    let mut bp = [0.0; L];
    for l in 0..L {
        s[l] = hi[l] + x[l];
    }
    for l in 0..L {
        bp[l] = s[l] - hi[l];
    }
    for l in 0..L {
        lo[l] += (hi[l] - (s[l] - bp[l])) + (x[l] - bp[l]);
    }
    *hi = s;
}

#[inline(always)]
fn map2(x: &V, y: &V, f: impl Fn(f64, f64) -> f64) -> V {
    let mut r = [0.0; L];
    for l in 0..L {
        r[l] = f(x[l], y[l]);
    }
    r
}

/// One block of finite pairs, lane-parallel (vectorised by the compiler).
#[inline(always)]
fn block_finite(a: &[f64], b: &[f64], base: u64, o: &PassOptions, acc: &mut Acc) {
    let (atol, rtol) = (o.atol, o.rtol);
    let ta_len = a.len() % L;
    #[cfg(target_arch = "x86_64")]
    let ([h0, l0, h1, l1, h2, l2, h3, l3, h4, l4], mx, mxi, mr, mri, viol) = if o.avx512 {
        // SAFETY: `avx512` is set only when the CPU has AVX-512F and DQ.
        unsafe { avx512::lanes(a, b, base, o) }
    } else {
        lanes_portable(a, b, base, o)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let lanes = lanes_portable(a, b, base, o);
    #[cfg(target_arch = "x86_64")]
    let lanes = ([h0, l0, h1, l1, h2, l2, h3, l3, h4, l4], mx, mxi, mr, mri, viol);
    let _ = (atol, rtol);
    let part = finish_block(lanes, &a[a.len() - ta_len..], &b[b.len() - ta_len..], a.len(), base, o);
    let part = with_first_violation(part, acc, a, b, base, o);
    *acc = acc.merge(part);
}

/// Lane accumulators of a block: the five sums' (hi, lo) pairs, the
/// largest error and relative error with their indices, violations.
type LaneOut = ([[f64; L]; 10], [f64; L], [u64; L], [f64; L], [u64; L], [u64; L]);

/// Merge a block's lanes (in lane order) and its tail of fewer than `L`
/// finite pairs (scalar) into one partial result for `n` pairs.
#[inline(always)]
fn finish_block(lanes: LaneOut, ta: &[f64], tb: &[f64], n: usize, base: u64, o: &PassOptions) -> Acc {
    let ([h0, l0, h1, l1, h2, l2, h3, l3, h4, l4], mx, mxi, mr, mri, viol) = lanes;
    let mut part = Acc::EMPTY;
    for l in 0..L {
        part.sum_abs = part.sum_abs.merge(Dd { hi: h0[l], lo: l0[l] });
        part.sum_sq = part.sum_sq.merge(Dd { hi: h1[l], lo: l1[l] });
        part.dot = part.dot.merge(Dd { hi: h2[l], lo: l2[l] });
        part.sum_aa = part.sum_aa.merge(Dd { hi: h3[l], lo: l3[l] });
        part.sum_bb = part.sum_bb.merge(Dd { hi: h4[l], lo: l4[l] });
        (part.max_abs, part.max_abs_at) = pick_max(part.max_abs, part.max_abs_at, mx[l], mxi[l]);
        (part.max_rel, part.max_rel_at) = pick_max(part.max_rel, part.max_rel_at, mr[l], mri[l]);
        part.violations += viol[l];
    }
    let t0 = base + (n - ta.len()) as u64;
    for (j, (&x, &y)) in ta.iter().zip(tb).enumerate() {
        finite_pair(&mut part, x, y, t0 + j as u64, o);
    }
    part.count = n as u64;
    part.finite = n as u64;
    part
}

/// Locate the block's first violation, once per task (only the first one
/// of the whole pass is reported).
#[inline(always)]
fn with_first_violation(mut part: Acc, acc: &Acc, a: &[f64], b: &[f64], base: u64, o: &PassOptions) -> Acc {
    if part.violations > 0 && acc.first_violation.is_none() && part.first_violation.is_none() {
        part.first_violation = a.iter().zip(b).position(|(&x, &y)| (x - y).abs() > o.atol + o.rtol * y.abs()).map(|p| base + p as u64);
    }
    part
}

/// The lane part of [`block_finite`], portable.
#[allow(clippy::type_complexity)]
#[inline(always)]
fn lanes_portable(a: &[f64], b: &[f64], base: u64, o: &PassOptions) -> ([[f64; L]; 10], [f64; L], [u64; L], [f64; L], [u64; L], [u64; L]) {
    let (mut h0, mut l0, mut h1, mut l1, mut h2, mut l2, mut h3, mut l3, mut h4, mut l4) =
        ([0f64; L], [0f64; L], [0f64; L], [0f64; L], [0f64; L], [0f64; L], [0f64; L], [0f64; L], [0f64; L], [0f64; L]);
    let mut mx = [-1f64; L];
    let mut mxi = [0u64; L];
    let mut mr = [-1f64; L];
    let mut mri = [0u64; L];
    let mut viol = [0u64; L];
    let (atol, rtol, floor) = (o.atol, o.rtol, o.floor);
    let ca = a.chunks_exact(L);
    let cb = b.chunks_exact(L);
    let mut i0 = base;
    for (xa, xb) in ca.zip(cb) {
        let (x, y) = (lanes(xa), lanes(xb));
        let d = map2(&x, &y, |x, y| x - y);
        let ad = map2(&d, &d, |d, _| d.abs());
        let ay = map2(&y, &y, |y, _| y.abs());
        two_sum_v(&mut h0, &mut l0, &ad);
        two_sum_v(&mut h1, &mut l1, &map2(&d, &d, |p, q| p * q));
        two_sum_v(&mut h2, &mut l2, &map2(&x, &y, |p, q| p * q));
        two_sum_v(&mut h3, &mut l3, &map2(&x, &x, |p, q| p * q));
        two_sum_v(&mut h4, &mut l4, &map2(&y, &y, |p, q| p * q));
        let r = map2(&ad, &ay, |ad, ay| ad / if ay > floor { ay } else { floor });
        for l in 0..L {
            let better = ad[l] > mx[l];
            mx[l] = if better { ad[l] } else { mx[l] };
            mxi[l] = if better { i0 + l as u64 } else { mxi[l] };
        }
        for l in 0..L {
            let better = r[l] > mr[l];
            mr[l] = if better { r[l] } else { mr[l] };
            mri[l] = if better { i0 + l as u64 } else { mri[l] };
        }
        for l in 0..L {
            viol[l] += (ad[l] > atol + rtol * ay[l]) as u64;
        }
        i0 += L as u64;
    }
    ([h0, l0, h1, l1, h2, l2, h3, l3, h4, l4], mx, mxi, mr, mri, viol)
}

/// The AVX-512 forms of the hot loops. They perform exactly the same IEEE
/// operations in the same lane order as the portable code (no fused
/// multiply-add, `max` only where both operands are finite), so results
/// are bit for bit the same on every path.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{PassOptions, L};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn two_sum(hi: &mut __m512d, lo: &mut __m512d, x: __m512d) {
        let s = _mm512_add_pd(*hi, x);
        let bp = _mm512_sub_pd(s, *hi);
        let e = _mm512_add_pd(_mm512_sub_pd(*hi, _mm512_sub_pd(s, bp)), _mm512_sub_pd(x, bp));
        *lo = _mm512_add_pd(*lo, e);
        *hi = s;
    }

    fn store(v: __m512d) -> [f64; L] {
        let mut out = [0.0; L];
        // SAFETY: `out` holds exactly 8 f64.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) };
        out
    }

    fn store_u64(v: __m512i) -> [u64; L] {
        let mut out = [0u64; L];
        // SAFETY: `out` holds exactly 8 u64.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), v) };
        out
    }

    /// The lane part of `block_finite`: whole chunks of 8 pairs.
    /// Returns the lane accumulators in the portable layout.
    #[target_feature(enable = "avx512f,avx512dq")]
    #[allow(clippy::type_complexity)]
    pub unsafe fn lanes(a: &[f64], b: &[f64], base: u64, o: &PassOptions) -> ([[f64; L]; 10], [f64; L], [u64; L], [f64; L], [u64; L], [u64; L]) {
        let n = a.len().min(b.len()) / L * L;
        let z = _mm512_setzero_pd();
        let (mut h0, mut l0, mut h1, mut l1, mut h2, mut l2, mut h3, mut l3, mut h4, mut l4) = (z, z, z, z, z, z, z, z, z, z);
        let mut mx = _mm512_set1_pd(-1.0);
        let mut mr = _mm512_set1_pd(-1.0);
        let mut mxi = _mm512_setzero_si512();
        let mut mri = _mm512_setzero_si512();
        let mut viol = _mm512_setzero_si512();
        let one = _mm512_set1_epi64(1);
        let (atol, rtol, floor) = (_mm512_set1_pd(o.atol), _mm512_set1_pd(o.rtol), _mm512_set1_pd(o.floor));
        let mut idx = _mm512_add_epi64(_mm512_set1_epi64(base as i64), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
        let step = _mm512_set1_epi64(L as i64);
        let mut i = 0;
        while i < n {
            let x = _mm512_loadu_pd(a.as_ptr().add(i));
            let y = _mm512_loadu_pd(b.as_ptr().add(i));
            let d = _mm512_sub_pd(x, y);
            let ad = _mm512_abs_pd(d);
            let ay = _mm512_abs_pd(y);
            two_sum(&mut h0, &mut l0, ad);
            two_sum(&mut h1, &mut l1, _mm512_mul_pd(d, d));
            two_sum(&mut h2, &mut l2, _mm512_mul_pd(x, y));
            two_sum(&mut h3, &mut l3, _mm512_mul_pd(x, x));
            two_sum(&mut h4, &mut l4, _mm512_mul_pd(y, y));
            // `if ay > floor { ay } else { floor }`: both finite here.
            let r = _mm512_div_pd(ad, _mm512_max_pd(ay, floor));
            let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ad, mx);
            mx = _mm512_mask_blend_pd(k, mx, ad);
            mxi = _mm512_mask_blend_epi64(k, mxi, idx);
            let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(r, mr);
            mr = _mm512_mask_blend_pd(k, mr, r);
            mri = _mm512_mask_blend_epi64(k, mri, idx);
            let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ad, _mm512_add_pd(atol, _mm512_mul_pd(rtol, ay)));
            viol = _mm512_mask_add_epi64(viol, k, viol, one);
            idx = _mm512_add_epi64(idx, step);
            i += L;
        }
        (
            [store(h0), store(l0), store(h1), store(l1), store(h2), store(l2), store(h3), store(l3), store(h4), store(l4)],
            store(mx),
            store_u64(mxi),
            store(mr),
            store_u64(mri),
            store_u64(viol),
        )
    }

    /// [`lanes`] reading float32 pairs straight from little-endian bytes
    /// (whole chunks of 8), with the ULP distance of the f32 bit patterns.
    /// Also returns whether any value was not finite: then the caller must
    /// redo the block on the careful path and ignore these lanes.
    #[target_feature(enable = "avx512f,avx512dq,avx2")]
    pub unsafe fn lanes_f32(a: &[u8], b: &[u8], base: u64, o: &PassOptions) -> (super::LaneOut, bool, u64) {
        let n = a.len().min(b.len()) / 4 / L * L;
        let z = _mm512_setzero_pd();
        let (mut h0, mut l0, mut h1, mut l1, mut h2, mut l2, mut h3, mut l3, mut h4, mut l4) = (z, z, z, z, z, z, z, z, z, z);
        let mut mx = _mm512_set1_pd(-1.0);
        let mut mr = _mm512_set1_pd(-1.0);
        let mut mxi = _mm512_setzero_si512();
        let mut mri = _mm512_setzero_si512();
        let mut viol = _mm512_setzero_si512();
        let mut ulp = _mm512_setzero_si512();
        let mut bad: __mmask8 = 0;
        let one = _mm512_set1_epi64(1);
        let inf = _mm512_set1_pd(f64::INFINITY);
        let magmask = _mm256_set1_epi32(0x7fff_ffff);
        let (atol, rtol, floor) = (_mm512_set1_pd(o.atol), _mm512_set1_pd(o.rtol), _mm512_set1_pd(o.floor));
        let mut idx = _mm512_add_epi64(_mm512_set1_epi64(base as i64), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
        let step = _mm512_set1_epi64(L as i64);
        let want_ulp = o.ulp.is_some();
        let mut i = 0;
        while i < n {
            let ba = _mm256_loadu_si256(a.as_ptr().add(i * 4).cast());
            let bb = _mm256_loadu_si256(b.as_ptr().add(i * 4).cast());
            let x = _mm512_cvtps_pd(_mm256_castsi256_ps(ba));
            let y = _mm512_cvtps_pd(_mm256_castsi256_ps(bb));
            let ok = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(x), inf) & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(y), inf);
            bad |= !ok;
            let d = _mm512_sub_pd(x, y);
            let ad = _mm512_abs_pd(d);
            let ay = _mm512_abs_pd(y);
            two_sum(&mut h0, &mut l0, ad);
            two_sum(&mut h1, &mut l1, _mm512_mul_pd(d, d));
            two_sum(&mut h2, &mut l2, _mm512_mul_pd(x, y));
            two_sum(&mut h3, &mut l3, _mm512_mul_pd(x, x));
            two_sum(&mut h4, &mut l4, _mm512_mul_pd(y, y));
            let r = _mm512_div_pd(ad, _mm512_max_pd(ay, floor));
            let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ad, mx);
            mx = _mm512_mask_blend_pd(k, mx, ad);
            mxi = _mm512_mask_blend_epi64(k, mxi, idx);
            let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(r, mr);
            mr = _mm512_mask_blend_pd(k, mr, r);
            mri = _mm512_mask_blend_epi64(k, mri, idx);
            let k = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ad, _mm512_add_pd(atol, _mm512_mul_pd(rtol, ay)));
            viol = _mm512_mask_add_epi64(viol, k, viol, one);
            if want_ulp {
                // Sign-magnitude bits to ordered integers: neg ? -mag : mag.
                let oa = {
                    let neg = _mm256_srai_epi32::<31>(ba);
                    _mm256_sub_epi32(_mm256_xor_si256(_mm256_and_si256(ba, magmask), neg), neg)
                };
                let ob = {
                    let neg = _mm256_srai_epi32::<31>(bb);
                    _mm256_sub_epi32(_mm256_xor_si256(_mm256_and_si256(bb, magmask), neg), neg)
                };
                let dist = _mm512_abs_epi64(_mm512_sub_epi64(_mm512_cvtepi32_epi64(oa), _mm512_cvtepi32_epi64(ob)));
                ulp = _mm512_mask_max_epu64(ulp, ok, ulp, dist);
            }
            idx = _mm512_add_epi64(idx, step);
            i += L;
        }
        let u = store_u64(ulp).iter().copied().max().unwrap_or(0);
        (
            (
                [store(h0), store(l0), store(h1), store(l1), store(h2), store(l2), store(h3), store(l3), store(h4), store(l4)],
                store(mx),
                store_u64(mxi),
                store(mr),
                store_u64(mri),
                store_u64(viol),
            ),
            bad != 0,
            u,
        )
    }

    /// [`squares`] reading float32 values straight from little-endian
    /// bytes (whole chunks of 8); returns the lane accumulators.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub unsafe fn squares_f32(bytes: &[u8]) -> ([f64; L], [f64; L], u64) {
        let n = bytes.len() / 4 / L * L;
        let (mut hi, mut lo) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut cnt = _mm512_setzero_si512();
        let inf = _mm512_set1_pd(f64::INFINITY);
        let one = _mm512_set1_epi64(1);
        let mut i = 0;
        while i < n {
            let x = _mm512_cvtps_pd(_mm256_loadu_ps(bytes.as_ptr().add(i * 4).cast()));
            let ok = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(x), inf);
            two_sum(&mut hi, &mut lo, _mm512_maskz_mul_pd(ok, x, x));
            cnt = _mm512_mask_add_epi64(cnt, ok, cnt, one);
            i += L;
        }
        (store(hi), store(lo), store_u64(cnt).iter().sum())
    }

    /// Lane sums of squares of the finite values and lane counts (whole
    /// chunks of 8).
    #[target_feature(enable = "avx512f,avx512dq")]
    pub unsafe fn squares(xs: &[f64]) -> ([f64; L], [f64; L], u64) {
        let n = xs.len() / L * L;
        let (mut hi, mut lo) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut cnt = _mm512_setzero_si512();
        let inf = _mm512_set1_pd(f64::INFINITY);
        let one = _mm512_set1_epi64(1);
        let mut i = 0;
        while i < n {
            let x = _mm512_loadu_pd(xs.as_ptr().add(i));
            let ok = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_abs_pd(x), inf);
            two_sum(&mut hi, &mut lo, _mm512_maskz_mul_pd(ok, x, x));
            cnt = _mm512_mask_add_epi64(cnt, ok, cnt, one);
            i += L;
        }
        (store(hi), store(lo), store_u64(cnt).iter().sum())
    }
}

/// One finite pair, scalar.
#[inline(always)]
fn finite_pair(acc: &mut Acc, x: f64, y: f64, i: u64, o: &PassOptions) {
    let d = x - y;
    let ad = d.abs();
    let ay = y.abs();
    acc.sum_abs.add(ad);
    acc.sum_sq.add(d * d);
    acc.dot.add(x * y);
    acc.sum_aa.add(x * x);
    acc.sum_bb.add(y * y);
    (acc.max_abs, acc.max_abs_at) = pick_max(acc.max_abs, acc.max_abs_at, ad, i);
    let r = ad / if ay > o.floor { ay } else { o.floor };
    (acc.max_rel, acc.max_rel_at) = pick_max(acc.max_rel, acc.max_rel_at, r, i);
    if ad > o.atol + o.rtol * ay {
        acc.violations += 1;
        acc.first_violation.get_or_insert(i);
    }
}

/// One block with non-finite values, scalar, in element order.
fn block_mixed(a: &[f64], b: &[f64], base: u64, o: &PassOptions, acc: &mut Acc) {
    let mut part = Acc { count: a.len() as u64, ..Acc::EMPTY };
    for (j, (&x, &y)) in a.iter().zip(b).enumerate() {
        let i = base + j as u64;
        let (fx, fy) = (x.is_finite(), y.is_finite());
        if fx && fy {
            part.finite += 1;
            finite_pair(&mut part, x, y, i, o);
            continue;
        }
        if !fx && fy {
            part.extra_bb.add(y * y);
            part.extra_b += 1;
        }
        if !fx {
            if x.is_nan() {
                part.nan_a += 1;
            } else {
                part.inf_a += 1;
            }
            part.first_nonfinite_a.get_or_insert(i);
        }
        if !fy {
            if y.is_nan() {
                part.nan_b += 1;
            } else {
                part.inf_b += 1;
            }
            part.first_nonfinite_b.get_or_insert(i);
        }
        let close = if x.is_nan() || y.is_nan() { o.equal_nan && x.is_nan() && y.is_nan() } else { x == y };
        if !close {
            part.violations += 1;
            part.first_violation.get_or_insert(i);
        }
    }
    *acc = acc.merge(part);
}

/// A float's bits mapped to an integer that orders like the float (the
/// two zeros both map to 0): sign-magnitude to two's complement.
#[inline(always)]
fn ordered(bits: u64, sign: u64) -> i64 {
    let mag = (bits & !sign) as i64;
    if bits & sign != 0 {
        -mag
    } else {
        mag
    }
}

/// The largest ULP distance over the finite pairs of a block.
#[inline(always)]
fn block_ulp(a: &[f64], b: &[f64], dtype: DType) -> u64 {
    #[inline(always)]
    fn run(a: &[f64], b: &[f64], bits: impl Fn(f64) -> u64, sign: u64) -> u64 {
        let mut m = 0u64;
        for (&x, &y) in a.iter().zip(b) {
            let ok = is_finite_bits(x) & is_finite_bits(y);
            let d = ordered(bits(x), sign).abs_diff(ordered(bits(y), sign));
            m = m.max(if ok { d } else { 0 });
        }
        m
    }
    match dtype {
        DType::F32 => run(a, b, |x| (x as f32).to_bits() as u64, 1 << 31),
        DType::BF16 => run(a, b, |x| ((x as f32).to_bits() >> 16) as u64, 1 << 15),
        DType::F16 => run(a, b, |x| half::f16::from_f64(x).to_bits() as u64, 1 << 15),
        DType::F64 => {
            // Distances can reach 2^64 - 2: computed in i128.
            let mut m = 0u64;
            for (&x, &y) in a.iter().zip(b) {
                if is_finite_bits(x) && is_finite_bits(y) {
                    let o = |v: f64| {
                        let bits = v.to_bits();
                        let mag = (bits & !(1u64 << 63)) as i128;
                        if bits >> 63 != 0 {
                            -mag
                        } else {
                            mag
                        }
                    };
                    m = m.max((o(x) - o(y)).unsigned_abs() as u64);
                }
            }
            m
        }
        _ => 0,
    }
}

/// Decode little-endian elements to f64 (exact for every real dtype).
#[inline(always)]
pub fn decode_block(dtype: DType, src: &[u8], dst: &mut [f64]) {
    match dtype {
        DType::F32 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64;
            }
        }
        DType::BF16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64;
            }
        }
        DType::F16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f64();
            }
        }
        DType::F64 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
                *d = f64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            }
        }
        _ => {
            // Checked by the caller: a decodable dtype and whole elements.
            let _ = mlxport_tensor::dtype::decode_f64(dtype, src, dst);
        }
    }
}

/// One task: a run of elements of both sides (bytes), block by block.
#[inline(always)]
fn task_body(da: DType, a: &[u8], db: DType, b: &[u8], base: u64, o: &PassOptions) -> Acc {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let n = a.len() / sa;
    let mut xa = [0f64; BLOCK];
    let mut xb = [0f64; BLOCK];
    let mut acc = Acc::EMPTY;
    let mut start = 0;
    #[cfg(target_arch = "x86_64")]
    let fused = o.avx512 && da == DType::F32 && db == DType::F32;
    while start < n {
        let m = BLOCK.min(n - start);
        #[cfg(target_arch = "x86_64")]
        if fused {
            let (ba, bb) = (&a[start * 4..(start + m) * 4], &b[start * 4..(start + m) * 4]);
            let at = base + start as u64;
            // SAFETY: `avx512` is set only when the CPU has AVX-512F and DQ.
            let (lanes, bad, ulp) = unsafe { avx512::lanes_f32(ba, bb, at, o) };
            if !bad {
                let k = m / L * L;
                let (pa, pb) = (&mut xa[..m - k], &mut xb[..m - k]);
                decode_block(DType::F32, &ba[k * 4..], pa);
                decode_block(DType::F32, &bb[k * 4..], pb);
                if all_finite(pa) & all_finite(pb) {
                    let mut part = finish_block(lanes, pa, pb, m, at, o);
                    if o.ulp.is_some() {
                        part.max_ulp = ulp.max(block_ulp(pa, pb, DType::F32));
                    }
                    if part.violations > 0 && acc.first_violation.is_none() {
                        let (fa, fb) = (&mut xa[..m], &mut xb[..m]);
                        decode_block(DType::F32, ba, fa);
                        decode_block(DType::F32, bb, fb);
                        part = with_first_violation(part, &acc, fa, fb, at, o);
                    }
                    acc = acc.merge(part);
                    start += m;
                    continue;
                }
            }
        }
        let (pa, pb) = (&mut xa[..m], &mut xb[..m]);
        decode_block(da, &a[start * sa..(start + m) * sa], pa);
        decode_block(db, &b[start * sb..(start + m) * sb], pb);
        let all_finite = all_finite(pa) & all_finite(pb);
        let at = base + start as u64;
        if all_finite {
            block_finite(pa, pb, at, o, &mut acc);
        } else {
            block_mixed(pa, pb, at, o, &mut acc);
        }
        if let Some(u) = o.ulp {
            acc.max_ulp = acc.max_ulp.max(block_ulp(pa, pb, u));
        }
        start += m;
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn task_avx512(da: DType, a: &[u8], db: DType, b: &[u8], base: u64, o: &PassOptions) -> Acc {
    task_body(da, a, db, b, base, o)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn task_avx2(da: DType, a: &[u8], db: DType, b: &[u8], base: u64, o: &PassOptions) -> Acc {
    task_body(da, a, db, b, base, o)
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
}

fn task(da: DType, a: &[u8], db: DType, b: &[u8], base: u64, o: &PassOptions) -> Acc {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the CPU has these features, checked just above. FMA
            // is never contracted implicitly by Rust, so results are the
            // same on every path.
            return unsafe { task_avx512(da, a, db, b, base, o) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { task_avx2(da, a, db, b, base, o) };
        }
    }
    task_body(da, a, db, b, base, o)
}

/// Compare `numel` elements of `a` (dtype `da`) and `b` (dtype `db`), both
/// decodable real dtypes, reading each in windows. `progress` is called
/// with the elements done after each window.
pub fn float_pass(
    a: &mut dyn ChunkRead,
    da: DType,
    b: &mut dyn ChunkRead,
    db: DType,
    numel: u64,
    o: &PassOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Acc, crate::Error> {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let mut acc = Acc::EMPTY;
    let mut done: u64 = 0;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wa = a.next_chunk(w * sa)?;
        if wa.len() != w * sa {
            return Err(crate::Error::Short { side: 'A', got: done * sa as u64 + wa.len() as u64, want: numel * sa as u64 });
        }
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(crate::Error::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        let parts: Vec<Acc> = (0..w.div_ceil(TASK))
            .into_par_iter()
            .map(|t| {
                let (s, e) = (t * TASK, ((t + 1) * TASK).min(w));
                task(da, &wa[s * sa..e * sa], db, &wb[s * sb..e * sb], done + s as u64, o)
            })
            .collect();
        for p in parts {
            acc = acc.merge(p);
        }
        done += w as u64;
        progress(done);
    }
    Ok(acc)
}

/// The five sums of a float pass (`sum|d|`, `sum d*d`, `sum a*b`,
/// `sum a*a`, `sum b*b` over finite pairs), each exact and rounded once.
/// The slow, certain path, for when a fast sum is too close to a rounding
/// midpoint to be sure of its last bit.
pub fn exact_sums_pass(a: &mut dyn ChunkRead, da: DType, b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<[f64; 5], crate::Error> {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let mut sums: [ExactSum; 5] = Default::default();
    let mut done: u64 = 0;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wa = a.next_chunk(w * sa)?;
        if wa.len() != w * sa {
            return Err(crate::Error::Short { side: 'A', got: done * sa as u64 + wa.len() as u64, want: numel * sa as u64 });
        }
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(crate::Error::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        let parts: Vec<[ExactSum; 5]> = (0..w.div_ceil(TASK))
            .into_par_iter()
            .map(|t| {
                let (s, e) = (t * TASK, ((t + 1) * TASK).min(w));
                let mut out: [ExactSum; 5] = Default::default();
                let (mut xa, mut xb) = ([0f64; BLOCK], [0f64; BLOCK]);
                let mut i = s;
                while i < e {
                    let m = BLOCK.min(e - i);
                    decode_block(da, &wa[i * sa..(i + m) * sa], &mut xa[..m]);
                    decode_block(db, &wb[i * sb..(i + m) * sb], &mut xb[..m]);
                    for (&x, &y) in xa[..m].iter().zip(&xb[..m]) {
                        if x.is_finite() && y.is_finite() {
                            let d = x - y;
                            for (acc, v) in out.iter_mut().zip([d.abs(), d * d, x * y, x * x, y * y]) {
                                acc.add(v);
                            }
                        }
                    }
                    i += m;
                }
                out
            })
            .collect();
        for p in &parts {
            for (acc, q) in sums.iter_mut().zip(p) {
                acc.merge(q);
            }
        }
        done += w as u64;
    }
    Ok([sums[0].value(), sums[1].value(), sums[2].value(), sums[3].value(), sums[4].value()])
}

impl Acc {
    /// Whether every fast sum is certainly correctly rounded. The bound
    /// on a double-double sum's error: each of at most `count + 2^20`
    /// additions into `lo` errs by at most `2^-104` of the sum of the
    /// terms' magnitudes (the sum itself for the non-negative sums; for
    /// `sum a*b`, at most `sqrt(sum a*a) * sqrt(sum b*b)`).
    pub fn sums_certain(&self) -> bool {
        let k = (self.count as f64 + (1u64 << 20) as f64) * 2f64.powi(-104) * (1.0 + 2f64.powi(-40));
        let (aa, bb) = (self.sum_aa.value(), self.sum_bb.value());
        let dot_mag = aa.sqrt() * bb.sqrt();
        [(self.sum_abs, self.sum_abs.value()), (self.sum_sq, self.sum_sq.value()), (self.dot, dot_mag), (self.sum_aa, aa), (self.sum_bb, bb)]
            .iter()
            .all(|(d, mag)| d.certainly_rounded(k * mag.abs()))
    }

    /// The sum of squares and count of all finite B values, and whether
    /// that sum is certainly correctly rounded (same bound as
    /// [`Acc::sums_certain`]).
    pub fn reference_squares(&self) -> (f64, u64, bool) {
        let total = self.sum_bb.merge(self.extra_bb);
        let k = (self.count as f64 + (1u64 << 20) as f64) * 2f64.powi(-104) * (1.0 + 2f64.powi(-40));
        let v = total.value();
        (v, self.finite + self.extra_b, total.certainly_rounded(k * v.abs()))
    }

    /// Replace the five sums by exact ones.
    pub fn set_exact_sums(&mut self, s: [f64; 5]) {
        let dd = |v: f64| Dd { hi: v, lo: 0.0 };
        self.sum_abs = dd(s[0]);
        self.sum_sq = dd(s[1]);
        self.dot = dd(s[2]);
        self.sum_aa = dd(s[3]);
        self.sum_bb = dd(s[4]);
    }
}

/// Sum of squares and count of the finite values of one task.
#[inline(always)]
fn square_body(db: DType, c: &[u8], avx512: bool) -> (Dd, u64) {
    #[cfg(target_arch = "x86_64")]
    if avx512 && db == DType::F32 {
        // Whole blocks of BLOCK values, lanes merged per block as on the
        // portable path, so the result is the same bit for bit.
        let mut total = Dd::default();
        let mut cnt = 0u64;
        for blk in c.chunks(BLOCK * 4) {
            // SAFETY: `avx512` is true only when the CPU has AVX-512F and DQ.
            let (hi, lo, n) = unsafe { avx512::squares_f32(blk) };
            for l in 0..L {
                total = total.merge(Dd { hi: hi[l], lo: lo[l] });
            }
            cnt += n;
            for t in blk[blk.len() / 4 / L * L * 4..].chunks_exact(4) {
                let x = f32::from_le_bytes([t[0], t[1], t[2], t[3]]) as f64;
                if x.is_finite() {
                    total.add(x * x);
                    cnt += 1;
                }
            }
        }
        return (total, cnt);
    }
    let sb = db.size().unwrap_or(1);
    let mut buf = [0f64; BLOCK];
    let mut total = Dd::default();
    let mut cnt = 0u64;
    for blk in c.chunks(BLOCK * sb) {
        let m = blk.len() / sb;
        let xs = &mut buf[..m];
        decode_block(db, blk, xs);
        #[cfg(target_arch = "x86_64")]
        if avx512 {
            // SAFETY: `avx512` is true only when the CPU has AVX-512F and DQ.
            let (hi, lo, c) = unsafe { avx512::squares(xs) };
            for l in 0..L {
                total = total.merge(Dd { hi: hi[l], lo: lo[l] });
            }
            cnt += c;
            for &x in &xs[xs.len() / L * L..] {
                if x.is_finite() {
                    total.add(x * x);
                    cnt += 1;
                }
            }
            continue;
        }
        let (mut hi, mut lo, mut n) = ([0f64; L], [0f64; L], [0u64; L]);
        let chunks = xs.chunks_exact(L);
        let tail = chunks.remainder();
        for ch in chunks {
            let x = lanes(ch);
            let mut sq = [0f64; L];
            for l in 0..L {
                let ok = is_finite_bits(x[l]);
                sq[l] = if ok { x[l] * x[l] } else { 0.0 };
                n[l] += ok as u64;
            }
            two_sum_v(&mut hi, &mut lo, &sq);
        }
        for l in 0..L {
            total = total.merge(Dd { hi: hi[l], lo: lo[l] });
            cnt += n[l];
        }
        for &x in tail {
            if x.is_finite() {
                total.add(x * x);
                cnt += 1;
            }
        }
    }
    (total, cnt)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn square_avx512(db: DType, c: &[u8]) -> (Dd, u64) {
    square_body(db, c, true)
}

fn square_task(db: DType, c: &[u8]) -> (Dd, u64) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has these features (checked).
        return unsafe { square_avx512(db, c) };
    }
    square_body(db, c, false)
}

/// The largest magnitude of the finite values (for normwise errors).
pub fn max_abs_pass(b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<f64, crate::Error> {
    let sb = db.size().unwrap_or(1);
    let (mut max, mut done) = (0f64, 0u64);
    let mut buf = vec![0f64; BLOCK];
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(crate::Error::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        for blk in wb.chunks(BLOCK * sb) {
            let m = blk.len() / sb;
            decode_block(db, blk, &mut buf[..m]);
            max = buf[..m].iter().filter(|x| x.is_finite()).fold(max, |m, x| m.max(x.abs()));
        }
        done += w as u64;
    }
    Ok(max)
}

/// The exact sum of squares of the finite values (slow, certain).
pub fn exact_square_sum_pass(b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<f64, crate::Error> {
    let sb = db.size().unwrap_or(1);
    let mut sum = ExactSum::default();
    let mut done = 0u64;
    let mut buf = vec![0f64; BLOCK];
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(crate::Error::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        for blk in wb.chunks(BLOCK * sb) {
            let m = blk.len() / sb;
            decode_block(db, blk, &mut buf[..m]);
            for &x in &buf[..m] {
                if x.is_finite() {
                    sum.add(x * x);
                }
            }
        }
        done += w as u64;
    }
    Ok(sum.value())
}

/// The pre-pass over the reference: sum of squares and count of its finite
/// values.
pub fn square_sum_pass(b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<(Dd, u64), crate::Error> {
    let sb = db.size().unwrap_or(1);
    let (mut sum, mut n) = (Dd::default(), 0u64);
    let mut done = 0u64;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(crate::Error::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        let parts: Vec<(Dd, u64)> = wb.par_chunks(TASK * sb).map(|c| square_task(db, c)).collect();
        for (s, c) in parts {
            sum = sum.merge(s);
            n += c;
        }
        done += w as u64;
    }
    Ok((sum, n))
}

/// The first mismatch of an exact (integer) comparison.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Mismatch {
    pub index: u64,
    pub a: i128,
    pub b: i128,
}

/// Result of an exact comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExactAcc {
    pub count: u64,
    pub mismatches: u64,
    pub first: Option<Mismatch>,
    /// Largest |a - b| over mismatches.
    pub max_abs: u128,
}

/// Decode one integer or bool element.
#[inline(always)]
pub fn int_at(dtype: DType, c: &[u8]) -> i128 {
    match dtype {
        DType::Bool => (c[0] != 0) as i128,
        DType::U8 => c[0] as i128,
        DType::I8 => c[0] as i8 as i128,
        DType::U16 => u16::from_le_bytes([c[0], c[1]]) as i128,
        DType::I16 => i16::from_le_bytes([c[0], c[1]]) as i128,
        DType::U32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i128,
        DType::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i128,
        DType::U64 => u64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8])) as i128,
        DType::I64 => i64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8])) as i128,
        _ => 0,
    }
}

/// Compare integer tensors exactly, streaming.
pub fn exact_pass(a: &mut dyn ChunkRead, da: DType, b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<ExactAcc, crate::Error> {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let mut acc = ExactAcc::default();
    let mut done = 0u64;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wa = a.next_chunk(w * sa)?;
        if wa.len() != w * sa {
            return Err(crate::Error::Short { side: 'A', got: done * sa as u64 + wa.len() as u64, want: numel * sa as u64 });
        }
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(crate::Error::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        let parts: Vec<ExactAcc> = (0..w.div_ceil(TASK))
            .into_par_iter()
            .map(|t| {
                let (s, e) = (t * TASK, ((t + 1) * TASK).min(w));
                let mut p = ExactAcc { count: (e - s) as u64, ..Default::default() };
                for (j, (x, y)) in wa[s * sa..e * sa].chunks_exact(sa).zip(wb[s * sb..e * sb].chunks_exact(sb)).enumerate() {
                    let (x, y) = (int_at(da, x), int_at(db, y));
                    if x != y {
                        p.mismatches += 1;
                        p.max_abs = p.max_abs.max(x.abs_diff(y));
                        p.first.get_or_insert(Mismatch { index: done + (s + j) as u64, a: x, b: y });
                    }
                }
                p
            })
            .collect();
        for p in parts {
            acc.count += p.count;
            acc.mismatches += p.mismatches;
            acc.max_abs = acc.max_abs.max(p.max_abs);
            acc.first = acc.first.or(p.first);
        }
        done += w as u64;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlxport_tensor::stream::SliceChunks;
    use std::borrow::Cow;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn run(a: &[f32], b: &[f32], o: &PassOptions) -> Acc {
        let (ba, bb) = (bytes(a), bytes(b));
        let mut ra = SliceChunks::new(Cow::Borrowed(&ba[..]));
        let mut rb = SliceChunks::new(Cow::Borrowed(&bb[..]));
        float_pass(&mut ra, DType::F32, &mut rb, DType::F32, a.len() as u64, o, &mut |_| {}).unwrap()
    }

    #[test]
    fn matches_naive_definitions() {
        let n = 300_001;
        let a: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.37).sin()).collect();
        let mut b: Vec<f32> = a.iter().enumerate().map(|(i, &x)| x + ((i % 13) as f32 - 6.0) * 1e-6).collect();
        b[1234] = 2.0;
        let o = PassOptions::new(1e-5, 1e-5, 0.5, false, Some(DType::F32));
        let acc = run(&a, &b, &o);
        let (mut mx, mut mxi, mut sa) = (-1f64, 0, 0f64);
        let mut viol = 0;
        for i in 0..n {
            let d = (a[i] as f64 - b[i] as f64).abs();
            if d > mx {
                mx = d;
                mxi = i;
            }
            sa += d;
            viol += (d > 1e-5 + 1e-5 * (b[i] as f64).abs()) as u64;
        }
        assert_eq!((acc.max_abs, acc.max_abs_at), (mx, mxi as u64));
        assert!((acc.sum_abs.value() - sa).abs() <= 1e-9 * sa);
        assert_eq!(acc.violations, viol);
        assert_eq!(acc.count, n as u64);
        assert_eq!(acc.first_violation.map(|_| ()), Some(()));
    }

    #[test]
    fn exact_sum_rounds_once() {
        let mut e = ExactSum::default();
        for x in [1e100, 1.0, -1e100, 1e-100] {
            e.add(x);
        }
        assert_eq!(e.value(), 1.0);
        // 1 + 2^-53 + 2^-106: the tie is broken by the smallest partial.
        let mut e = ExactSum::default();
        for x in [1.0, 2f64.powi(-53), 2f64.powi(-106)] {
            e.add(x);
        }
        assert_eq!(e.value(), 1.0f64.next_up());
        let mut d = Dd::default();
        for x in [1.0, 2f64.powi(-53)] {
            d.add(x);
        }
        // Exactly on a midpoint: a double-double cannot vouch for its rounding.
        assert!(!d.certainly_rounded(2f64.powi(-150)));
        let mut d = Dd::default();
        d.add(1.0);
        d.add(0.25);
        assert!(d.certainly_rounded(1e-20));
    }

    #[test]
    fn nonfinite_and_equal_nan() {
        let a = [1.0, f32::NAN, f32::INFINITY, 0.0, f32::NAN];
        let b = [1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0];
        let mut o = PassOptions::new(0.0, 0.0, 1.0, false, None);
        let acc = run(&a, &b, &o);
        assert_eq!((acc.nan_a, acc.inf_a, acc.nan_b, acc.inf_b), (2, 1, 1, 2));
        assert_eq!((acc.first_nonfinite_a, acc.first_nonfinite_b), (Some(1), Some(1)));
        assert_eq!((acc.violations, acc.first_violation), (3, Some(1)));
        o.equal_nan = true;
        assert_eq!(run(&a, &b, &o).violations, 2);
    }

    #[test]
    fn ulp_distance() {
        let a = [1.0f32, -0.0, f32::MIN_POSITIVE];
        let b = [f32::from_bits(1.0f32.to_bits() + 3), 0.0, -f32::MIN_POSITIVE];
        let o = PassOptions::new(0.0, 0.0, 1.0, false, Some(DType::F32));
        assert_eq!(run(&a, &b, &o).max_ulp, 2 * (f32::MIN_POSITIVE.to_bits() as u64));
        assert_eq!(run(&a[..2], &b[..2], &o).max_ulp, 3);
    }

    #[test]
    fn vector_and_portable_paths_agree_bit_for_bit() {
        let n = 2 * TASK + 1000 + 3;
        let mut a: Vec<f32> = (0..n).map(|i| ((i * 7919 % 10007) as f32 - 5000.0) * 1e-3).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 104729 % 10007) as f32 - 5000.0) * 1e-3).collect();
        a[77] = f32::NAN;
        a[5000] = f32::INFINITY;
        a[70000] = 1e-42;
        for ulp in [None, Some(DType::F32)] {
            let mut o = PassOptions::new(1e-3, 1e-3, 0.5, false, ulp);
            o.avx512 = false;
            let portable = run(&a, &b, &o);
            o.avx512 = true;
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                let vector = run(&a, &b, &o);
                assert_eq!(format!("{portable:?}"), format!("{vector:?}"));
            }
            // Without the non-finite values, the fused f32 path runs too.
            let clean: Vec<f32> = a.iter().map(|x| if x.is_finite() { *x } else { 0.5 }).collect();
            o.avx512 = false;
            let portable = run(&clean, &b, &o);
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                o.avx512 = true;
                assert_eq!(format!("{portable:?}"), format!("{:?}", run(&clean, &b, &o)));
            }
        }
    }

    #[test]
    fn square_sum_paths_agree_bit_for_bit() {
        let v: Vec<f32> = (0..(3 * BLOCK + 13)).map(|i| if i == 100 { f32::NAN } else { (i as f32 * 0.7).sin() * 3.0 }).collect();
        let bytes = bytes(&v);
        let portable = square_body(DType::F32, &bytes, false);
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            assert_eq!(portable, square_body(DType::F32, &bytes, true));
            // The generic (decoded) vector path, through f16 values.
            let h: Vec<u8> = v.iter().flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes()).collect();
            assert_eq!(square_body(DType::F16, &h, false), square_body(DType::F16, &h, true));
        }
        assert_eq!(portable.1, v.len() as u64 - 1);
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let n = 3 * TASK + 77;
        let a: Vec<f32> = (0..n).map(|i| ((i * 7919 % 10007) as f32).ln_1p() * 1e3).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 104729 % 10007) as f32).ln_1p() * 1e3).collect();
        let o = PassOptions::new(1e-3, 1e-3, 1.0, false, None);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| run(&a, &b, &o));
        let many = rayon::ThreadPoolBuilder::new().num_threads(5).build().unwrap().install(|| run(&a, &b, &o));
        assert_eq!(format!("{one:?}"), format!("{many:?}"));
    }
}
