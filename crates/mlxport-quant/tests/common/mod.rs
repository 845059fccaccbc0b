//! Helpers for the integration tests: the pinned Python reference
//! environment and a seeded generator.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// The reference Python interpreter: `$MLXPORT_PYTHON`, else the project's
/// `.venv`. Outside CI a missing environment skips the test loudly; under CI
/// (`CI` set) it fails the test.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("MLXPORT_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("reference Python environment missing at {} (run scripts/python-env.sh)", p.display());
    }
    eprintln!("\n*** SKIPPED: reference Python environment missing at {}; run scripts/python-env.sh ***\n", p.display());
    None
}

/// Run a Python script file with arguments; panics with its stderr on failure.
pub fn run_script(py: &Path, script: &Path, args: &[&Path]) -> String {
    let out = Command::new(py).arg(script).args(args).output().expect("spawn python");
    if !out.status.success() {
        panic!("python {} failed ({}):\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SplitMix64: a small seeded generator, so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
