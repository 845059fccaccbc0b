//! Dtype conversions checked against torch on every code and on a grid of
//! f32 inputs dense in ties, subnormals and overflow edges.

use mlxport_tensor::dtype::{decode_f64, encode_f32, DType};

const TYPES: [(DType, &str); 6] = [
    (DType::F16, "float16"),
    (DType::BF16, "bfloat16"),
    (DType::F8E4M3, "float8_e4m3fn"),
    (DType::F8E5M2, "float8_e5m2"),
    (DType::F8E4M3Fnuz, "float8_e4m3fnuz"),
    (DType::F8E5M2Fnuz, "float8_e5m2fnuz"),
];

/// Inputs: every f16 value and its midpoints to the next (ties), plus
/// random values across the whole exponent range.
fn inputs() -> Vec<f32> {
    let mut v = Vec::new();
    for c in 0..0x7c00u16 {
        let a = half::f16::from_bits(c).to_f32();
        let b = half::f16::from_bits(c + 1).to_f32();
        for x in [a, (a + b) / 2.0, a + (b - a) * 0.25, a + (b - a) * 0.75] {
            v.push(x);
            v.push(-x);
        }
    }
    let mut s: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..200_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let x = f32::from_bits(s as u32);
        if !x.is_nan() {
            v.push(x);
        }
    }
    v.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, 448.0, 464.0, 465.0, 57344.0, 61440.0, 65519.0, 65520.0, f32::MAX, f32::MIN_POSITIVE]);
    v
}

#[test]
fn encode_and_decode_match_torch() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let xs = inputs();
    let inp = dir.path().join("x.f32");
    std::fs::write(&inp, xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let code = r#"
import sys, numpy as np, torch
d = sys.argv[1]
x = torch.from_numpy(np.fromfile(d + "/x.f32", dtype="<f4"))
for name in ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"]:
    t = getattr(torch, name)
    y = x.to(t)
    y.view(torch.uint8).numpy().tofile(d + "/" + name + ".enc")
    n = 65536 if t.itemsize == 2 else 256
    codes = torch.arange(n, dtype=torch.int32).to(torch.uint16 if n == 65536 else torch.uint8)
    codes.view(t).to(torch.float64).numpy().astype("<f8").tofile(d + "/" + name + ".dec")
"#;
    mlxport_testkit::run_py(&py, code, &[dir.path().to_str().unwrap()]);
    let mut total_bad = 0;
    for (dt, name) in TYPES {
        let want = std::fs::read(dir.path().join(format!("{name}.enc"))).unwrap();
        let mut got = Vec::new();
        encode_f32(dt, &xs, &mut got).unwrap();
        let size = dt.size().unwrap();
        let mut bad = 0;
        for (i, (g, w)) in got.chunks(size).zip(want.chunks(size)).enumerate() {
            if g != w {
                // torch canonicalises NaN differently; both must be NaN.
                let (mut a, mut b) = ([0f64], [0f64]);
                decode_f64(dt, g, &mut a).unwrap();
                decode_f64(dt, w, &mut b).unwrap();
                if !(a[0].is_nan() && b[0].is_nan()) {
                    if bad < 5 {
                        eprintln!("{name}: x={:e} ours={g:?} torch={w:?}", xs[i]);
                    }
                    bad += 1;
                }
            }
        }
        eprintln!("{name}: {bad} encodings differ from torch");
        total_bad += bad;

        let dec = std::fs::read(dir.path().join(format!("{name}.dec"))).unwrap();
        let n = if size == 2 { 65536 } else { 256 };
        let codes: Vec<u8> = (0..n as u32).flat_map(|c| c.to_le_bytes()[..size].to_vec()).collect();
        let mut ours = vec![0f64; n];
        decode_f64(dt, &codes, &mut ours).unwrap();
        for (c, (o, w)) in ours.iter().zip(dec.chunks(8)).enumerate() {
            let w = f64::from_le_bytes(w.try_into().unwrap());
            assert!(o.to_bits() == w.to_bits() || (o.is_nan() && w.is_nan()), "{name} code {c:#x}: {o} vs {w}");
        }
    }
    assert_eq!(total_bad, 0, "encodings differ from torch");
}
