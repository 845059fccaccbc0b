//! `port.json` files written by the release before the typed contract (the
//! default MiniLM port and the SmolLM2 example, as `mlxport port` wrote
//! them) load into `PortRecord` and write back to the same bytes.

use std::path::Path;

use mlxport_contract::{Dtype, Family, PortRecord, PortStatus, Step, StepStatus, Target};

fn load(name: &str) -> (String, PortRecord) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let r = PortRecord::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    (text, r)
}

#[test]
fn minilm_port_json_of_the_previous_release() {
    let (text, r) = load("port-v1-minilm.json");
    assert_eq!((r.family, r.target, r.dtype, r.status), (Some(Family::Encoder), Some(Target::Scaffold), Dtype::Keep, PortStatus::Complete));
    assert_eq!(r.model_type.as_deref(), Some("bert"));
    assert_eq!(r.steps.len(), Step::ALL.len());
    // That release listed the oracle third (its contract order); a record
    // read back keeps the file's order, and every step is there.
    let mut names = r.steps.iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names[2], Step::Oracle);
    names.sort();
    assert_eq!(names, Step::ALL);
    assert_eq!(r.step(Step::Quantize).unwrap().status, StepStatus::Skipped);
    assert!(r.step(Step::Parity).unwrap().artifacts.iter().any(|a| a.path == "parity/parity.json"));
    let mut back = serde_json::to_string_pretty(&r).unwrap();
    back.push('\n');
    assert_eq!(back, text, "written back byte for byte");
}

#[test]
fn smollm2_port_json_of_the_previous_release() {
    let (text, r) = load("port-v1-smollm2.json");
    assert_eq!((r.family, r.target, r.status), (Some(Family::DenseDecoder), Some(Target::MlxLm), PortStatus::Complete));
    assert_eq!(r.step(Step::Scaffold).unwrap().status, StepStatus::Skipped);
    assert_eq!(r.step(Step::Oracle).unwrap().status, StepStatus::Done);
    let mut back = serde_json::to_string_pretty(&r).unwrap();
    back.push('\n');
    assert_eq!(back, text, "written back byte for byte");
}
