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
//! - `max_rel = max |d| / max(|b|, floor)` with `floor = scale`, the
//!   largest power of two not above the RMS of the finite `b` (a pre-pass
//!   over the reference; `f64::MIN_POSITIVE` when that is 0): an element
//!   near zero is measured against the tensor's typical size;
//! - `cosine = sum(a*b) / (sqrt(sum a*a) * sqrt(sum b*b))` (1 when both
//!   are all zero, 0 when one is);
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

#[inline(always)]
fn is_finite_bits(x: f64) -> bool {
    (x.to_bits() & 0x7ff0_0000_0000_0000) != 0x7ff0_0000_0000_0000
}

/// One block of finite pairs, lane-parallel (vectorised by the compiler).
#[inline(always)]
fn block_finite(a: &[f64], b: &[f64], base: u64, o: &PassOptions, acc: &mut Acc) {
    const L: usize = 8;
    let mut hi = [[0f64; L]; 5];
    let mut lo = [[0f64; L]; 5];
    let mut mx = [-1f64; L];
    let mut mxi = [0u64; L];
    let mut mr = [-1f64; L];
    let mut mri = [0u64; L];
    let mut viol = [0u64; L];
    let (atol, rtol, floor) = (o.atol, o.rtol, o.floor);
    let ca = a.chunks_exact(L);
    let cb = b.chunks_exact(L);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (k, (xa, xb)) in ca.zip(cb).enumerate() {
        let i0 = base + (k * L) as u64;
        for l in 0..L {
            let (x, y) = (xa[l], xb[l]);
            let d = x - y;
            let ad = d.abs();
            let ay = y.abs();
            two_sum(&mut hi[0][l], &mut lo[0][l], ad);
            two_sum(&mut hi[1][l], &mut lo[1][l], d * d);
            two_sum(&mut hi[2][l], &mut lo[2][l], x * y);
            two_sum(&mut hi[3][l], &mut lo[3][l], x * x);
            two_sum(&mut hi[4][l], &mut lo[4][l], y * y);
            let i = i0 + l as u64;
            let better = ad > mx[l];
            mx[l] = if better { ad } else { mx[l] };
            mxi[l] = if better { i } else { mxi[l] };
            let r = ad / if ay > floor { ay } else { floor };
            let better = r > mr[l];
            mr[l] = if better { r } else { mr[l] };
            mri[l] = if better { i } else { mri[l] };
            viol[l] += (ad > atol + rtol * ay) as u64;
        }
    }
    let mut part = Acc::EMPTY;
    for l in 0..L {
        part.sum_abs = part.sum_abs.merge(Dd { hi: hi[0][l], lo: lo[0][l] });
        part.sum_sq = part.sum_sq.merge(Dd { hi: hi[1][l], lo: lo[1][l] });
        part.dot = part.dot.merge(Dd { hi: hi[2][l], lo: lo[2][l] });
        part.sum_aa = part.sum_aa.merge(Dd { hi: hi[3][l], lo: lo[3][l] });
        part.sum_bb = part.sum_bb.merge(Dd { hi: hi[4][l], lo: lo[4][l] });
        (part.max_abs, part.max_abs_at) = pick_max(part.max_abs, part.max_abs_at, mx[l], mxi[l]);
        (part.max_rel, part.max_rel_at) = pick_max(part.max_rel, part.max_rel_at, mr[l], mri[l]);
        part.violations += viol[l];
    }
    let t0 = base + (a.len() - ta.len()) as u64;
    for (j, (&x, &y)) in ta.iter().zip(tb).enumerate() {
        finite_pair(&mut part, x, y, t0 + j as u64, o);
    }
    part.count = a.len() as u64;
    part.finite = a.len() as u64;
    if part.violations > 0 && acc.first_violation.is_none() {
        part.first_violation = a.iter().zip(b).position(|(&x, &y)| (x - y).abs() > atol + rtol * y.abs()).map(|p| base + p as u64);
    }
    *acc = acc.merge(part);
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

/// Values ordered like their bit patterns' float order (for ULP distance).
#[inline(always)]
fn ordered(bits: u64, sign: u64) -> i128 {
    if bits & sign != 0 {
        -((bits & !sign) as i128)
    } else {
        bits as i128
    }
}

/// The largest ULP distance over the finite pairs of a block.
fn block_ulp(a: &[f64], b: &[f64], dtype: DType) -> u64 {
    let (bits, sign): (fn(f64) -> u64, u64) = match dtype {
        DType::F32 => (|x| (x as f32).to_bits() as u64, 1 << 31),
        DType::F64 => (|x| x.to_bits(), 1 << 63),
        DType::F16 => (|x| half::f16::from_f64(x).to_bits() as u64, 1 << 15),
        DType::BF16 => (|x| ((x as f32).to_bits() >> 16) as u64, 1 << 15),
        _ => return 0,
    };
    let mut m = 0u64;
    for (&x, &y) in a.iter().zip(b) {
        if is_finite_bits(x) && is_finite_bits(y) {
            let d = (ordered(bits(x), sign) - ordered(bits(y), sign)).unsigned_abs() as u64;
            m = m.max(d);
        }
    }
    m
}

/// Decode little-endian elements to f64 (exact for every real dtype).
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
    while start < n {
        let m = BLOCK.min(n - start);
        let (pa, pb) = (&mut xa[..m], &mut xb[..m]);
        decode_block(da, &a[start * sa..(start + m) * sa], pa);
        decode_block(db, &b[start * sb..(start + m) * sb], pb);
        let all_finite = pa.iter().chain(pb.iter()).fold(true, |ok, &x| ok & is_finite_bits(x));
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

fn task(da: DType, a: &[u8], db: DType, b: &[u8], base: u64, o: &PassOptions) -> Acc {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("fma")
        {
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

/// Why a streaming pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("{0}")]
    Read(#[from] mlxport_tensor::Error),
    #[error("side {side} ended after {got} of {want} bytes")]
    Short { side: char, got: u64, want: u64 },
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
) -> Result<Acc, PassError> {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let mut acc = Acc::EMPTY;
    let mut done: u64 = 0;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wa = a.next_chunk(w * sa)?;
        if wa.len() != w * sa {
            return Err(PassError::Short { side: 'A', got: done * sa as u64 + wa.len() as u64, want: numel * sa as u64 });
        }
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(PassError::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
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
pub fn exact_sums_pass(a: &mut dyn ChunkRead, da: DType, b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<[f64; 5], PassError> {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let mut sums: [ExactSum; 5] = Default::default();
    let mut done: u64 = 0;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wa = a.next_chunk(w * sa)?;
        if wa.len() != w * sa {
            return Err(PassError::Short { side: 'A', got: done * sa as u64 + wa.len() as u64, want: numel * sa as u64 });
        }
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(PassError::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
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

/// The pre-pass over the reference: sum of squares and count of its finite
/// values.
pub fn square_sum_pass(b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<(Dd, u64), PassError> {
    let sb = db.size().unwrap_or(1);
    let (mut sum, mut n) = (Dd::default(), 0u64);
    let mut done = 0u64;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(PassError::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
        }
        let parts: Vec<(Dd, u64)> = wb
            .par_chunks(TASK * sb)
            .map(|c| {
                let mut buf = [0f64; BLOCK];
                let mut lanes = [Dd::default(); 8];
                let mut cnt = 0u64;
                for blk in c.chunks(BLOCK * sb) {
                    let m = blk.len() / sb;
                    decode_block(db, blk, &mut buf[..m]);
                    for (j, &x) in buf[..m].iter().enumerate() {
                        let ok = is_finite_bits(x);
                        lanes[j % 8].add(if ok { x * x } else { 0.0 });
                        cnt += ok as u64;
                    }
                }
                (lanes.iter().fold(Dd::default(), |s, &l| s.merge(l)), cnt)
            })
            .collect();
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
pub fn exact_pass(a: &mut dyn ChunkRead, da: DType, b: &mut dyn ChunkRead, db: DType, numel: u64) -> Result<ExactAcc, PassError> {
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let mut acc = ExactAcc::default();
    let mut done = 0u64;
    while done < numel {
        let w = (WINDOW as u64).min(numel - done) as usize;
        let wa = a.next_chunk(w * sa)?;
        if wa.len() != w * sa {
            return Err(PassError::Short { side: 'A', got: done * sa as u64 + wa.len() as u64, want: numel * sa as u64 });
        }
        let wb = b.next_chunk(w * sb)?;
        if wb.len() != w * sb {
            return Err(PassError::Short { side: 'B', got: done * sb as u64 + wb.len() as u64, want: numel * sb as u64 });
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
        let o = PassOptions { atol: 1e-5, rtol: 1e-5, floor: 0.5, equal_nan: false, ulp: Some(DType::F32) };
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
        let mut o = PassOptions { atol: 0.0, rtol: 0.0, floor: 1.0, equal_nan: false, ulp: None };
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
        let o = PassOptions { atol: 0.0, rtol: 0.0, floor: 1.0, equal_nan: false, ulp: Some(DType::F32) };
        assert_eq!(run(&a, &b, &o).max_ulp, 2 * (f32::MIN_POSITIVE.to_bits() as u64));
        assert_eq!(run(&a[..2], &b[..2], &o).max_ulp, 3);
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let n = 3 * TASK + 77;
        let a: Vec<f32> = (0..n).map(|i| ((i * 7919 % 10007) as f32).ln_1p() * 1e3).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 104729 % 10007) as f32).ln_1p() * 1e3).collect();
        let o = PassOptions { atol: 1e-3, rtol: 1e-3, floor: 1.0, equal_nan: false, ulp: None };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| run(&a, &b, &o));
        let many = rayon::ThreadPoolBuilder::new().num_threads(5).build().unwrap().install(|| run(&a, &b, &o));
        assert_eq!(format!("{one:?}"), format!("{many:?}"));
    }
}
