//! The pinned Python reference environment: finding it with the
//! skip-or-fail rule, and running snippets and scripts with it.
//!
//! The rule: `$MLXPORT_PYTHON`, else `<workspace>/.venv/bin/python` (made by
//! `scripts/python-env.sh`). When it is missing a test skips loudly outside
//! CI and fails under CI (`CI` set), because CI installs the environment and
//! a silent skip there would hide a lost check.

use std::ffi::OsStr;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether the tests run under CI (`CI` set, to anything).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Something a test needs is missing: under CI a failure (panic), elsewhere
/// a loud `*** SKIPPED: reason ***` on stderr; the caller then returns.
#[track_caller]
pub fn skip_or_fail(reason: impl Display) {
    if in_ci() {
        panic!("{reason} (CI is set, so this fails instead of skipping)");
    }
    eprintln!("\n*** SKIPPED: {reason} ***\n");
}

/// Where the reference interpreter should be: `$MLXPORT_PYTHON`, else the
/// workspace's `.venv/bin/python`. Not checked.
pub fn python_path() -> PathBuf {
    std::env::var_os("MLXPORT_PYTHON").map(PathBuf::from).unwrap_or_else(|| crate::workspace_root().join(".venv/bin/python"))
}

/// The reference interpreter when it exists; missing, [`skip_or_fail`]
/// and `None`:
///
/// ```ignore
/// let Some(py) = mlxport_testkit::python() else { return };
/// ```
#[track_caller]
pub fn python() -> Option<PathBuf> {
    let p = python_path();
    if p.exists() {
        return Some(p);
    }
    skip_or_fail(format_args!("reference Python environment missing at {}; run scripts/python-env.sh", p.display()));
    None
}

/// OpenBLAS for MLX subprocesses on Linux (MLX's bundled BLAS is about 20x
/// slower), when the system has it.
pub fn openblas() -> Option<PathBuf> {
    ["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3", "/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The directory of an installed package, found without importing it; a
/// package that is not installed fails the test.
pub fn package_dir(py: &Path, package: &str) -> PathBuf {
    let out = Py::code(py, "import importlib.util, sys; print(importlib.util.find_spec(sys.argv[1]).submodule_search_locations[0])").arg(package).stdout();
    PathBuf::from(out.trim())
}

/// The directory of an installed package, or — when it is not installed —
/// [`skip_or_fail`] and `None`.
#[track_caller]
pub fn installed_package_dir(py: &Path, package: &str) -> Option<PathBuf> {
    let out = Py::code(
        py,
        "import importlib.util, sys\ns = importlib.util.find_spec(sys.argv[1])\nprint(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')",
    )
    .arg(package)
    .stdout();
    let dir = out.trim();
    if dir.is_empty() {
        skip_or_fail(format_args!("package {package} is not installed in the reference environment {}; run scripts/python-env.sh", py.display()));
        return None;
    }
    Some(PathBuf::from(dir))
}

/// Run a Python snippet offline (see [`Py::offline`]) with arguments;
/// returns stdout, and panics with the code and stderr on failure.
pub fn run_py(py: &Path, code: &str, args: &[&str]) -> String {
    Py::code(py, code).args(args).offline().stdout()
}

/// One run of the reference interpreter: a snippet (`-c`) or a script, its
/// arguments and environment. Nothing is set unless asked for, so each test
/// keeps exactly the environment it had.
pub struct Py {
    cmd: Command,
    what: String,
}

impl Py {
    /// `python -c CODE`.
    pub fn code(py: &Path, code: &str) -> Py {
        let mut cmd = Command::new(py);
        cmd.arg("-c").arg(code);
        Py { cmd, what: code.to_string() }
    }

    /// `python SCRIPT`.
    pub fn script(py: &Path, script: &Path) -> Py {
        let mut cmd = Command::new(py);
        cmd.arg(script);
        Py { cmd, what: script.display().to_string() }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Py {
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Py {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Py {
        self.cmd.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Py {
        self.cmd.current_dir(dir);
        self
    }

    /// `HF_HUB_OFFLINE=1` and `TRANSFORMERS_OFFLINE=1`: the Hugging Face
    /// libraries never reach the network.
    pub fn offline(self) -> Py {
        self.env("HF_HUB_OFFLINE", "1").env("TRANSFORMERS_OFFLINE", "1")
    }

    /// Preload [`openblas`] when the system has it.
    pub fn openblas(self) -> Py {
        match openblas() {
            Some(b) => self.env("LD_PRELOAD", b),
            None => self,
        }
    }

    /// Run it and return the output, whatever the exit status.
    pub fn output(mut self) -> Output {
        self.cmd.output().unwrap_or_else(|e| panic!("spawn python for {}: {e}", self.what))
    }

    /// Run it; a failure panics with the snippet (or script) and stderr.
    /// Returns stdout.
    pub fn stdout(self) -> String {
        let what = self.what.clone();
        let out = self.output();
        if !out.status.success() {
            panic!("python failed ({}):\n{what}\n--- stderr ---\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("python printed non-UTF-8 for {what}: {e}"))
    }
}
