//! Plans for a generated fixture of every family, inspected by the real
//! intake: each plan states the facts it must (family, runbook, tied
//! weights, parameter count, license verdict, fit at 4 and 8 bits), and a
//! blocked inspection yields a remediation-only plan.

mod common;

use mlxport_kb::budget::Target;
use mlxport_kb::kb;
use mlxport_kb::plan::{plan, to_markdown, PlanOptions};
use mlxport_kb::verify::verify;

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn every_family_fixture_gets_a_plan_stating_its_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let families: Vec<&'static str> = mlxport_intake::routing::families().iter().map(|f| &*Box::leak(f.id.clone().into_boxed_str())).collect();
    assert_eq!(families.len(), 17);
    for fam in families {
        let fx = common::family_fixture(tmp.path(), fam);
        let view = common::inspect(&fx.dir);
        assert_eq!(
            view.routing.family.as_deref(),
            Some(fam),
            "fixture for {fam} routes to {:?} ({:?})",
            view.routing.family,
            (&view.routing.conflicts, &view.routing.notes, view.routing.ambiguous)
        );
        assert!(view.blockers.is_empty(), "{fam}: {:?}", view.blockers);
        let v = verify(&view, &fx.dir, None).unwrap();
        assert!(v.ok(), "{fam}: {:?}", v.mismatches);
        // A target where the 4-bit weights fit and nothing is certain about 8: compute both.
        let p = plan(kb(), &view, &PlanOptions { target: Target::Memory(16_000_000_000), objective: None, verification: Some(v) });
        // Only the families the port proves end to end are "ready"; the
        // others get the same plan, marked for a port by hand.
        let proves = fam.parse::<mlxport_contract::Family>().unwrap().port_proves();
        assert_eq!(p.status, if proves { "ready" } else { "manual" }, "{fam}");
        assert_eq!(p.remediations.iter().any(|r| r.blocker == "family-not-automated"), !proves, "{fam}");
        let f = p.family.as_ref().unwrap();
        assert_eq!(f.id, fam);
        assert_eq!(f.runbook, format!("runbook/{fam}"));
        let w = p.weights.as_ref().unwrap();
        assert_eq!(w.parameters, fx.parameters, "{fam}");
        assert_eq!(w.tied, fx.tied, "{fam}");
        let l = p.license.as_ref().unwrap();
        assert_eq!(l.class, fx.license_class, "{fam}");
        let b = p.target.as_ref().unwrap();
        assert_eq!(b.fits("q4"), Some(true), "{fam}");
        assert_eq!(b.fits("q8"), Some(true), "{fam}");
        assert_eq!(p.rungs.len(), 8);
        assert!(p.fixtures.is_some() && !p.transforms.is_empty() && !p.stop_conditions.is_empty(), "{fam}");
        // The Markdown states the same facts.
        let md = to_markdown(&p);
        for needle in [
            format!("family: **{fam}**"),
            format!("runbook: `runbook/{fam}`"),
            format!("parameters: {}", thousands(fx.parameters)),
            format!("tied weights: {}", if fx.tied { "yes" } else { "no" }),
            format!("({})", fx.license_class),
            "Fits at 8 bits: **yes**; at 4 bits: **yes**".to_string(),
            "identity: verified against the files".to_string(),
            "minimal:".to_string(),
            "boundary:".to_string(),
        ] {
            assert!(md.contains(&needle), "{fam}: plan lacks '{needle}':\n{md}");
        }
        // Stateless families do not climb the cache rung.
        let stateful = view.has_trait("kv_cache") || view.has_trait("recurrent_state") || view.has_trait("streaming_state");
        assert_eq!(p.rungs.iter().find(|r| r.id == "cache").unwrap().applies, stateful, "{fam}");
    }
}

#[test]
fn a_tight_target_separates_four_from_eight_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = common::family_fixture(tmp.path(), "dense-decoder");
    let view = common::inspect(&fx.dir);
    let q4 = view.weight_bytes("q4").unwrap() + view.size.kv_cache.as_ref().map(|k| k.bytes_for_context).unwrap_or(0);
    // Usable memory (75%) just above the 4-bit total.
    let target = (q4 as f64 / 0.75) as u64 + 2;
    let p = plan(kb(), &view, &PlanOptions { target: Target::Memory(target), objective: Some("peak-memory".into()), verification: None });
    let b = p.target.as_ref().unwrap();
    assert_eq!(b.fits("q4"), Some(true));
    assert_eq!(b.fits("q8"), Some(false));
    assert_eq!(b.best_fit.as_deref(), Some("q4"));
    let md = to_markdown(&p);
    assert!(md.contains("Fits at 8 bits: **no**; at 4 bits: **yes**"), "{md}");
    assert!(md.contains("identity: not re-verified"));
    assert_eq!(p.objective.as_ref().unwrap().primary, "peak-memory");
}

#[test]
fn uncertainties_are_recorded_not_guessed() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = common::family_fixture(tmp.path(), "dense-decoder");
    let view = common::inspect(&fx.dir);
    let p = plan(kb(), &view, &PlanOptions::default());
    let u = p.uncertainties.join("\n");
    assert!(u.contains("no generation_config.json"), "{u}");
    assert!(u.contains("no tokenizer files"), "{u}");
    assert!(u.contains("no target machine given"), "{u}");
    assert!(!u.contains("rope_parameters"), "the fixture's rope_theta is at the top level");
    // transformers 5 layout: rope_theta only inside rope_parameters.
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(fx.dir.join("config.json")).unwrap()).unwrap();
    let theta = cfg.as_object_mut().unwrap().remove("rope_theta").unwrap();
    cfg["rope_parameters"] = serde_json::json!({"rope_theta": theta, "rope_type": "default"});
    std::fs::write(fx.dir.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    let p = plan(kb(), &common::inspect(&fx.dir), &PlanOptions::default());
    assert!(p.uncertainties.iter().any(|u| u.contains("rope_parameters") && u.contains("mlx-lm 0.32")), "{:?}", p.uncertainties);
}

#[test]
fn a_blocked_inspection_yields_a_remediation_only_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = common::family_fixture(tmp.path(), "dense-decoder");
    // Remote code and an adapter-only config: two blockers.
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(fx.dir.join("config.json")).unwrap()).unwrap();
    cfg["auto_map"] = serde_json::json!({"AutoModelForCausalLM": "modeling_custom.CustomModel"});
    std::fs::write(fx.dir.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    std::fs::write(fx.dir.join("adapter_config.json"), br#"{"base_model_name_or_path": "some/base", "peft_type": "LORA"}"#).unwrap();
    let view = common::inspect(&fx.dir);
    assert!(view.blockers.len() >= 2, "{:?}", view.blockers);
    let p = plan(kb(), &view, &PlanOptions::default());
    assert_eq!(p.status, "blocked");
    assert_eq!(p.remediations.len(), view.blockers.len());
    for (r, b) in p.remediations.iter().zip(&view.blockers) {
        assert_eq!(r.blocker, b.id);
        assert!(r.remediation.len() > 20, "{r:?}");
    }
    assert!(p.family.is_none() && p.rungs.is_empty() && p.fixtures.is_none(), "a blocked plan carries remediations only");
    let md = to_markdown(&p);
    assert!(md.contains("Blocked: remediation only") && md.contains("remote-code") && md.contains("adapter-only"), "{md}");
    assert!(!md.contains("Parity ladder"));
}

#[test]
fn a_blocker_without_a_remediation_gets_one_from_the_knowledge_base() {
    let report = r#"{"schema": "mlxport.inspection/v1", "model": {"name": "x", "fingerprint": "00"},
      "blockers": [{"id": "invalid-weights", "severity": "blocker", "message": "truncated"}, {"id": "something-new", "severity": "blocker", "message": "?"}]}"#;
    let view = mlxport_kb::InspectionView::parse(report, "r.json").unwrap();
    let p = plan(kb(), &view, &PlanOptions::default());
    assert_eq!(p.remediations.len(), 2);
    assert!(p.remediations[0].remediation.contains("SHA-256"));
    assert!(!p.remediations[1].remediation.is_empty());
}

#[test]
fn tampered_reports_are_caught_by_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = common::family_fixture(tmp.path(), "dense-decoder");
    let view = common::inspect(&fx.dir);
    assert!(verify(&view, &fx.dir, None).unwrap().ok());

    let mut swapped = view.clone();
    swapped.routing.family = Some("encoder".into());
    let v = verify(&swapped, &fx.dir, None).unwrap();
    assert!(v.mismatches.iter().any(|m| m.starts_with("family:")), "{:?}", v.mismatches);

    let mut forged = view.clone();
    forged.model.fingerprint = "0".repeat(64);
    let v = verify(&forged, &fx.dir, None).unwrap();
    assert!(v.mismatches.iter().any(|m| m.starts_with("fingerprint:")), "{:?}", v.mismatches);

    // A blocker removed: make the files carry one first.
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(fx.dir.join("config.json")).unwrap()).unwrap();
    cfg["auto_map"] = serde_json::json!({"AutoModel": "x.Y"});
    std::fs::write(fx.dir.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    let blocked = common::inspect(&fx.dir);
    let mut cleaned = blocked.clone();
    cleaned.blockers.clear();
    let v = verify(&cleaned, &fx.dir, None).unwrap();
    assert!(v.mismatches.iter().any(|m| m.contains("blocker 'remote-code' is missing")), "{:?}", v.mismatches);
    // The original (pre-edit) report no longer matches the files either.
    assert!(!verify(&view, &fx.dir, None).unwrap().ok());
}
