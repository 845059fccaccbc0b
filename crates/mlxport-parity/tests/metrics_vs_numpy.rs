//! Every metric against numpy in float64 (`tests/reference/metrics_ref.py`)
//! on random and adversarial pairs: zeros, signed zeros, denormals, NaN
//! placement, infinities, a huge dynamic range, ties, f64, f16, bf16 and
//! mixed dtypes, integers, logits. Floating results must agree to within
//! one unit in the last place of f64; counts and indices exactly.

use mlxport_parity::compare::{PairReport, Settings};
use mlxport_parity::report::{run, LadderChoice, RunOptions};
use mlxport_parity::tolerance::{Overrides, Rule};
use mlxport_testkit::Py;
use serde_json::Value;

fn ulp(x: f64) -> f64 {
    let a = x.abs();
    if a == f64::MAX {
        return a - a.next_down();
    }
    a.next_up() - a
}

/// Ours within one ulp of theirs (NaN matches NaN, null matches None).
fn close(what: &str, ours: Option<f64>, theirs: &Value) {
    let t = match theirs {
        Value::Null => {
            assert!(ours.is_none(), "{what}: ours {ours:?}, numpy null");
            return;
        }
        v => num(v).unwrap_or_else(|| panic!("{what}: unexpected {v}")),
    };
    let o = ours.unwrap_or_else(|| panic!("{what}: ours None, numpy {t}"));
    let ok = (o.is_nan() && t.is_nan()) || o == t || (o - t).abs() <= ulp(t);
    assert!(ok, "{what}: ours {o:e} ({:#x}), numpy {t:e} ({:#x}), {} ulp apart", o.to_bits(), t.to_bits(), ((o - t) / ulp(t)).abs());
}

/// A float written by the reference as its IEEE bits (`"f:<16 hex>"`).
fn num(v: &Value) -> Option<f64> {
    let s = v.as_str()?.strip_prefix("f:")?;
    u64::from_str_radix(s, 16).ok().map(f64::from_bits)
}

fn idx(v: &Value) -> Option<u64> {
    v.as_u64()
}

fn settings(cases: &serde_json::Map<String, Value>) -> Settings {
    let mut rules = Vec::new();
    for (name, c) in cases {
        if c["kind"] != "float" || name == "random_defaults" {
            continue;
        }
        let o = Overrides {
            atol: c["atol_given"].as_bool().unwrap().then(|| num(&c["atol"]).unwrap()),
            rtol: num(&c["rtol"]),
            equal_nan: Some(c["equal_nan"].as_bool().unwrap()),
            ..Overrides::default()
        };
        rules.push(Rule { pattern: regex::Regex::new(&format!("^{}$", regex::escape(name))).unwrap(), overrides: o });
    }
    Settings { rules, top_k: 5, ..Settings::default() }
}

fn check_float(name: &str, p: &PairReport, c: &Value) {
    let f = p.float.as_ref().unwrap_or_else(|| panic!("{name}: no float metrics"));
    let w = |m: &str| format!("{name}.{m}");
    assert_eq!(f.count, c["count"].as_u64().unwrap(), "{name}");
    assert_eq!(f.finite_pairs, c["finite_pairs"].as_u64().unwrap(), "{name}");
    close(&w("rel_floor"), Some(f.rel_floor), &c["rel_floor"]);
    close(&w("atol"), Some(f.allclose.atol), &c["atol"]);
    close(&w("rtol"), Some(f.allclose.rtol), &c["rtol"]);
    close(&w("max_abs"), f.max_abs, &c["max_abs"]);
    close(&w("mean_abs"), f.mean_abs, &c["mean_abs"]);
    close(&w("rmse"), f.rmse, &c["rmse"]);
    close(&w("max_rel"), f.max_rel, &c["max_rel"]);
    close(&w("cosine"), f.cosine, &c["cosine"]);
    assert_eq!(f.max_abs_at.as_ref().map(|i| i.flat), idx(&c["max_abs_at"]), "{name}.max_abs_at");
    assert_eq!(f.max_rel_at.as_ref().map(|i| i.flat), idx(&c["max_rel_at"]), "{name}.max_rel_at");
    assert_eq!(f.allclose.violations, c["violations"].as_u64().unwrap(), "{name}.violations");
    assert_eq!(f.allclose.first_violation.as_ref().map(|i| i.flat), idx(&c["first_violation"]), "{name}.first_violation");
    assert_eq!((f.nonfinite_a.nan, f.nonfinite_a.inf), (c["nan_a"].as_u64().unwrap(), c["inf_a"].as_u64().unwrap()), "{name}.nonfinite_a");
    assert_eq!((f.nonfinite_b.nan, f.nonfinite_b.inf), (c["nan_b"].as_u64().unwrap(), c["inf_b"].as_u64().unwrap()), "{name}.nonfinite_b");
    assert_eq!(f.nonfinite_a.first.as_ref().map(|i| i.flat), idx(&c["first_nonfinite_a"]), "{name}.first_nonfinite_a");
    assert_eq!(f.nonfinite_b.first.as_ref().map(|i| i.flat), idx(&c["first_nonfinite_b"]), "{name}.first_nonfinite_b");
    assert_eq!(f.max_ulp, c.get("max_ulp").and_then(|v| v.as_u64()), "{name}.max_ulp");
    // The multi-dimensional index agrees with numpy's unravel_index.
    if let (Some(at), Some(shape)) = (&f.max_abs_at, c["shape"].as_array()) {
        let shape: Vec<u64> = shape.iter().map(|d| d.as_u64().unwrap()).collect();
        let mut flat = 0;
        for (i, d) in at.index.iter().zip(&shape) {
            flat = flat * d + i;
        }
        assert_eq!(flat, at.flat, "{name}: index {:?} of shape {shape:?}", at.index);
    }
    if let Some(l) = c.get("logits") {
        let ours = p.logits.as_ref().unwrap_or_else(|| panic!("{name}: not compared as logits"));
        assert_eq!(ours.positions, l["positions"].as_u64().unwrap());
        assert_eq!(ours.top1_agree, l["top1_agree"].as_u64().unwrap());
        close(&w("topk_overlap_mean"), Some(ours.topk_overlap_mean), &l["topk_overlap_mean"]);
        close(&w("kl_ab_mean"), ours.kl_ab_mean, &l["kl_ab_mean"]);
        close(&w("kl_ba_mean"), ours.kl_ba_mean, &l["kl_ba_mean"]);
        close(&w("kl_ab_max"), ours.kl_ab_max, &l["kl_ab_max"]);
        close(&w("kl_ba_max"), ours.kl_ba_max, &l["kl_ba_max"]);
        close(&w("max_prob_diff"), ours.max_prob_diff, &l["max_prob_diff"]);
        let theirs = l["per_position"].as_array().unwrap();
        assert_eq!(ours.per_position.len(), theirs.len());
        for (o, t) in ours.per_position.iter().zip(theirs) {
            let at = format!("{name}[{}]", o.position);
            assert_eq!((o.top1_a, o.top1_b), (t["top1_a"].as_u64(), t["top1_b"].as_u64()), "{at}");
            close(&format!("{at}.topk_overlap"), Some(o.topk_overlap), &t["topk_overlap"]);
            close(&format!("{at}.kl_ab"), o.kl_ab, &t["kl_ab"]);
            close(&format!("{at}.kl_ba"), o.kl_ba, &t["kl_ba"]);
            close(&format!("{at}.max_prob_diff"), o.max_prob_diff, &t["max_prob_diff"]);
        }
    }
}

fn check_exact(name: &str, p: &PairReport, c: &Value) {
    let e = p.exact.as_ref().unwrap_or_else(|| panic!("{name}: not compared exactly"));
    assert_eq!(e.mismatches, c["mismatches"].as_u64().unwrap(), "{name}");
    match &c["first"] {
        Value::Null => assert!(e.first_mismatch.is_none(), "{name}"),
        f => {
            let m = e.first_mismatch.as_ref().unwrap();
            assert_eq!(m.at.flat, f["at"].as_u64().unwrap(), "{name}");
            assert_eq!(m.a, f["a"].as_i64().unwrap().to_string(), "{name}");
            assert_eq!(m.b, f["b"].as_i64().unwrap().to_string(), "{name}");
        }
    }
}

#[test]
fn every_metric_matches_numpy_float64() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/metrics_ref.py");
    Py::script(&py, &script).arg(dir.path()).stdout();
    let cases: serde_json::Map<String, Value> = serde_json::from_str(&std::fs::read_to_string(dir.path().join("ref.json")).unwrap()).unwrap();
    let s = settings(&cases);
    let opts = RunOptions { ladder: LadderChoice::None, all: false, allow_unmatched: false };
    let mut seen = 0;
    for (a, b) in [("a.npz", "b.npz"), ("a.safetensors", "b.safetensors")] {
        let sa = mlxport_tensor::open(&dir.path().join(a)).unwrap();
        let sb = mlxport_tensor::open(&dir.path().join(b)).unwrap();
        let report = run(sa.as_ref(), sb.as_ref(), &s, &opts, &mut |_, _| {}).unwrap();
        assert!(report.unmatched_a.is_empty() && report.unmatched_b.is_empty());
        for p in &report.pairs {
            let c = cases.get(&p.name).unwrap_or_else(|| panic!("no reference for {}", p.name));
            match c["kind"].as_str().unwrap() {
                "float" => check_float(&p.name, p, c),
                _ => check_exact(&p.name, p, c),
            }
            seen += 1;
        }
        // Deterministic: the same inputs give the same JSON bytes.
        let again = run(sa.as_ref(), sb.as_ref(), &s, &opts, &mut |_, _| {}).unwrap();
        assert_eq!(serde_json::to_string(&report).unwrap(), serde_json::to_string(&again).unwrap());
    }
    assert_eq!(seen, cases.len(), "every reference case was compared");
}
