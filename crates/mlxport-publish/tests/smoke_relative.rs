//! The Python smoke test of a scaffold package given as a relative path
//! (`mlxport package PORT_DIR --out some/relative/dir`): Python runs inside
//! the package, so the package must be named to it absolutely.

use std::path::{Path, PathBuf};

use mlxport_contract::Target;
use mlxport_tensor::safetensors::{write_safetensors, TensorRef};

const LOAD: &str = r#"
import json, os
import mlx.core as mx

def load(path):
    json.load(open(os.path.join(path, "config.json")))
    return (lambda ids, attention_mask=None: ids.astype(mx.float32)), {}
"#;

/// `to` relative to the current directory.
fn relative(to: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    let to = to.canonicalize().unwrap();
    let common = cwd.components().zip(to.components()).take_while(|(a, b)| a == b).count();
    let mut rel: PathBuf = cwd.components().skip(common).map(|_| "..").collect();
    rel.extend(to.components().skip(common));
    rel
}

#[test]
fn a_relative_package_directory_passes_the_python_smoke_test() {
    let Ok(env) = mlxport_harness::env::PythonEnv::locate() else {
        eprintln!("no Python environment: skipped");
        return;
    };
    let ok = std::process::Command::new(env.python()).args(["-c", "import mlx.core"]).status().is_ok_and(|s| s.success());
    if !ok {
        eprintln!("no mlx in {}: skipped", env.python().display());
        return;
    }
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = tmp.path().join("pkg");
    std::fs::create_dir_all(dir.join("fakepkg")).unwrap();
    std::fs::write(dir.join("fakepkg/__init__.py"), "").unwrap();
    std::fs::write(dir.join("fakepkg/load.py"), LOAD).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    let data: Vec<u8> = [0.5f32, 1.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let t = TensorRef { name: "w", dtype: mlxport_tensor::DType::F32, shape: &[2], data: &data };
    write_safetensors(&dir.join("model.safetensors"), &[t], None).unwrap();
    let rel = relative(&dir);
    assert!(rel.is_relative(), "{}", rel.display());
    let s = mlxport_publish::smoke::run(&rel, Target::Scaffold, Some("fakepkg"), true).unwrap();
    assert_eq!(s.python, "passed", "{s:?}");
    assert_eq!(s.status, "passed");
    assert!(s.checks.iter().any(|c| c.contains("fakepkg.load.load (strict)")), "{s:?}");
}
