//! Property tests against the real `mx.quantize` / `mx.dequantize` (MLX's
//! CPU backend): random and adversarial inputs in every mode, bit width,
//! group size and input dtype; `w_q`, scales, biases and every dequantized
//! output dtype must equal MLX's bit for bit, and the error figures must
//! match a numpy computation. All cases go to one Python process.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use mlxport_testkit::rng::Rng;
use mlxport_testkit::Py;

use mlxport_quant::{dequantize, dequantize_nvfp4_global, error_stats, quantize, quantize_nvfp4_global, Mode, Params, Quantized};
use mlxport_tensor::DType;

const SEED: u64 = 0x6d6c_7870_6f72_7406;
const DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// Group kinds: what a group of the generated tensors looks like.
const KINDS: [&str; 12] =
    ["scale_edge", "normal", "uniform", "affine_ties", "fp_ties", "all_negative", "constant", "tiny_range", "huge", "subnormal", "zeros", "outlier"];

fn dtype_max(dt: DType) -> f64 {
    match dt {
        DType::F16 => 65504.0,
        DType::BF16 => bf16::MAX.to_f64(),
        _ => f32::MAX as f64,
    }
}

fn group_values(rng: &mut Rng, kind: &str, gs: usize, dt: DType, p: &Params) -> Vec<f64> {
    let mut v = vec![0f64; gs];
    match kind {
        "scale_edge" => {
            // amax a few units in the last place around maxval * 2^k, so the
            // E8M0 exponent sits on a power-of-two boundary
            let maxval = if p.bits == 8 { 448.0 } else { 6.0 };
            let ulp = match dt {
                DType::F16 => 2f64.powi(-10),
                DType::BF16 => 2f64.powi(-7),
                _ => 2f64.powi(-23),
            };
            let k = rng.below(40) as i32 - 20;
            let j = rng.below(5) as f64 - 2.0;
            let amax = maxval * 2f64.powi(k) * (1.0 + j * ulp);
            v.iter_mut().for_each(|x| *x = rng.uniform(-amax, amax));
            v[rng.below(gs)] = if rng.below(2) == 1 { amax } else { -amax };
        }
        "normal" => {
            let s = 10f64.powf(rng.uniform(-3.0, 2.0));
            v.iter_mut().for_each(|x| *x = rng.normal() * s);
        }
        "uniform" => {
            let a = 10f64.powf(rng.uniform(-2.0, 1.0));
            let c = rng.uniform(-a, a);
            v.iter_mut().for_each(|x| *x = c + rng.uniform(-a, a));
        }
        "affine_ties" => {
            // min 0, max n*s with s a power of two: (w - bias)/s lands on k + 0.5
            let n = ((1u32 << p.bits) - 1) as f64;
            let s = 2f64.powi(-(rng.below(7) as i32));
            let max = n * s;
            for (i, x) in v.iter_mut().enumerate() {
                *x = match i {
                    0 => 0.0,
                    1 => max,
                    _ => max - (rng.below(n.max(1.0) as usize) as f64 + 0.5) * s,
                };
            }
            if rng.below(2) == 1 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
        }
        "fp_ties" => {
            // midpoints between FP4 values and between E4M3 values, at a
            // power-of-two scale so the divided values are exact
            let e = rng.below(9) as i32 - 4;
            let sc = 2f64.powi(e);
            let fp4_mid = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 0.5, 1.0, 3.0];
            for (i, x) in v.iter_mut().enumerate() {
                let m = if i == 0 {
                    if p.bits == 8 {
                        448.0
                    } else {
                        6.0
                    }
                } else if p.bits == 8 {
                    let k = rng.below(8) as i32;
                    (1.0 + (2 * rng.below(8) + 1) as f64 / 16.0) * 2f64.powi(k - 2)
                } else {
                    fp4_mid[rng.below(fp4_mid.len())]
                };
                *x = if rng.below(2) == 1 { -m * sc } else { m * sc };
            }
        }
        "all_negative" => {
            let s = 10f64.powf(rng.uniform(-2.0, 1.0));
            v.iter_mut().for_each(|x| *x = -rng.uniform(1.0, 5.0) * s);
        }
        "constant" => {
            let c = [0.0, 1.5, -2.25, 1e-3, -7.0, rng.normal()][rng.below(6)];
            v.iter_mut().for_each(|x| *x = c);
        }
        "tiny_range" => {
            let base = [0.0, 1e-6, -3e-7, 0.5, 1e-7][rng.below(5)];
            let r = [1e-7, 5e-8, 2e-7][rng.below(3)];
            v.iter_mut().for_each(|x| *x = base + rng.uniform(0.0, r));
        }
        "huge" => {
            let m = dtype_max(dt);
            let top = if rng.below(2) == 1 { m } else { m.min(1e30) };
            v.iter_mut().for_each(|x| *x = rng.uniform(-1.0, 1.0) * top);
            v[rng.below(gs)] = if rng.below(2) == 1 { m } else { -m };
        }
        "subnormal" => {
            let s = match dt {
                DType::F16 => 3e-6,
                _ => 1e-40,
            };
            v.iter_mut().for_each(|x| *x = rng.normal() * s);
        }
        "zeros" => {
            v.iter_mut().for_each(|x| *x = if rng.below(3) == 0 { -0.0 } else { 0.0 });
        }
        "outlier" => {
            v.iter_mut().for_each(|x| *x = rng.normal() * 0.02);
            v[rng.below(gs)] = rng.normal() * 20.0;
        }
        _ => unreachable!(),
    }
    v
}

/// Encode as raw little-endian bytes of `dt` (rounding to nearest even,
/// keeping values finite).
fn encode(values: &[f64], dt: DType) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for &x in values {
        let f = x as f32;
        let f = if f.is_finite() { f } else { f32::MAX.copysign(f) };
        match dt {
            DType::F32 => out.extend_from_slice(&f.to_le_bytes()),
            DType::F16 => {
                let h = f16::from_f32(f);
                let h = if h.is_finite() { h } else { f16::MAX.copysign(h) };
                out.extend_from_slice(&h.to_bits().to_le_bytes());
            }
            DType::BF16 => {
                let h = bf16::from_f32(f);
                let h = if h.is_finite() { h } else { bf16::MAX.copysign(h) };
                out.extend_from_slice(&h.to_bits().to_le_bytes());
            }
            _ => unreachable!(),
        }
    }
    out
}

struct Case {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    params: Params,
    global_scale: Option<f32>,
    input: Vec<u8>,
}

fn all_params() -> Vec<Params> {
    let mut v = Vec::new();
    for m in Mode::ALL {
        for &b in m.supported_bits() {
            for &g in m.supported_group_sizes() {
                v.push(Params::new(m, Some(b), Some(g)).unwrap());
            }
        }
    }
    v
}

fn make_cases() -> Vec<Case> {
    let mut rng = Rng::new(SEED);
    let mut cases = Vec::new();
    let mut add = |rng: &mut Rng, p: Params, dt: DType, shape: Vec<usize>, gscale: Option<f32>, only: Option<&str>| {
        let n: usize = shape.iter().product();
        let gs = p.group_size;
        let mut vals = Vec::with_capacity(n);
        for _ in 0..n / gs {
            let kind = only.unwrap_or_else(|| KINDS[rng.below(KINDS.len())]);
            vals.extend(group_values(rng, kind, gs, dt, &p));
        }
        let name = format!("c{:04}_{}_b{}_g{}_{}{}", cases.len(), p.mode, p.bits, gs, dt, only.map(|k| format!("_{k}")).unwrap_or_default());
        cases.push(Case { name, dtype: dt, shape, params: p, global_scale: gscale, input: encode(&vals, dt) });
    };
    for p in all_params() {
        let g = p.group_size;
        for dt in DTYPES {
            add(&mut rng, p, dt, vec![24, g * 6], None, None);
            add(&mut rng, p, dt, vec![2, 3, g * 4], None, None);
            // one tensor per kind, so each adversarial pattern fills whole rows
            for kind in KINDS {
                add(&mut rng, p, dt, vec![2, g * 2], None, Some(kind));
            }
        }
    }
    let nv = Params::new(Mode::Nvfp4, None, None).unwrap();
    for dt in DTYPES {
        for gsc in [1.0f32, 0.37, 2688.0, 1e4] {
            add(&mut rng, nv, dt, vec![8, 64], Some(gsc), None);
        }
    }
    cases
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// First differing element (of `width` bytes), or None when equal. Strictly
/// bytewise: NaN outputs must carry MLX's NaN bits too.
fn first_diff(a: &[u8], b: &[u8], width: usize) -> Option<(usize, String)> {
    if a.len() != b.len() {
        return Some((usize::MAX, format!("lengths {} vs {}", a.len(), b.len())));
    }
    a.chunks(width).zip(b.chunks(width)).position(|(x, y)| x != y).map(|i| {
        let (x, y) = (&a[i * width..(i + 1) * width], &b[i * width..(i + 1) * width]);
        (i, format!("ours {x:02x?} mlx {y:02x?}"))
    })
}

fn parse_stat(s: &str) -> f64 {
    match s {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => s.parse().unwrap(),
    }
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-300
}

#[test]
fn quantize_and_dequantize_equal_mlx_bit_for_bit() {
    let Some(py) = mlxport_testkit::python() else { return };
    let cases = make_cases();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut manifest = Vec::new();
    for c in &cases {
        std::fs::write(d.join(format!("{}.in", c.name)), &c.input).unwrap();
        manifest.push(serde_json::json!({
            "name": c.name, "dtype": c.dtype.to_string(), "shape": c.shape,
            "mode": c.params.mode.to_string(), "bits": c.params.bits, "group_size": c.params.group_size,
            "global_scale": c.global_scale,
        }));
    }
    std::fs::write(d.join("cases.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/mlx_quantize.py");
    Py::script(&py, &script).arg(d).stdout();
    let results: serde_json::Value = serde_json::from_slice(&read(d, "results.json")).unwrap();

    let mut failures: Vec<String> = Vec::new();
    let mut per_config: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked = 0usize;
    for c in &cases {
        let p = &c.params;
        let q: Quantized = match c.global_scale {
            None => quantize(&c.input, c.dtype, &c.shape, p).unwrap(),
            Some(g) => quantize_nvfp4_global(&c.input, c.dtype, &c.shape, g).unwrap(),
        };
        // the portable kernels (no AVX2 dispatch) give the same bytes
        mlxport_quant::set_simd_dispatch(false);
        let portable = match c.global_scale {
            None => quantize(&c.input, c.dtype, &c.shape, p).unwrap(),
            Some(g) => quantize_nvfp4_global(&c.input, c.dtype, &c.shape, g).unwrap(),
        };
        mlxport_quant::set_simd_dispatch(true);
        assert!(portable == q, "{}: portable and AVX2 kernels differ", c.name);
        let r = &results[&c.name];
        let mut fail = |what: &str, detail: String| {
            *per_config.entry(format!("{} b{} g{} {} {}", p.mode, p.bits, p.group_size, c.dtype, what)).or_default() += 1;
            failures.push(format!("{} {what}: {detail}", c.name));
        };
        if c.global_scale.is_none() && r["bpw"].as_f64() != Some(p.bits_per_weight(c.dtype)) {
            fail("bits per weight", format!("ours {} mlx {}", p.bits_per_weight(c.dtype), r["bpw"]));
        }
        if c.global_scale.is_none() {
            let want = match p.default_output(c.dtype) {
                DType::F32 => "mlx.core.float32",
                DType::F16 => "mlx.core.float16",
                DType::BF16 => "mlx.core.bfloat16",
                d => panic!("{d}"),
            };
            if r["default_dtype"].as_str() != Some(want) {
                fail("default output dtype", format!("ours {want} mlx {}", r["default_dtype"]));
            }
        }
        let shapes = &r["shapes"];
        let want_wq: Vec<usize> = serde_json::from_value(shapes[0].clone()).unwrap();
        let want_s: Vec<usize> = serde_json::from_value(shapes[1].clone()).unwrap();
        if q.wq_shape() != want_wq || q.scales_shape() != want_s {
            fail("shapes", format!("{:?} {:?} vs {want_wq:?} {want_s:?}", q.wq_shape(), q.scales_shape()));
        }
        if let Some((i, s)) = first_diff(q.wq_bytes(), &read(d, &format!("{}.wq", c.name)), 4) {
            fail("w_q", format!("word {i}: {s}"));
        }
        let sw = q.scale_dtype.size().unwrap();
        if let Some((i, s)) = first_diff(&q.scales, &read(d, &format!("{}.scales", c.name)), sw) {
            fail("scales", format!("group {i}: {s}"));
        }
        if p.mode == Mode::Affine {
            if let Some((i, s)) = first_diff(q.biases.as_ref().unwrap(), &read(d, &format!("{}.biases", c.name)), sw) {
                fail("biases", format!("group {i}: {s}"));
            }
        }
        for od in DTYPES {
            let theirs = read(d, &format!("{}.dq.{od}", c.name));
            let (ours, width) = match c.global_scale {
                None => (dequantize(&q, p, od).unwrap(), od.size().unwrap()),
                Some(g) => {
                    let v = dequantize_nvfp4_global(&q, od, g).unwrap();
                    (v.iter().flat_map(|x| x.to_le_bytes()).collect(), 4)
                }
            };
            if c.global_scale.is_none() {
                mlxport_quant::set_simd_dispatch(false);
                let portable = dequantize(&q, p, od).unwrap();
                mlxport_quant::set_simd_dispatch(true);
                assert!(portable == ours, "{}: portable and AVX2 dequantize to {od} differ", c.name);
            }
            if let Some((i, s)) = first_diff(&ours, &theirs, width) {
                fail(&format!("dequantize {od}"), format!("element {i}: {s}"));
            }
        }
        if c.global_scale.is_none() {
            let st = error_stats(&c.input, c.dtype, &q, p).unwrap();
            let want = &r["stats"];
            for (k, ours) in [("rmse", st.rmse), ("max_abs", st.max_abs), ("rel_frobenius", st.rel_frobenius), ("sqnr_db", st.sqnr_db)] {
                let theirs = parse_stat(want[k].as_str().unwrap());
                if !close(ours, theirs) {
                    fail(&format!("stats {k}"), format!("ours {ours:e} numpy {theirs:e}"));
                }
            }
            assert_eq!(st.elements as usize, c.shape.iter().product::<usize>());
        }
        checked += 1;
    }
    eprintln!("checked {checked} cases against mx.quantize / mx.dequantize");
    if !failures.is_empty() {
        for f in failures.iter().take(40) {
            eprintln!("{f}");
        }
        for (k, n) in &per_config {
            eprintln!("{n:5}  {k}");
        }
        panic!("{} mismatches with MLX", failures.len());
    }
}
