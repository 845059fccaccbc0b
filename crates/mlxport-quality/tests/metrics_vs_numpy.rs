//! Every metric against numpy (float64) / torch on the same arrays.

use std::path::Path;

use mlxport_quality::{encoder, greedy, lm};
use mlxport_testkit::{python, Py};
use serde_json::Value;

fn close(name: &str, got: f64, want: f64) {
    let rel = (got - want).abs() / want.abs().max(1e-300);
    assert!(got == want || rel <= 1e-9, "{name}: mlxport {got:e}, numpy {want:e} (relative difference {rel:e})");
}

#[test]
fn metrics_match_numpy_and_torch() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("q.npz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/quality_numpy.py");
    let want: Value = serde_json::from_str(&Py::script(&py, &script).arg(&npz).stdout()).unwrap();
    let src = mlxport_tensor::open_file(&npz).unwrap();
    let f = |n: &str| src.read_f32(n).unwrap();
    let ids = |n: &str| -> Vec<i64> { src.read_f32(n).unwrap().into_iter().map(|x| x as i64).collect() };

    // Language-model metrics, streamed in three uneven chunks.
    let (r, c, t) = (f("reference"), f("candidate"), ids("targets"));
    let v = r.len() / t.len();
    let mut acc = lm::LmAccumulator::new();
    for (a, b) in [(0, 17), (17, 200), (200, t.len())] {
        acc.add(&r[a * v..b * v], &c[a * v..b * v], &t[a..b]).unwrap();
    }
    let m = acc.finish().unwrap();
    let w = &want["lm"];
    assert_eq!(m.positions, w["positions"].as_u64().unwrap() as usize);
    for (name, got) in [
        ("perplexity_reference", m.perplexity_reference),
        ("perplexity_candidate", m.perplexity_candidate),
        ("perplexity_ratio", m.perplexity_ratio),
        ("kl_mean", m.kl_mean),
        ("kl_p99", m.kl_p99),
        ("kl_max", m.kl_max),
        ("top1_agreement", m.top1_agreement),
        ("top5_overlap", m.top5_overlap),
    ] {
        close(name, got, w[name].as_f64().unwrap());
    }
    assert_eq!(m.kl_max_position, w["kl_max_position"].as_u64().unwrap() as usize);
    assert!(m.top1_agreement > 0.0 && m.top1_agreement < 1.0, "the fixture must mix agreeing and disagreeing rows");
    // Per position, including rows where the two are identical (KL exactly 0).
    for (i, want_kl) in want["kl_per_position"].as_array().unwrap().iter().enumerate() {
        let p = lm::position(&r[i * v..(i + 1) * v], &c[i * v..(i + 1) * v], t[i] as usize);
        let wk = want_kl.as_f64().unwrap();
        if i % 11 == 0 && !(i >= 5 && (i - 5) % 13 == 0) {
            assert!(p.kl.abs() < 1e-15 && wk.abs() < 1e-15, "identical row {i}: KL {} / {}", p.kl, wk);
        } else {
            close(&format!("kl[{i}]"), p.kl, wk);
        }
    }

    // Greedy continuations.
    let (gr, gc) = (ids("greedy_reference"), ids("greedy_candidate"));
    let g = greedy::compare(&gr, &gc, 6).unwrap();
    let wg = &want["greedy"];
    let first: Vec<Option<usize>> = wg["first"].as_array().unwrap().iter().map(|x| x.as_u64().map(|n| n as usize)).collect();
    assert_eq!(g.per_prompt.iter().map(|p| p.first_divergence).collect::<Vec<_>>(), first);
    close("exact_match_rate", g.exact_match_rate, wg["exact_match_rate"].as_f64().unwrap());
    close("mean_matching_prefix", g.mean_matching_prefix, wg["mean_matching_prefix"].as_f64().unwrap());

    // Encoder metrics.
    let (er, ec, qr, qc) = (f("emb_reference"), f("emb_candidate"), f("query_reference"), f("query_candidate"));
    let e = encoder::compute(&er, &ec, &qr, &qc, 64, 5).unwrap();
    let we = &want["encoder"];
    for (name, got) in [
        ("cosine_mean", e.cosine_mean),
        ("cosine_min", e.cosine_min),
        ("overlap_at_k", e.overlap_at_k),
        ("spearman_mean", e.spearman_mean),
        ("spearman_min", e.spearman_min),
        ("top1_agreement", e.top1_agreement),
    ] {
        close(name, got, we[name].as_f64().unwrap());
    }
    assert_eq!(e.cosine_min_sentence, we["cosine_min_sentence"].as_u64().unwrap() as usize);
    assert!(e.spearman_mean < 1.0 && e.overlap_at_k < 1.0, "the fixture must perturb the rankings");
}

#[test]
fn degeneration_detector() {
    let loop_tail: Vec<i64> = (0..10).chain([5, 6, 7].iter().copied().cycle().take(18)).collect();
    let d = greedy::degeneration(&loop_tail);
    assert_eq!(d.loop_period, Some(3));
    assert!(d.loop_span >= 18 && d.degenerate, "{d:?}");
    let run: Vec<i64> = [1, 2, 3].into_iter().chain(std::iter::repeat_n(9, 8)).chain([4, 5, 6, 7, 8, 10, 11, 12, 13, 14]).collect();
    let d = greedy::degeneration(&run);
    assert_eq!(d.longest_run, 8);
    assert!(d.degenerate);
    let varied: Vec<i64> = (0..32).map(|i| (i * 7919) % 101).collect();
    let d = greedy::degeneration(&varied);
    assert!(!d.degenerate && d.loop_period.is_none() && d.longest_run == 1 && d.distinct_3gram_ratio == 1.0, "{d:?}");
    // A short repeated tail (under half the sequence) is reported but not degenerate.
    let short: Vec<i64> = (0..24).chain([1, 2, 1, 2, 1, 2]).collect();
    let d = greedy::degeneration(&short);
    assert_eq!(d.loop_period, Some(2));
    assert!(!d.degenerate);
}

#[test]
fn malformed_inputs_are_refused() {
    let mut acc = lm::LmAccumulator::new();
    assert!(acc.add(&[0.0; 10], &[0.0; 8], &[1, 2]).is_err());
    assert!(acc.add(&[0.0; 10], &[0.0; 10], &[1, 7]).is_err(), "target outside the vocabulary");
    assert!(acc.add(&[f32::NAN; 10], &[0.0; 10], &[1, 2]).is_err());
    assert!(acc.finish().is_err(), "no positions");
    assert!(greedy::compare(&[1, 2, 3], &[1, 2], 1).is_err());
    assert!(encoder::compute(&[1.0; 8], &[1.0; 8], &[1.0; 3], &[1.0; 3], 4, 5).is_err());
    let mut th = mlxport_quality::Thresholds::default();
    assert!(th.apply("kl_mean=abc").is_err());
    assert!(th.apply("nope=1").is_err());
    th.apply("kl_mean=0.01, top1=0.95").unwrap();
    assert_eq!((th.kl_mean, th.top1), (0.01, 0.95));
}
