//! `mlxport-package.json` as the release before the typed manifest wrote
//! it (a scaffold package, an mlx-lm package) reads back into
//! `PackageManifest` and re-serialises to the same bytes.

use std::path::Path;

use mlxport_contract::Target;
use mlxport_publish::package::{PackageManifest, MANIFEST};

#[test]
fn earlier_manifests_read_back_byte_for_byte() {
    for (name, target) in [("minilm-package.json", Target::Scaffold), ("smollm2-package.json", Target::MlxLm)] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let m = PackageManifest::parse(&text, &path).unwrap();
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), text, "{name}");
        assert_eq!(m.target, target);
        assert_eq!(m.package.is_some(), target == Target::Scaffold);
        assert!(!m.files.is_empty() && m.bytes() > 0 && m.smoke.status == "passed");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), &text).unwrap();
        assert_eq!(PackageManifest::read(dir.path()).unwrap(), m);
    }
    let e = PackageManifest::parse(r#"{"schema": "mlxport.report/v1"}"#, Path::new("pkg/mlxport-package.json")).unwrap_err();
    assert_eq!(e.to_string(), "pkg/mlxport-package.json: schema 'mlxport.report/v1' is not mlxport.package/v1");
}
