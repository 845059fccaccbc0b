//! Seeded faults in a captured ladder (`tests/reference/ladder_capture.py`:
//! embeddings, 6 layers, final norm, logits, ids, one cache-decode step,
//! reference in float64 and port in float32) are each localised to the
//! right rung with the right hint from the failure atlas; a clean port
//! passes every rung under the default tolerances.

use mlxport_parity::compare::Settings;
use mlxport_parity::ladder;
use mlxport_parity::render;
use mlxport_parity::report::{run, LadderChoice, Report, RunOptions};
use mlxport_parity::Status;
use mlxport_testkit::Py;
use serde_json::Value;

fn climb(dir: &std::path::Path, variant: &str, ladder: LadderChoice, all: bool) -> Report {
    let a = mlxport_tensor::open(&dir.join(format!("port_{variant}.npz"))).unwrap();
    let b = mlxport_tensor::open(&dir.join("ref.npz")).unwrap();
    let settings = Settings { top_k: 5, ..Settings::default() };
    run(a.as_ref(), b.as_ref(), &settings, &RunOptions { ladder, all, allow_unmatched: false }, &mut |_, _| {}).unwrap()
}

#[test]
fn seeded_faults_are_localised_with_the_right_hint() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/ladder_capture.py");
    Py::script(&py, &script).arg(dir.path()).stdout();
    let expected: serde_json::Map<String, Value> = serde_json::from_str(&std::fs::read_to_string(dir.path().join("expected.json")).unwrap()).unwrap();
    let manifest = ladder::parse(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.len(), 12, "inputs, embeddings, 6 layers, final norm, logits, ids, cache-decode");
    for (variant, want) in &expected {
        for (choice, label) in [(LadderChoice::Given(manifest.clone(), "manifest"), "manifest"), (LadderChoice::Auto, "inferred")] {
            let r = climb(dir.path(), variant, choice, false);
            let l = r.ladder.as_ref().unwrap();
            let ctx = format!("{variant} ({label} ladder)");
            match want["rung"].as_str() {
                None => {
                    assert!(l.first_divergence.is_none(), "{ctx}: {:?}", l.first_divergence);
                    assert_eq!(r.status, Status::Pass, "{ctx}");
                    assert!(l.rungs.iter().all(|x| x.status == "pass"), "{ctx}");
                }
                Some(rung) => {
                    let f = l.first_divergence.as_ref().unwrap_or_else(|| panic!("{ctx}: no divergence found"));
                    assert_eq!(f.name, rung, "{ctx}");
                    assert_eq!(f.hint, want["hint"].as_str().unwrap(), "{ctx}");
                    assert_eq!(r.status, Status::Fail, "{ctx}");
                    // Everything before passes; everything after is not climbed.
                    assert!(l.rungs[..f.rung].iter().all(|x| x.status == "pass"), "{ctx}");
                    assert!(l.rungs[f.rung + 1..].iter().all(|x| x.status == "skipped"), "{ctx}");
                    let hint = l.rungs[f.rung].hint.as_ref().unwrap();
                    assert!(!hint.causes.is_empty());
                    if variant == "nan_layer4" {
                        assert!(hint.symptoms.iter().any(|s| s.id == "nonfinite"), "{ctx}: {hint:?}");
                        let p = r.pairs.iter().find(|p| p.name == "layers.4").unwrap();
                        let first = p.float.as_ref().unwrap().nonfinite_a.first.as_ref().unwrap();
                        assert_eq!(first.index, [5, 17], "{ctx}: first NaN where it was injected");
                    }
                }
            }
        }
    }
    // --all climbs every rung and still names the first divergence.
    let r = climb(dir.path(), "eps_layer3", LadderChoice::Given(manifest.clone(), "manifest"), true);
    let l = r.ladder.as_ref().unwrap();
    assert!(l.rungs.iter().all(|x| x.status != "skipped"));
    assert_eq!(l.first_divergence.as_ref().unwrap().name, "layer 3");
    assert!(l.rungs.iter().filter(|x| x.status == "fail").all(|x| x.hint.is_some()));
    let fails: Vec<&str> = l.rungs.iter().filter(|x| x.status == "fail").map(|x| x.name.as_str()).collect();
    assert_eq!(fails, ["layer 3", "layer 4", "layer 5", "final_norm", "logits", "ids"]);

    // The chart and the Markdown render; the SVG is well-formed XML.
    let svg = render::svg(l);
    let md = render::markdown(&r, Some("chart.svg"));
    assert!(md.contains("First divergence: rung 5 **layer 3**") && md.contains("later-layer"), "{md}");
    let svg_path = dir.path().join("chart.svg");
    std::fs::write(&svg_path, &svg).unwrap();
    let out = std::process::Command::new(&py)
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(len(list(r.iter('{http://www.w3.org/2000/svg}circle'))))",
        ])
        .arg(&svg_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "SVG does not parse: {}", String::from_utf8_lossy(&out.stderr));
    let circles: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(circles >= 12, "a point per rung and panel, got {circles}");
    // Same input, same bytes.
    let again = climb(dir.path(), "eps_layer3", LadderChoice::Given(manifest, "manifest"), true);
    assert_eq!(render::svg(again.ladder.as_ref().unwrap()), svg);
    assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&r).unwrap());
}
