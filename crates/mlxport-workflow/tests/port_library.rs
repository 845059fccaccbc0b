//! A whole port run as a library call, with no command line: the default
//! model (all-MiniLM-L6-v2 from its package) through every step into a
//! PORT_DIR, then the same request again keeping every step.

use mlxport_contract::{Family, PortRecord, PortStatus, Step, StepStatus, Target};
use mlxport_workflow::port::{run, PortRequest};

#[test]
fn a_port_runs_without_clap_and_resumes() {
    let Some(py) = mlxport_testkit::python() else { return };
    // The harness finds the environment through MLXPORT_PYTHON, as the
    // binary does.
    std::env::set_var("MLXPORT_PYTHON", &py);
    let dir = mlxport_testkit::tempdir();
    let out = dir.path().join("minilm");
    let mut req = PortRequest::example("minilm");
    req.out = Some(out.clone());
    let first = run(&req).unwrap_or_else(|e| panic!("{}", e.chain()));
    let r = &first.record;
    assert_eq!(r.status, PortStatus::Complete, "{r:#?}");
    assert_eq!((r.family, r.target), (Some(Family::Encoder), Some(Target::Scaffold)));
    assert_eq!(r.step(Step::Parity).unwrap().status, StepStatus::Done);
    assert_eq!(r.step(Step::Quantize).unwrap().status, StepStatus::Skipped);
    assert!(first.kept.is_empty());
    // What it wrote is the record the contract reads.
    assert_eq!(&PortRecord::read(&out).unwrap(), r);
    let parity = mlxport_parity::ParityReport::read(&out.join("parity/parity.json")).unwrap();
    assert!(parity.passed());
    // The same request again keeps every step that ran.
    let second = run(&req).unwrap_or_else(|e| panic!("{}", e.chain()));
    let ran: Vec<Step> = r.steps.iter().filter(|s| s.status == StepStatus::Done).map(|s| s.name).collect();
    let mut kept = second.kept.clone();
    kept.sort_by_key(|s| s.number());
    assert_eq!(kept, ran);
    assert_eq!(second.record.steps, r.steps);
}
