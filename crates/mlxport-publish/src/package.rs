//! `package`: a publishable MLX model folder from a PORT_DIR.
//!
//! The folder holds the converted checkpoint (the quantized one when the
//! port made one) with its config, tokenizer, processor, generation files
//! and chat template; for scaffold targets the generated Python package; a
//! model card (`README.md`, see [`crate::card`]); and `mlxport-package.json`
//! listing every file with its SHA-256. It is written beside the output
//! and renamed into place only after the smoke test ran and the scan for
//! local paths and secrets found nothing, so a refused package leaves
//! nothing behind. The same PORT_DIR gives the same bytes.

use std::path::{Path, PathBuf};

use mlxport_contract::port::Tool;
use mlxport_contract::{Artifact, DocumentError, Target};
use mlxport_parity::report::Summary;
use mlxport_parity::Status;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::card::{self, CardInput};
use crate::error::{io, Error, Result};
use crate::license::{self, License};
use crate::portdir::{sha256_file, PortDir};
use crate::scan;
use crate::smoke::{self, Smoke};

pub const PACKAGE_SCHEMA: &str = "mlxport.package/v1";
pub const MANIFEST: &str = "mlxport-package.json";

/// `mlxport-package.json` (schema `mlxport.package/v1`): what the package
/// holds and how it was checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageManifest {
    pub schema: String,
    pub tool: Tool,
    pub source: PackageSource,
    pub target: Target,
    /// The scaffold package's directory name (scaffold targets).
    pub package: Option<String>,
    /// The checkpoint's `quantization` entry of config.json, when quantized.
    pub quantization: Option<Value>,
    pub license: License,
    pub parity: Option<PackageParity>,
    pub smoke: Smoke,
    /// Every file of the package but the card and this manifest.
    pub files: Vec<Artifact>,
    /// SHA-256 of the card (`README.md`).
    pub readme_sha256: String,
}

/// The base model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageSource {
    pub model: String,
    /// Hugging Face repository and revision, when known.
    pub repo: Option<String>,
    pub revision: Option<String>,
    pub fingerprint: Option<String>,
}

/// The parity verdict of the port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageParity {
    pub status: Status,
    /// The tensor pairs compared, when the comparison ran.
    pub summary: Option<Summary>,
}

impl PackageManifest {
    /// Parse a manifest; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<PackageManifest, DocumentError> {
        mlxport_contract::document::parse(text, path, &[PACKAGE_SCHEMA])
    }

    /// Read `DIR/mlxport-package.json`.
    pub fn read(dir: &Path) -> Result<PackageManifest, DocumentError> {
        mlxport_contract::document::read(&dir.join(MANIFEST), &[PACKAGE_SCHEMA])
    }

    /// The manifest as written: pretty JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("a package manifest serialises");
        b.push(b'\n');
        b
    }

    /// Bytes of the listed files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub accept_license: bool,
    /// Skip the Python part of the smoke test (the static checks always run).
    pub no_python_smoke: bool,
}

/// What was written.
#[derive(Debug)]
pub struct Packaged {
    pub out: PathBuf,
    pub manifest: PackageManifest,
    pub license: License,
    pub smoke: Smoke,
}

/// Files of a converted checkpoint that are not copied: the card is
/// replaced by ours.
fn skipped(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    s == "README.md" || s.contains("__pycache__") || s.ends_with(".pyc") || rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
}

/// Copy every file under `from` (relative paths kept) into `to`, except
/// those `skip` names.
pub fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<()> {
    for rel in scan::files(from).map_err(io(from, "cannot list"))? {
        if skip(&rel) {
            continue;
        }
        let dst = to.join(&rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent, "cannot create"))?;
        }
        let src = from.join(&rel);
        std::fs::copy(&src, &dst).map_err(|source| Error::Io { message: format!("cannot copy {} to {}", src.display(), dst.display()), path: src, source })?;
    }
    Ok(())
}

fn is_absolute_like(a: &str) -> bool {
    a.starts_with('/')
        || a.starts_with('~')
        || a.starts_with("\\\\")
        || (a.len() > 2 && a.as_bytes()[1] == b':' && (a.as_bytes()[2] == b'\\' || a.as_bytes()[2] == b'/'))
}

/// The conversion manifest with the machine's paths in its command line
/// replaced by the names the card's recipe uses.
fn sanitize_conversion(v: &mut Value) {
    if let Some(cmd) = v.get_mut("command").and_then(Value::as_array_mut) {
        let mut prev = String::new();
        for a in cmd.iter_mut() {
            let s = a.as_str().unwrap_or("").to_string();
            if is_absolute_like(&s) {
                *a = Value::String(
                    match prev.as_str() {
                        "convert" => "MODEL",
                        "--map" => "weight_map.json",
                        _ => "PATH",
                    }
                    .into(),
                );
            }
            prev = s;
        }
    }
}

/// Absolute paths of this machine that must not appear in the output.
fn literals(p: &PortDir) -> Vec<String> {
    let mut l = Vec::new();
    // Home directories are caught by the scan's rules; these are the
    // specific directories this run worked in (two components at least, so
    // a short path like `/srv` cannot match ordinary text).
    for d in [Some(p.root.clone()), std::env::current_dir().ok()] {
        let Some(d) = d else { continue };
        for x in [d.canonicalize().ok(), Some(d.clone())].into_iter().flatten() {
            let s = x.display().to_string();
            if x.is_absolute() && x.components().count() > 2 && !l.contains(&s) {
                l.push(s);
            }
        }
    }
    let m = &p.port.source.model;
    if is_absolute_like(m) {
        l.push(m.clone());
    }
    l
}

pub fn package(port_dir: &Path, out: &Path, opts: &Options) -> Result<Packaged> {
    let p = PortDir::open(port_dir)?;
    let lic = license::gate(&p.inspection, opts.accept_license)?;
    let Some(weights) = p.weights_dir() else {
        return Err(Error::invalid(port_dir, "no converted checkpoint (weights/config.json; the convert step writes it)"));
    };
    let target = p.target();
    let pkg_name = if target == Target::Scaffold {
        let Some(sc) = p.scaffold.as_ref() else {
            return Err(Error::invalid(port_dir, "a scaffold target without scaffold/mlxport_scaffold.json"));
        };
        let name = sc["package"].as_str().unwrap_or("scaffold").to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::invalid(port_dir.join("scaffold/mlxport_scaffold.json"), format!("package name '{name}' is not a Python identifier")));
        }
        Some(name)
    } else {
        None
    };
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::invalid(out, "refusing to overwrite an existing, non-empty output directory"));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent, "cannot create"))?;
    let tmp =
        parent.join(format!(".{}.tmp{}", out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "package".into()), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(io(&tmp, "cannot create"))?;
    let result = build(&p, &weights, &tmp, target, pkg_name.as_deref(), lic, opts);
    match result {
        Ok(mut done) => {
            if out.exists() {
                std::fs::remove_dir(out).map_err(io(out, "cannot replace the empty directory"))?;
            }
            std::fs::rename(&tmp, out).map_err(|source| Error::Io {
                path: out.to_path_buf(),
                message: format!("cannot move the package into {}", out.display()),
                source,
            })?;
            done.out = out.to_path_buf();
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn build(p: &PortDir, weights: &Path, dir: &Path, target: Target, pkg: Option<&str>, lic: License, opts: &Options) -> Result<Packaged> {
    copy_tree(weights, dir, &skipped)?;
    let conv = dir.join("mlxport-conversion.json");
    if conv.is_file() {
        let mut v = crate::portdir::read_json(&conv)?;
        sanitize_conversion(&mut v);
        std::fs::write(&conv, to_pretty(&v)).map_err(io(&conv, "cannot write"))?;
    }
    if let Some(name) = pkg {
        copy_tree(&p.root.join("scaffold"), &dir.join(name), &|r: &Path| {
            let s = r.to_string_lossy();
            s.contains("__pycache__") || s.ends_with(".pyc")
        })?;
        // The serving switches `optimize` kept: the package's defaults.
        let serving = p.root.join("optimize/serving.json");
        if serving.is_file() {
            let to = dir.join(name).join("serving.json");
            std::fs::copy(&serving, &to).map_err(io(&to, "cannot write"))?;
        }
    }
    // The source's own card ships unchanged beside ours (the scan below
    // reads it like every other file).
    if let Some(text) = &p.source_card {
        let to = dir.join(crate::source_card::PACKAGE_PATH);
        std::fs::write(&to, text).map_err(io(&to, "cannot write"))?;
    }
    let smoke = smoke::run(dir, target, pkg, !opts.no_python_smoke)?;
    // The smoke test may leave bytecode behind; it is not part of the package.
    remove_bytecode(dir)?;
    if smoke.status != "passed" {
        return Err(Error::Refused(format!("smoke test failed on the written package: {}", smoke.python)));
    }
    let quantization = crate::portdir::read_json(&dir.join("config.json"))?.get("quantization").filter(|q| q.is_object()).cloned();
    let mut files = Vec::new();
    for rel in scan::files(dir).map_err(io(dir, "cannot list"))? {
        let name = rel.to_string_lossy().replace('\\', "/");
        let (h, b) = sha256_file(&dir.join(&rel))?;
        files.push((name, h, b));
    }
    let card_text = card::render(p, &CardInput { license: &lic, smoke: &smoke, files: &files, package: pkg, quantization: quantization.clone() });
    std::fs::write(dir.join("README.md"), &card_text).map_err(io(&dir.join("README.md"), "cannot write"))?;
    let (repo, revision) = card::base_model(p);
    let manifest = PackageManifest {
        schema: PACKAGE_SCHEMA.into(),
        tool: Tool { name: "mlxport".into(), version: env!("CARGO_PKG_VERSION").into() },
        source: PackageSource { model: card::source_name(p), repo, revision, fingerprint: p.fingerprint().map(str::to_string) },
        target,
        package: pkg.map(str::to_string),
        quantization,
        license: lic.clone(),
        parity: p.parity.as_ref().map(|x| PackageParity { status: x.status(), summary: x.summary().cloned() }),
        smoke: smoke.clone(),
        files: files.into_iter().map(|(path, sha256, bytes)| Artifact { path, sha256, bytes }).collect(),
        readme_sha256: crate::portdir::hex(&<sha2::Sha256 as sha2::Digest>::digest(card_text.as_bytes())),
    };
    std::fs::write(dir.join(MANIFEST), manifest.to_json()).map_err(io(&dir.join(MANIFEST), "cannot write"))?;
    let findings = scan::scan_dir(dir, &literals(p)).map_err(io(dir, "cannot scan"))?;
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().take(20).map(|f| format!("  {f}")).collect();
        return Err(Error::Refused(format!(
            "the package would leak local paths or secrets ({} finding{}); nothing was written:\n{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            list.join("\n")
        )));
    }
    Ok(Packaged { out: dir.to_path_buf(), manifest, license: lic, smoke })
}

fn remove_bytecode(dir: &Path) -> Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io(&d, "cannot list"))? {
            let e = e.map_err(io(&d, "cannot list"))?;
            let path = e.path();
            if e.file_type().map_err(io(&path, "cannot stat"))?.is_dir() {
                if e.file_name() == "__pycache__" {
                    std::fs::remove_dir_all(&path).map_err(io(&path, "cannot remove"))?;
                } else {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "pyc") {
                std::fs::remove_file(&path).map_err(io(&path, "cannot remove"))?;
            }
        }
    }
    Ok(())
}

/// Pretty JSON with a final newline.
pub fn to_pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}
