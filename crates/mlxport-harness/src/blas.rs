//! An optimized BLAS for MLX on a Linux CPU.
//!
//! The `mlx-cpu` wheel bundles the unoptimized reference BLAS: a SmolLM2-135M
//! forward pass is about 20x slower than with OpenBLAS. Preloading the
//! system's OpenBLAS (`LD_PRELOAD`, for MLX subprocesses only) fixes that;
//! the harness checks once per run that it changes no result beyond float
//! tolerance (see `capture --blas-check`).

use std::path::PathBuf;

/// Where distributions put the pthread OpenBLAS that provides `libblas.so.3`.
const CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib64/libopenblasp.so.0",
    "/usr/lib64/libopenblas.so.0",
];

/// Why a BLAS is or is not preloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blas {
    /// Preload this library.
    Preload(PathBuf),
    /// Not preloading, and why.
    None(String),
}

impl Blas {
    /// `$MLXPORT_BLAS` (a path, or `none` to turn preloading off), else the
    /// first OpenBLAS found in the usual places. Only on Linux: macOS MLX
    /// uses Accelerate.
    pub fn detect() -> Blas {
        if let Some(v) = std::env::var_os("MLXPORT_BLAS") {
            let s = v.to_string_lossy();
            if s.is_empty() || s.eq_ignore_ascii_case("none") || s == "0" {
                return Blas::None("turned off by MLXPORT_BLAS".into());
            }
            let p = PathBuf::from(&v);
            return if p.is_file() { Blas::Preload(p) } else { Blas::None(format!("MLXPORT_BLAS={} is not a file", p.display())) };
        }
        if !cfg!(target_os = "linux") {
            return Blas::None("not Linux: MLX uses the platform BLAS".into());
        }
        for c in CANDIDATES {
            let p = PathBuf::from(c);
            if p.is_file() {
                return Blas::Preload(p);
            }
        }
        Blas::None("no OpenBLAS found (apt-get install libopenblas0-pthread); MLX on this CPU will be about 20x slower".into())
    }

    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Blas::Preload(p) => Some(p),
            Blas::None(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Blas::Preload(p) => format!("preloading {}", p.display()),
            Blas::None(why) => format!("no BLAS preload: {why}"),
        }
    }
}
