//! `parity/parity.json` as the release before the typed report wrote it
//! (an encoder proven on its generated package, a decoder on mlx-lm) reads
//! back into `ParityReport` and re-serialises to the same bytes: the
//! artifact hashes `port.json` records do not change, and `parity.md`
//! renders from it as it was written.

use std::path::Path;

use mlxport_parity::parity_report::{markdown_of, ConfigStatus, TargetKind};
use mlxport_parity::{ParityFile, ParityReport, RungStatus, Status};

fn fixture(name: &str) -> (String, std::path::PathBuf) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parity-v1").join(name);
    (std::fs::read_to_string(&p).unwrap(), p)
}

#[test]
fn earlier_reports_read_back_byte_for_byte() {
    for (name, kind, rungs) in [("minilm-scaffold.json", TargetKind::Package, 10), ("smollm2-mlx-lm.json", TargetKind::MlxLm, 35)] {
        let (text, path) = fixture(name);
        let r = ParityReport::parse(&text, &path).unwrap();
        assert_eq!(r.to_json(), text, "{name} re-serialises to the same bytes");
        assert_eq!(r.target.kind, kind);
        assert_eq!(r.status, Status::Pass);
        assert!(r.ladder.rungs.len() >= rungs, "{name}: {} rungs", r.ladder.rungs.len());
        assert!(r.ladder.rungs.iter().all(|x| x.status == RungStatus::Pass), "{name}");
        assert!(r.config.iter().all(|c| c.status != ConfigStatus::Differs));
        assert!(r.compare.as_ref().is_some_and(|c| c.summary.pairs > 0 && c.summary.failed == 0));
        let (md, _) = fixture(&name.replace(".json", ".md"));
        assert_eq!(markdown_of(&r), md, "{name}: parity.md from the report read back");
        let f = ParityFile::parse(&text, &path).unwrap();
        assert!(matches!(f, ParityFile::Parity(_)) && f.status() == Status::Pass && f.summary().is_some() && !f.pairs().is_empty());
    }
}

#[test]
fn a_comparison_report_is_a_parity_file_too_and_other_schemas_are_refused() {
    let (text, path) = fixture("minilm-scaffold.json");
    let r = ParityReport::parse(&text, &path).unwrap();
    let compare = serde_json::to_string_pretty(r.compare.as_ref().unwrap()).unwrap();
    let f = ParityFile::parse(&compare, Path::new("parity/parity.json")).unwrap();
    assert!(matches!(f, ParityFile::Compare(_)));
    assert_eq!(f.ladder().map(|l| l.rungs.len()), r.compare.as_ref().unwrap().ladder.as_ref().map(|l| l.rungs.len()));
    let e = ParityFile::parse(r#"{"schema": "mlxport.quality/v1"}"#, Path::new("parity/parity.json")).unwrap_err();
    assert_eq!(e.to_string(), "parity/parity.json: schema 'mlxport.quality/v1' is not mlxport.parity/v1 or mlxport.compare/v1");
    let e = ParityReport::parse(&text.replace("\"kind\": \"package\"", "\"kind\": \"tpu\""), Path::new("p.json")).unwrap_err();
    assert!(e.to_string().starts_with("p.json: not a valid mlxport.parity/v1 document: unknown variant `tpu`"), "{e}");
}

#[test]
fn non_finite_figures_survive_the_round_trip() {
    let (text, path) = fixture("smollm2-mlx-lm.json");
    let mut r = ParityReport::parse(&text, &path).unwrap();
    let c = r.compare.as_mut().unwrap();
    let p = c.pairs.iter_mut().find(|p| p.float.is_some()).unwrap();
    let f = p.float.as_mut().unwrap();
    f.rel_floor = f64::NAN;
    f.allclose.atol = f64::INFINITY;
    f.max_abs = Some(f64::NAN);
    p.tolerance.rtol = f64::NAN;
    let once = r.to_json();
    let back = ParityReport::parse(&once, &path).unwrap();
    assert_eq!(back.to_json(), once);
}
