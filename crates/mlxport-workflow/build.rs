//! Embeds the parity matrix's spec files (`python/matrix/*.json`) into the
//! binary, sorted by file name, so `mlxport parity matrix` runs anywhere.

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../python/matrix");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect()).unwrap_or_default();
    files.sort();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("matrix_specs.rs");
    let mut f = std::fs::File::create(&out).expect("writing matrix_specs.rs");
    writeln!(f, "/// The matrix spec files: (file name, contents).\npub const SPECS: &[(&str, &str)] = &[").unwrap();
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let name = p.file_name().unwrap().to_string_lossy();
        let abs = std::fs::canonicalize(p).expect("spec path");
        writeln!(f, "    ({name:?}, include_str!({:?})),", abs.display().to_string()).unwrap();
    }
    writeln!(f, "];").unwrap();
}
