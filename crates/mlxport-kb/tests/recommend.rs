//! Recommendations differ sensibly by family and objective, experimental
//! items are never executable, and numbers appear only with a receipt.

mod common;

use mlxport_kb::budget::{Target, TargetProfile};
use mlxport_kb::data::OBJECTIVES;
use mlxport_kb::kb;
use mlxport_kb::recommend::{read_receipts, recommend, RecommendOptions, Recommendation, BUCKETS};
use mlxport_kb::view::InspectionView;

fn fixtures() -> (tempfile::TempDir, Vec<(&'static str, InspectionView)>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for f in mlxport_intake::routing::families() {
        let id: &'static str = Box::leak(f.id.clone().into_boxed_str());
        let fx = common::family_fixture(tmp.path(), id);
        out.push((id, common::inspect(&fx.dir)));
    }
    (tmp, out)
}

fn rec(view: &InspectionView, objective: &str) -> Recommendation {
    recommend(kb(), view, &RecommendOptions { objective: Some(objective.into()), ..Default::default() })
}

fn ids(r: &Recommendation) -> Vec<String> {
    r.items().map(|i| i.id.clone()).collect()
}

#[test]
fn kv_cache_quantization_is_never_offered_to_an_encoder_or_any_cacheless_model() {
    let (_tmp, fx) = fixtures();
    for (fam, view) in &fx {
        for o in OBJECTIVES {
            let r = rec(view, o);
            let kvq: Vec<&str> = r.items().filter(|i| i.ladder == "kv-quantization").map(|i| i.id.as_str()).collect();
            if *fam == "encoder" || !view.has_trait("kv_cache") {
                assert!(kvq.is_empty(), "{fam}/{o}: KV-cache quantization offered: {kvq:?}");
            }
        }
    }
    let dense = &fx.iter().find(|(f, _)| *f == "dense-decoder").unwrap().1;
    assert!(ids(&rec(dense, "peak-memory")).contains(&"kv-cache-quant-8bit".to_string()));
}

#[test]
fn moe_dispatch_only_for_mixtures_of_experts() {
    let (_tmp, fx) = fixtures();
    for (fam, view) in &fx {
        for o in OBJECTIVES {
            let r = rec(view, o);
            let moe: Vec<&str> = r.items().filter(|i| i.category == "moe").map(|i| i.id.as_str()).collect();
            if !view.has_trait("expert_routing") {
                assert!(moe.is_empty(), "{fam}/{o}: MoE technique offered: {moe:?}");
            }
        }
    }
    let moe = &fx.iter().find(|(f, _)| *f == "moe-decoder").unwrap().1;
    let r = rec(moe, "decode-throughput");
    assert!(ids(&r).contains(&"moe-gather-dispatch".to_string()), "{:?}", ids(&r));
    assert!(r.bucket("rejected").iter().any(|i| i.id == "moe-python-expert-loop"));
}

#[test]
fn experimental_items_are_never_executable() {
    let (_tmp, fx) = fixtures();
    for (fam, view) in &fx {
        for o in OBJECTIVES {
            let r = rec(view, o);
            for b in &r.buckets {
                for it in &b.items {
                    match b.id.as_str() {
                        "experimental" => {
                            assert!(!it.executable && it.requires_opt_in, "{fam}/{o}: {} executable", it.id);
                            assert_eq!(it.status, "research-candidate");
                        }
                        "rejected" => assert!(!it.executable && it.status == "rejected", "{fam}/{o}: {}", it.id),
                        _ => assert!(it.executable && it.status != "research-candidate" && it.status != "rejected", "{fam}/{o}: {} in {}", it.id, b.id),
                    }
                    assert!(!it.sources.is_empty(), "{} has no evidence", it.id);
                }
                // Ordered by the optimization ladder.
                assert!(b.items.windows(2).all(|w| w[0].ladder_step <= w[1].ladder_step), "{fam}/{o}/{}", b.id);
            }
            assert_eq!(r.buckets.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), BUCKETS.iter().map(|b| b.0).collect::<Vec<_>>());
        }
    }
}

#[test]
fn recommendations_differ_by_objective_and_family() {
    let (_tmp, fx) = fixtures();
    let get = |f: &str| &fx.iter().find(|(x, _)| *x == f).unwrap().1;
    let dense = get("dense-decoder");
    let mem = rec(dense, "peak-memory");
    let speed = rec(dense, "decode-throughput");
    assert_ne!(ids(&mem), ids(&speed));
    // Memory effects of quantization follow from theory; speed needs a benchmark.
    assert!(mem.bucket("validated-by-source").iter().any(|i| i.id == "affine-4bit"));
    assert!(speed.bucket("benchmark-required").iter().any(|i| i.id == "affine-4bit"));
    assert!(speed.items().any(|i| i.id == "speculative-decoding-draft"));
    assert!(!mem.items().any(|i| i.id == "speculative-decoding-draft"));
    // TTFT brings prompt caching and chunked prefill.
    let ttft = rec(dense, "ttft");
    assert!(ttft.items().any(|i| i.id == "prompt-cache-reuse"));
    // The tied fixture gets the tied-embedding quantization; the untied MoE does not.
    assert!(mem.items().any(|i| i.id == "quantized-tied-embedding"));
    assert!(!rec(get("moe-decoder"), "peak-memory").items().any(|i| i.id == "quantized-tied-embedding"));
    // Families get their own techniques.
    assert!(rec(get("diffusion"), "ttft").items().any(|i| i.id == "few-step-distilled-checkpoint"));
    assert!(!rec(dense, "ttft").items().any(|i| i.id == "few-step-distilled-checkpoint"));
    assert!(rec(get("audio-codec"), "peak-memory").items().any(|i| i.id == "streaming-conv-state"));
    assert!(rec(get("encoder"), "prefill-throughput").items().any(|i| i.id == "padded-batch-single-pass"));
    assert!(!rec(dense, "prefill-throughput").items().any(|i| i.id == "padded-batch-single-pass"));
    assert!(rec(get("ssm-hybrid"), "prefill-throughput").items().any(|i| i.id == "ssm-chunked-scan"));
    // Default objectives come from the runbook.
    let d = recommend(kb(), get("encoder"), &RecommendOptions::default());
    assert_eq!(d.objective, "prefill-throughput");
    let d = recommend(kb(), dense, &RecommendOptions::default());
    assert_eq!(d.objective, "decode-throughput");
    // Fine-tuning techniques only when asked for.
    assert!(!rec(dense, "quality").items().any(|i| i.category == "training"));
    let ft = recommend(kb(), dense, &RecommendOptions { objective: Some("quality".into()), workload: Some("fine-tuning".into()), ..Default::default() });
    assert!(ft.items().any(|i| i.id == "lora"));
}

#[test]
fn memory_fit_is_always_given_and_drives_the_notes() {
    let (_tmp, fx) = fixtures();
    let dense = &fx.iter().find(|(f, _)| *f == "dense-decoder").unwrap().1;
    let r = rec(dense, "decode-throughput");
    assert_eq!(r.fit.target_from, "default");
    assert_eq!(r.fit.precisions.len(), 5);
    // A profile so small that only 4 bits fit.
    let q4 = dense.weight_bytes("q4").unwrap() + dense.size.kv_cache.as_ref().map(|k| k.bytes_for_context).unwrap_or(0);
    let profile = TargetProfile::parse(&format!("name = \"tiny box\"\nmemory = \"{}\"\nchip = \"M1\"\n", q4 * 4 / 3 + 8), "p.toml").unwrap();
    let r = recommend(kb(), dense, &RecommendOptions { target: Target::Profile(profile), objective: Some("peak-memory".into()), ..Default::default() });
    assert_eq!(r.fit.target_from, "--target-profile");
    assert_eq!(r.fit.best_fit.as_deref(), Some("q4"));
    assert!(r.notes.iter().any(|n| n.contains("quantization is required")), "{:?}", r.notes);
    // Too small for anything: distributed sharding becomes relevant.
    let r = recommend(kb(), dense, &RecommendOptions { target: Target::Memory(1000), objective: Some("peak-memory".into()), ..Default::default() });
    assert!(r.fit.best_fit.is_none());
    assert!(r.items().any(|i| i.id == "distributed-sharding"));
    assert!(TargetProfile::parse("memory = \"lots\"", "bad.toml").is_err());
    assert!(TargetProfile::parse("memory = \"16GB\"\ncolour = \"blue\"", "bad.toml").is_err());
}

#[test]
fn only_a_passing_local_receipt_for_this_model_validates_and_brings_numbers() {
    let (_tmp, fx) = fixtures();
    let dense = &fx.iter().find(|(f, _)| *f == "dense-decoder").unwrap().1;
    let dir = tempfile::tempdir().unwrap();
    let receipt = |technique: &str, fp: &str, passed: bool, gate: &str| {
        serde_json::json!({"schema": "mlxport.receipt/v1", "technique": technique, "model_fingerprint": fp, "passed": passed,
            "quality_gate": gate, "hardware": "Apple M2, 16 GB", "objective": "decode-throughput",
            "measurements": [{"metric": "decode tokens/s", "unit": "tok/s", "baseline": 100.0, "candidate": 141.5}]})
    };
    let fp = dense.model.fingerprint.clone();
    std::fs::write(dir.path().join("a.json"), receipt("affine-4bit", &fp, true, "pass").to_string()).unwrap();
    std::fs::write(dir.path().join("b.json"), receipt("affine-8bit", "someone-else", true, "pass").to_string()).unwrap();
    std::fs::write(dir.path().join("c.json"), receipt("fast-sdpa", &fp, false, "pass").to_string()).unwrap();
    std::fs::write(dir.path().join("d.json"), receipt("compile-stable-regions", &fp, true, "fail").to_string()).unwrap();
    std::fs::write(dir.path().join("e.json"), "{not json").unwrap();
    std::fs::write(dir.path().join("f.json"), r#"{"schema": "mlxport.tensors/v1"}"#).unwrap();
    let rs = read_receipts(dir.path()).unwrap();
    assert_eq!(rs.receipts.len(), 4);
    assert_eq!(rs.skipped.len(), 2, "{:?}", rs.skipped);
    let r = recommend(kb(), dense, &RecommendOptions { objective: Some("decode-throughput".into()), receipts: rs.receipts, ..Default::default() });
    let local: Vec<&str> = r.bucket("validated-locally").iter().map(|i| i.id.as_str()).collect();
    assert_eq!(local, vec!["affine-4bit"]);
    // Numbers only where a receipt backs them.
    for it in r.items() {
        assert_eq!(it.receipt.is_some(), it.id == "affine-4bit", "{}", it.id);
    }
    let text = mlxport_kb::recommend::to_text(&r);
    assert!(text.contains("141.5") && text.contains("Apple M2"));
    let without = mlxport_kb::recommend::to_text(&rec(dense, "decode-throughput"));
    assert!(!without.contains("tok/s"));
    assert!(rec(dense, "decode-throughput").bucket("validated-locally").is_empty());
}
