//! A quality report (`mlxport.quality/v1`) as this code writes it reads
//! back with `QualityReport::read` and re-serialises to the same bytes;
//! the fixture was written by the release before the report could be read.

use std::path::Path;

use mlxport_quality::encoder::EncoderMetrics;
use mlxport_quality::greedy::{Degeneration, GreedySummary, PromptResult};
use mlxport_quality::lm::LmMetrics;
use mlxport_quality::report::Measured;
use mlxport_quality::{QualityReport, Thresholds};

fn degeneration(degenerate: bool) -> Degeneration {
    Degeneration { longest_run: if degenerate { 9 } else { 1 }, loop_period: degenerate.then_some(2), loop_span: 12, distinct_3gram_ratio: 0.25, degenerate }
}

/// A language-model gate that fails on KL, with a non-finite figure.
fn lm_report() -> QualityReport {
    let lm = LmMetrics {
        positions: 1024,
        vocab: 49152,
        perplexity_reference: 12.345678901234567,
        perplexity_candidate: 12.9,
        perplexity_ratio: 12.9 / 12.345678901234567,
        nll_reference: 2.5133,
        nll_candidate: 2.557,
        kl_mean: 0.061,
        kl_p99: f64::NAN,
        kl_max: 1.75,
        kl_max_position: 77,
        top1_agreement: 0.93,
        top5_overlap: 0.88,
    };
    let per_prompt = vec![
        PromptResult { exact_match: true, first_divergence: None, reference_degeneration: degeneration(false), candidate_degeneration: degeneration(false) },
        PromptResult { exact_match: false, first_divergence: Some(5), reference_degeneration: degeneration(false), candidate_degeneration: degeneration(true) },
    ];
    let greedy = GreedySummary {
        prompts: 2,
        tokens: 32,
        exact_match_rate: 0.5,
        mean_matching_prefix: 0.578125,
        min_first_divergence: Some(5),
        candidate_degenerate: 1,
        reference_degenerate: 0,
        new_degenerate: 1,
        per_prompt,
    };
    let run = serde_json::json!({"corpus_tokens": 1024, "window": 256, "libraries": {"mlx": "0.29.3"}});
    QualityReport::new(
        "language-model",
        "weights".into(),
        "quantized".into(),
        run,
        Thresholds::default(),
        Measured { lm: Some(lm), greedy: Some(greedy), ..Measured::default() },
    )
}

fn encoder_report() -> QualityReport {
    let e = EncoderMetrics {
        sentences: 40,
        queries: 8,
        hidden: 384,
        cosine_mean: 0.99991,
        cosine_min: 0.9993,
        cosine_min_sentence: 17,
        k: 5,
        overlap_at_k: 1.0,
        overlap_at_k_min: 1.0,
        spearman_mean: 0.998,
        spearman_min: 0.99,
        top1_agreement: 1.0,
    };
    QualityReport::new(
        "encoder",
        "weights".into(),
        "quantized".into(),
        serde_json::json!({}),
        Thresholds::default(),
        Measured { encoder: Some(e), ..Measured::default() },
    )
}

#[test]
fn reports_read_back_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, r) in [("lm.json", lm_report()), ("encoder.json", encoder_report())] {
        let text = r.to_json();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quality-v1").join(name);
        let before = std::fs::read_to_string(&fixture).unwrap();
        assert_eq!(text, before, "{name}: the report this code writes");
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        let back = QualityReport::read(&path).unwrap();
        assert_eq!(back.to_json(), text, "{name}");
        assert_eq!(back.passed(), r.passed());
        let names = |q: &QualityReport| q.checks.iter().map(|c| (c.name.clone(), c.pass)).collect::<Vec<_>>();
        assert_eq!(names(&back), names(&r));
        assert_eq!(back.reasons, r.reasons);
    }
}

#[test]
fn another_document_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quality.json");
    std::fs::write(&path, r#"{"schema": "mlxport.parity/v1"}"#).unwrap();
    let e = QualityReport::read(&path).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: schema 'mlxport.parity/v1' is not mlxport.quality/v1", path.display()));
    std::fs::write(&path, encoder_report().to_json().replace("\"verdict\": \"pass\"", "\"verdict\": 3")).unwrap();
    let e = QualityReport::read(&path).unwrap_err();
    assert!(e.to_string().starts_with(&format!("{}: not a valid mlxport.quality/v1 document", path.display())), "{e}");
}
