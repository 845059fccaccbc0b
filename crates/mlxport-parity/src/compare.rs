//! Comparing two tensor sources: matching names, then one pair at a time.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use mlxport_tensor::stream::{ChunkRead, SliceChunks};
use mlxport_tensor::{DType, Encoding, TensorInfo, TensorSource};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::logits::{logit_pass, LogitReport};
use crate::metrics::{exact_pass, exact_square_sum_pass, exact_sums_pass, float_pass, square_sum_pass, Acc, ExactAcc, Mismatch, PassOptions};
use crate::tolerance::{scale_of, Overrides, Rule, Tolerance};

/// How names of A become names of B.
#[derive(Clone, Debug, Default)]
pub enum NameMap {
    /// The same name on both sides.
    #[default]
    Same,
    /// An explicit table (names not in it keep their name).
    Table(BTreeMap<String, String>),
    /// Regular-expression rewrites, applied in order.
    Rename(Vec<(Regex, String)>),
}

impl NameMap {
    /// Parse a `names.json` table: `{"a_name": "b_name", ...}`.
    pub fn from_json(text: &str) -> Result<NameMap, crate::Error> {
        let t: BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| crate::Error::InvalidInput(format!("expected a JSON object of names to names: {e}")))?;
        Ok(NameMap::Table(t))
    }

    /// Parse `REGEX=REPL` (split at the last `=`; `$1`, `${name}` in REPL).
    pub fn rename_rule(spec: &str) -> Result<(Regex, String), crate::Error> {
        let (re, repl) = spec.rsplit_once('=').ok_or_else(|| crate::Error::InvalidInput(format!("--rename '{spec}': expected REGEX=REPLACEMENT")))?;
        let re = Regex::new(re).map_err(|e| crate::Error::InvalidInput(format!("--rename '{spec}': bad regular expression: {e}")))?;
        Ok((re, repl.to_string()))
    }

    /// The B name for an A name.
    pub fn map(&self, a: &str) -> String {
        match self {
            NameMap::Same => a.to_string(),
            NameMap::Table(t) => t.get(a).cloned().unwrap_or_else(|| a.to_string()),
            NameMap::Rename(rules) => {
                let mut s = a.to_string();
                for (re, repl) in rules {
                    s = re.replace_all(&s, repl.as_str()).into_owned();
                }
                s
            }
        }
    }
}

/// Everything that decides how pairs are compared.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub names: NameMap,
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
    /// Global overrides (the command's flags).
    pub global: Overrides,
    /// Per-tensor rules, later ones winning.
    pub rules: Vec<Rule>,
    /// Tensors to treat as logits; `None` = named like logits.
    pub logits: Option<Regex>,
    /// k of the top-k overlap.
    pub top_k: usize,
    /// Relative tolerances widened for some tensors, after every rule:
    /// (names, factor on rtol; the cosine's distance from 1 grows by its
    /// square). Rung 8's long input uses it, as float32
    /// position encodings lose precision in proportion to the position.
    pub rtol_scale: Vec<(Regex, f64)>,
}

impl Settings {
    fn selected(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name)) && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }

    /// Whether a tensor is compared as logits.
    pub fn is_logits(&self, name: &str, shape: &[u64]) -> bool {
        let marked = match &self.logits {
            Some(re) => re.is_match(name),
            None => name.rsplit(['.', '/']).next().unwrap_or(name).to_ascii_lowercase().contains("logits"),
        };
        marked && shape.last().is_some_and(|&v| v >= 2)
    }

    /// The tolerance of a pair before its reference's scale is known.
    pub fn tolerance(&self, name: &str, a: &Encoding, b: &Encoding, rung: Option<&Overrides>) -> Tolerance {
        let mut t = Tolerance::default_for(a, b);
        t.apply(&self.global);
        if let Some(r) = rung {
            t.apply(r);
        }
        for rule in &self.rules {
            if rule.pattern.is_match(name) {
                t.apply(&rule.overrides);
            }
        }
        for (re, factor) in &self.rtol_scale {
            if re.is_match(name) {
                // The cosine's distance from 1 is quadratic in the relative
                // error (1 - cos ~= e^2 / 2): it widens by the square.
                t.rtol *= factor;
                t.cosine_min = 1.0 - (1.0 - t.cosine_min) * factor * factor;
            }
        }
        t
    }
}

/// Names matched across the two sources.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Matching {
    /// (A name, B name), in A's order.
    pub pairs: Vec<(String, String)>,
    /// Selected names of A with no counterpart in B.
    pub unmatched_a: Vec<String>,
    /// Selected names of B that no name of A maps to.
    pub unmatched_b: Vec<String>,
}

/// Match names: each selected name of A, mapped, against B's names.
pub fn match_names(a: &dyn TensorSource, b: &dyn TensorSource, s: &Settings) -> Matching {
    let b_names: BTreeSet<&str> = b.tensors().iter().map(|t| t.name.as_str()).collect();
    let mut m = Matching::default();
    let mut used = BTreeSet::new();
    for t in a.tensors() {
        if !s.selected(&t.name) {
            continue;
        }
        let target = s.names.map(&t.name);
        if b_names.contains(target.as_str()) {
            used.insert(target.clone());
            m.pairs.push((t.name.clone(), target));
        } else {
            m.unmatched_a.push(t.name.clone());
        }
    }
    m.unmatched_b = b.tensors().iter().filter(|t| s.selected(&t.name) && !used.contains(&t.name)).map(|t| t.name.clone()).collect();
    m
}

/// An element position: flat and per axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub flat: u64,
    pub index: Vec<u64>,
}

impl Index {
    pub fn new(flat: u64, shape: &[u64]) -> Index {
        let mut index = vec![0; shape.len()];
        let mut r = flat;
        for (k, &d) in shape.iter().enumerate().rev() {
            if d > 0 {
                index[k] = r % d;
                r /= d;
            }
        }
        Index { flat, index }
    }
}

/// Non-finite values on one side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NonFinite {
    pub nan: u64,
    pub inf: u64,
    pub first: Option<Index>,
}

/// Element-wise metrics of a float pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatMetrics {
    pub count: u64,
    pub finite_pairs: u64,
    pub max_abs: Option<f64>,
    pub max_abs_at: Option<Index>,
    pub mean_abs: Option<f64>,
    pub rmse: Option<f64>,
    pub max_rel: Option<f64>,
    pub max_rel_at: Option<Index>,
    /// Floor of the relative error's denominator (the reference's scale).
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub rel_floor: f64,
    pub cosine: Option<f64>,
    /// Same float dtype on both sides only.
    pub max_ulp: Option<u64>,
    pub nonfinite_a: NonFinite,
    pub nonfinite_b: NonFinite,
    pub allclose: AllClose,
    /// Normwise relative error `||a - b||_2 / ||b||_2` (normwise gate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_l2: Option<f64>,
    /// Normwise relative error `max |a - b| / max |b|` (normwise gate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_linf: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllClose {
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub atol: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub rtol: f64,
    pub equal_nan: bool,
    pub violations: u64,
    pub first_violation: Option<Index>,
}

/// Exact comparison of an integer pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactMetrics {
    pub count: u64,
    pub mismatches: u64,
    pub first_mismatch: Option<ExactMismatch>,
    /// Largest |a - b| over mismatches (as text: it may exceed 2^64).
    pub max_abs: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactMismatch {
    pub at: Index,
    /// Values as text (integers up to 128 bits).
    pub a: String,
    pub b: String,
}

/// Pass, fail, or could not be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
}

impl Status {
    /// The string the reports write.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// One compared pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairReport {
    pub name: String,
    /// B's name when it differs from A's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_b: Option<String>,
    pub status: Status,
    pub dtype_a: String,
    pub dtype_b: String,
    pub shape_a: Vec<u64>,
    pub shape_b: Vec<u64>,
    pub tolerance: Tolerance,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float: Option<FloatMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<ExactMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logits: Option<LogitReport>,
    /// Why it failed (or could not be compared), one line each.
    pub failures: Vec<String>,
    /// Facts worth knowing that are not failures (dtype differences...).
    pub notes: Vec<String>,
}

impl PairReport {
    /// The pair's worst absolute error, for summaries and charts.
    pub fn max_abs(&self) -> Option<f64> {
        match (&self.float, &self.exact) {
            (Some(f), _) => f.max_abs,
            (_, Some(e)) => e.max_abs.parse().ok(),
            _ => None,
        }
    }
    pub fn cosine(&self) -> Option<f64> {
        self.float.as_ref().and_then(|f| f.cosine)
    }
    /// NaN or Inf seen on either side.
    pub fn nonfinite(&self) -> u64 {
        self.float.as_ref().map(|f| f.nonfinite_a.nan + f.nonfinite_a.inf + f.nonfinite_b.nan + f.nonfinite_b.inf).unwrap_or(0)
    }
    pub fn shape_mismatch(&self) -> bool {
        self.shape_a != self.shape_b
    }
}

/// A tensor's bytes as a reader of one decodable dtype: dense tensors as
/// stored; block-quantized ones dequantized to f32; others (complex,
/// packed sub-byte floats) as raw bytes.
fn reader<'s>(src: &'s dyn TensorSource, t: &TensorInfo) -> mlxport_tensor::Result<(Box<dyn ChunkRead + 's>, DType, u64)> {
    match &t.encoding {
        Encoding::Dense(d) if d.is_decodable() => Ok((src.chunks(&t.name)?, *d, t.numel())),
        Encoding::Dense(_) => Ok((src.chunks(&t.name)?, DType::U8, t.nbytes)),
        Encoding::Ggml { .. } => {
            let v = src.read_f32(&t.name)?;
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Ok((Box::new(SliceChunks::new(Cow::Owned(bytes))), DType::F32, t.numel()))
        }
    }
}

fn effective_dtype(t: &TensorInfo) -> DType {
    match &t.encoding {
        Encoding::Dense(d) if d.is_decodable() => *d,
        Encoding::Dense(_) => DType::U8,
        Encoding::Ggml { .. } => DType::F32,
    }
}

fn pass_error(src_a: &dyn TensorSource, src_b: &dyn TensorSource, a: &TensorInfo, b: &TensorInfo, e: crate::Error) -> mlxport_tensor::Error {
    match e {
        crate::Error::Read(e) => e,
        crate::Error::Short { side, got, want } => {
            let (src, t) = if side == 'A' { (src_a, a) } else { (src_b, b) };
            let _ = src;
            mlxport_tensor::Error::tensor(&t.file, &t.name, format!("data ended after {got} of {want} bytes"))
        }
        other => mlxport_tensor::Error::tensor(&a.file, &a.name, other.to_string()),
    }
}

/// Compare one pair. Errors reading either side are returned (they name
/// the file and tensor); everything else is in the report.
pub fn compare_pair(
    src_a: &dyn TensorSource,
    src_b: &dyn TensorSource,
    name_a: &str,
    name_b: &str,
    settings: &Settings,
    rung: Option<&Overrides>,
    progress: &mut dyn FnMut(u64),
) -> mlxport_tensor::Result<PairReport> {
    let a = src_a.info(name_a)?.clone();
    let b = src_b.info(name_b)?.clone();
    let mut tol = settings.tolerance(name_a, &a.encoding, &b.encoding, rung);
    let mut r = PairReport {
        name: name_a.to_string(),
        name_b: (name_a != name_b).then(|| name_b.to_string()),
        status: Status::Pass,
        dtype_a: a.encoding.to_string(),
        dtype_b: b.encoding.to_string(),
        shape_a: a.shape.clone(),
        shape_b: b.shape.clone(),
        tolerance: tol.clone(),
        float: None,
        exact: None,
        logits: None,
        failures: Vec::new(),
        notes: Vec::new(),
    };
    if a.encoding != b.encoding {
        r.notes.push(format!("dtypes differ: A is {}, B is {}", a.encoding, b.encoding));
    }
    if a.shape != b.shape {
        r.status = Status::Fail;
        r.failures.push(format!("shape mismatch: A {:?}, B {:?}", a.shape, b.shape));
        return Ok(r);
    }
    let (da, db) = (effective_dtype(&a), effective_dtype(&b));
    let raw_a = matches!(&a.encoding, Encoding::Dense(d) if !d.is_decodable());
    let raw_b = matches!(&b.encoding, Encoding::Dense(d) if !d.is_decodable());
    if raw_a || raw_b {
        if a.encoding != b.encoding {
            r.status = Status::Error;
            r.failures.push(format!("cannot compare {} with {}: values of this dtype are not decoded here", a.encoding, b.encoding));
            return Ok(r);
        }
        r.notes.push(format!("{} is compared byte for byte", a.encoding));
    }
    let numel = a.numel();
    let integers = da.is_integer() && db.is_integer();
    if integers || raw_a {
        let (mut ra, _, n) = reader(src_a, &a)?;
        let (mut rb, _, _) = reader(src_b, &b)?;
        let acc = exact_pass(ra.as_mut(), da, rb.as_mut(), db, n).map_err(|e| pass_error(src_a, src_b, &a, &b, e))?;
        progress(numel);
        let ExactAcc { count, mismatches, first, max_abs } = acc;
        let shape = if raw_a { vec![a.nbytes] } else { a.shape.clone() };
        r.exact = Some(ExactMetrics {
            count,
            mismatches,
            first_mismatch: first.map(|Mismatch { index, a, b }| ExactMismatch { at: Index::new(index, &shape), a: a.to_string(), b: b.to_string() }),
            max_abs: max_abs.to_string(),
        });
        r.tolerance.rtol = 0.0;
        r.tolerance.atol = Some(0.0);
        if mismatches > 0 {
            r.status = Status::Fail;
            let f = first.unwrap_or(Mismatch { index: 0, a: 0, b: 0 });
            r.failures.push(format!(
                "exact: {mismatches} of {count} elements differ; first at {:?}: A {} vs B {}",
                Index::new(f.index, &shape).index,
                f.a,
                f.b
            ));
        }
        return Ok(r);
    }
    // The reference's scale (the power of two nearest the RMS of B's
    // finite values) sets the relative error's floor and the default
    // atol. One pass computes it along with everything else, starting from
    // a guess taken from B's first window; if the guess proves wrong, the
    // pass runs again with the right scale. Either way the result is as if
    // the scale had been known from the start.
    let ulp = (da == db && matches!(da, DType::F32 | DType::F16 | DType::BF16 | DType::F64) && a.encoding == b.encoding).then_some(da);
    let guess = {
        let (mut rb, _, _) = reader(src_b, &b)?;
        let head = numel.min(crate::metrics::WINDOW as u64);
        let (s, n) = square_sum_pass(rb.as_mut(), db, head).map_err(|e| pass_error(src_a, src_b, &a, &b, e))?;
        scale_of(if n > 0 { (s.value() / n as f64).sqrt() } else { 0.0 })
    };
    let user_atol = tol.atol;
    let options = |scale: f64| {
        let floor = if scale > 0.0 { scale } else { f64::MIN_POSITIVE };
        PassOptions::new(user_atol.unwrap_or(tol.rtol * scale), tol.rtol, floor, tol.equal_nan, ulp)
    };
    let run_pass = |o: &PassOptions, progress: &mut dyn FnMut(u64)| -> mlxport_tensor::Result<Acc> {
        let (mut ra, _, _) = reader(src_a, &a)?;
        let (mut rb, _, _) = reader(src_b, &b)?;
        float_pass(ra.as_mut(), da, rb.as_mut(), db, numel, o, progress).map_err(|e| pass_error(src_a, src_b, &a, &b, e))
    };
    let mut o = options(guess);
    let mut acc = run_pass(&o, progress)?;
    let (mut sum_sq_b, n_b, certain) = acc.reference_squares();
    if !certain {
        let (mut rb, _, _) = reader(src_b, &b)?;
        sum_sq_b = exact_square_sum_pass(rb.as_mut(), db, numel).map_err(|e| pass_error(src_a, src_b, &a, &b, e))?;
    }
    let scale = scale_of(if n_b > 0 { (sum_sq_b / n_b as f64).sqrt() } else { 0.0 });
    if scale != guess {
        o = options(scale);
        acc = run_pass(&o, progress)?;
    }
    let (floor, atol) = (o.floor, o.atol);
    tol.atol = Some(atol);
    r.tolerance = tol.clone();
    if !acc.sums_certain() {
        // A sum lies too close to a rounding midpoint to trust its last
        // bit: recompute the sums exactly (rare; slow but certain).
        let (mut ra, _, _) = reader(src_a, &a)?;
        let (mut rb, _, _) = reader(src_b, &b)?;
        let exact = exact_sums_pass(ra.as_mut(), da, rb.as_mut(), db, numel).map_err(|e| pass_error(src_a, src_b, &a, &b, e))?;
        acc.set_exact_sums(exact);
        r.notes.push("sums recomputed exactly (a fast sum was within its error bound of a rounding midpoint)".into());
    }
    let mut m = float_metrics(&acc, &a.shape, floor, &o);
    if tol.normwise && m.finite_pairs > 0 {
        let (mut rb, _, _) = reader(src_b, &b)?;
        let max_b = crate::metrics::max_abs_pass(rb.as_mut(), db, numel).map_err(|e| pass_error(src_a, src_b, &a, &b, e))?;
        let ratio = |num: f64, den: f64| {
            if den > 0.0 {
                num / den
            } else if num == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        };
        let (l2, linf) = (ratio(acc.sum_sq.value().sqrt(), acc.sum_bb.value().sqrt()), ratio(m.max_abs.unwrap_or(0.0), max_b));
        m.rel_l2 = Some(l2);
        m.rel_linf = Some(linf);
        if l2.is_nan() || l2 > tol.rtol {
            r.failures.push(format!("normwise relative error ||A-B||/||B|| {l2:.3e} above rtol {:.3e}", tol.rtol));
        }
        if linf.is_nan() || linf > tol.rtol {
            r.failures.push(format!("normwise relative error max|A-B|/max|B| {linf:.3e} above rtol {:.3e}", tol.rtol));
        }
    } else if m.allclose.violations > 0 {
        let at = m.allclose.first_violation.as_ref().map(|i| format!("{:?}", i.index)).unwrap_or_default();
        r.failures.push(format!(
            "allclose: {} of {} elements exceed atol {:.3e} + rtol {:.3e} * |B|; first at {at}; max abs error {}",
            m.allclose.violations,
            m.count,
            atol,
            tol.rtol,
            m.max_abs.map(|x| format!("{x:.3e}")).unwrap_or("-".into())
        ));
    }
    if let Some(c) = m.cosine {
        if c.is_nan() || c < tol.cosine_min {
            // Near 1 a cosine is shown as 1 - x so that a bound such as
            // 1 - 3e-10 stays readable.
            let show = |v: f64| if v > 0.999 && v < 1.0 { format!("1 - {:.3e}", 1.0 - v) } else { format!("{v:.9}") };
            r.failures.push(format!("cosine {} below {}", show(c), show(tol.cosine_min)));
        }
    }
    if let (Some(limit), Some(u)) = (tol.ulp, m.max_ulp) {
        if u > limit {
            r.failures.push(format!("max ULP distance {u} above {limit}"));
        }
    }
    if m.nonfinite_a.nan + m.nonfinite_a.inf + m.nonfinite_b.nan + m.nonfinite_b.inf > 0 {
        r.notes
            .push(format!("non-finite values: A {} NaN, {} Inf; B {} NaN, {} Inf", m.nonfinite_a.nan, m.nonfinite_a.inf, m.nonfinite_b.nan, m.nonfinite_b.inf));
    }
    if ulp.is_none() && tol.ulp.is_some() {
        r.notes.push("ULP distance is measured only when both sides have the same float dtype".into());
    }
    r.float = Some(m);
    let vocab = *a.shape.last().unwrap_or(&1);
    if settings.is_logits(name_a, &a.shape) && vocab > crate::logits::MAX_VOCAB {
        r.notes.push(format!("not compared as logits: a last axis of {vocab} is longer than {} entries", crate::logits::MAX_VOCAB));
    } else if settings.is_logits(name_a, &a.shape) {
        let (mut ra, _, _) = reader(src_a, &a)?;
        let (mut rb, _, _) = reader(src_b, &b)?;
        let l = logit_pass(ra.as_mut(), da, rb.as_mut(), db, numel, vocab, settings.top_k.max(1)).map_err(|e| pass_error(src_a, src_b, &a, &b, e))?;
        if let Some(min) = tol.top1_min {
            if l.top1_agreement < min {
                r.failures.push(format!("logits: top-1 agreement {:.4} below {min}", l.top1_agreement));
            }
        }
        if let Some(max) = tol.kl_max {
            let worst = l.kl_ab_mean.unwrap_or(f64::INFINITY).max(l.kl_ba_mean.unwrap_or(f64::INFINITY));
            if worst.is_nan() || worst > max {
                r.failures.push(format!("logits: mean KL divergence {worst:.3e} above {max}"));
            }
        }
        r.logits = Some(l);
    }
    if !r.failures.is_empty() {
        r.status = Status::Fail;
    }
    Ok(r)
}

/// `dot / sqrt(aa * bb)` (so identical tensors give exactly 1), or
/// `dot / (sqrt(aa) * sqrt(bb))` when `aa * bb` over- or underflows;
/// clamped to [-1, 1].
pub fn cosine_of(dot: f64, aa: f64, bb: f64) -> f64 {
    let p = aa * bb;
    let c = if p.is_finite() && p > 0.0 { dot / p.sqrt() } else { dot / (aa.sqrt() * bb.sqrt()) };
    c.clamp(-1.0, 1.0)
}

/// Turn a pass's accumulator into reported metrics.
pub fn float_metrics(acc: &Acc, shape: &[u64], floor: f64, o: &PassOptions) -> FloatMetrics {
    let n = acc.finite;
    let some = |x: f64| (n > 0).then_some(x);
    let (aa, bb) = (acc.sum_aa.value(), acc.sum_bb.value());
    let cosine = if aa == 0.0 && bb == 0.0 {
        1.0
    } else if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        cosine_of(acc.dot.value(), aa, bb)
    };
    FloatMetrics {
        count: acc.count,
        finite_pairs: n,
        max_abs: some(acc.max_abs),
        max_abs_at: (n > 0).then(|| Index::new(acc.max_abs_at, shape)),
        mean_abs: some(acc.sum_abs.value() / n as f64),
        rmse: some((acc.sum_sq.value() / n as f64).sqrt()),
        max_rel: some(acc.max_rel),
        max_rel_at: (n > 0).then(|| Index::new(acc.max_rel_at, shape)),
        rel_floor: floor,
        cosine: some(cosine),
        max_ulp: o.ulp.map(|_| acc.max_ulp),
        nonfinite_a: NonFinite { nan: acc.nan_a, inf: acc.inf_a, first: acc.first_nonfinite_a.map(|i| Index::new(i, shape)) },
        nonfinite_b: NonFinite { nan: acc.nan_b, inf: acc.inf_b, first: acc.first_nonfinite_b.map(|i| Index::new(i, shape)) },
        allclose: AllClose {
            atol: o.atol,
            rtol: o.rtol,
            equal_nan: o.equal_nan,
            violations: acc.violations,
            first_violation: acc.first_violation.map(|i| Index::new(i, shape)),
        },
        rel_l2: None,
        rel_linf: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_tolerance_widens_rtol_by_the_factor_and_the_cosine_by_its_square() {
        let f32 = Encoding::Dense(DType::F32);
        let mut s = Settings { rules: vec![Rule::parse(".=cosine:0.9999999997").unwrap()], ..Settings::default() };
        s.rtol_scale.push((Regex::new(r"^edges\.long\.").unwrap(), 8.0));
        let plain = s.tolerance("edges.batch3.hidden", &f32, &f32, None);
        let long = s.tolerance("edges.long.prefill.logits", &f32, &f32, None);
        assert!((long.rtol / plain.rtol - 8.0).abs() < 1e-12);
        assert!(((1.0 - long.cosine_min) / (1.0 - plain.cosine_min) - 64.0).abs() < 1e-6);
        assert!((1.0 - plain.cosine_min - 3e-10).abs() < 1e-15);
    }
}
