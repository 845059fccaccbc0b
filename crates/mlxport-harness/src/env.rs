//! The project's Python reference environment (see scripts/python-env.sh):
//! where it is and what it holds. Commands that need real reference models
//! or libraries find them here.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct PythonEnv {
    root: PathBuf,
}

impl PythonEnv {
    /// `$MLXPORT_VENV`, else the environment of `$MLXPORT_PYTHON` (the
    /// interpreter the test suite uses), else a `.venv` in the current
    /// directory or one of its parents, else the one beside this build's
    /// workspace.
    pub fn locate() -> Result<Self> {
        if let Some(v) = std::env::var_os("MLXPORT_VENV") {
            let root = PathBuf::from(v);
            if root.join("bin/python").exists() {
                return Ok(PythonEnv { root });
            }
            return Err(Error::PythonMissing(format!("MLXPORT_VENV={} holds no bin/python", root.display())));
        }
        if let Some(p) = std::env::var_os("MLXPORT_PYTHON") {
            let root = PathBuf::from(&p).parent().and_then(Path::parent).map(Path::to_path_buf);
            match root {
                Some(r) if r.join("bin/python").exists() => return Ok(PythonEnv { root: r }),
                _ => return Err(Error::PythonMissing(format!("MLXPORT_PYTHON={} is not the bin/python of a virtual environment", PathBuf::from(p).display()))),
            }
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(|a| a.join(".venv")));
        }
        if let Some(ws) = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2) {
            candidates.push(ws.join(".venv"));
        }
        for c in candidates {
            if c.join("bin/python").exists() && c.join(".mlxport-stamp").exists() {
                return Ok(PythonEnv { root: c });
            }
        }
        Err(Error::PythonMissing("the project's Python environment was not found; create it with scripts/python-env.sh (or set MLXPORT_VENV)".into()))
    }

    /// The environment's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn python(&self) -> PathBuf {
        self.root.join("bin/python")
    }

    /// The directory of an installed package, found without importing it.
    pub fn package_dir(&self, package: &str) -> Result<PathBuf> {
        let lib = self.root.join("lib");
        if let Ok(rd) = std::fs::read_dir(&lib) {
            for e in rd.flatten() {
                let d = e.path().join("site-packages").join(package);
                if d.is_dir() {
                    return Ok(d);
                }
            }
        }
        Err(Error::LibraryMissing { package: package.into(), env: self.root.clone() })
    }
}
