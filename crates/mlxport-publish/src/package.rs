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

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::card::{self, CardInput};
use crate::license::{self, License};
use crate::portdir::{sha256_file, PortDir};
use crate::scan;
use crate::smoke::{self, Smoke};
use crate::Refused;

pub const PACKAGE_SCHEMA: &str = "mlxport.package/v1";
pub const MANIFEST: &str = "mlxport-package.json";

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
    pub manifest: Value,
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
    for rel in scan::files(from).with_context(|| format!("{}: cannot list", from.display()))? {
        if skip(&rel) {
            continue;
        }
        let dst = to.join(&rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
        }
        std::fs::copy(from.join(&rel), &dst).with_context(|| format!("cannot copy {} to {}", from.join(&rel).display(), dst.display()))?;
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
    if let Some(m) = p.str_at("/source/model").filter(|m| is_absolute_like(m)) {
        l.push(m.to_string());
    }
    l
}

pub fn package(port_dir: &Path, out: &Path, opts: &Options) -> Result<Packaged> {
    let p = PortDir::open(port_dir)?;
    let lic = license::gate(&p.inspection, opts.accept_license)?;
    let Some(weights) = p.weights_dir() else {
        bail!("{}: no converted checkpoint (weights/config.json; the convert step writes it)", port_dir.display());
    };
    let target = p.target().to_string();
    if target != "mlx-lm" && target != "scaffold" {
        bail!("{}: target '{target}' is neither mlx-lm nor scaffold", port_dir.join("port.json").display());
    }
    let pkg_name = if target == "scaffold" {
        let sc = p.scaffold.as_ref().with_context(|| format!("{}: a scaffold target without scaffold/mlxport_scaffold.json", port_dir.display()))?;
        let name = sc["package"].as_str().unwrap_or("scaffold").to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.starts_with(|c: char| c.is_ascii_digit()) {
            bail!("{}: package name '{name}' is not a Python identifier", port_dir.join("scaffold/mlxport_scaffold.json").display());
        }
        Some(name)
    } else {
        None
    };
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{}: refusing to overwrite an existing, non-empty output directory", out.display());
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
    let tmp =
        parent.join(format!(".{}.tmp{}", out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "package".into()), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    let result = build(&p, &weights, &tmp, &target, pkg_name.as_deref(), lic, opts);
    match result {
        Ok(mut done) => {
            if out.exists() {
                std::fs::remove_dir(out).with_context(|| format!("{}: cannot replace the empty directory", out.display()))?;
            }
            std::fs::rename(&tmp, out).with_context(|| format!("cannot move the package into {}", out.display()))?;
            done.out = out.to_path_buf();
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn build(p: &PortDir, weights: &Path, dir: &Path, target: &str, pkg: Option<&str>, lic: License, opts: &Options) -> Result<Packaged> {
    copy_tree(weights, dir, &skipped)?;
    let conv = dir.join("mlxport-conversion.json");
    if conv.is_file() {
        let mut v = crate::portdir::read_json(&conv)?;
        sanitize_conversion(&mut v);
        std::fs::write(&conv, to_pretty(&v))?;
    }
    if let Some(name) = pkg {
        copy_tree(&p.root.join("scaffold"), &dir.join(name), &|r: &Path| {
            let s = r.to_string_lossy();
            s.contains("__pycache__") || s.ends_with(".pyc")
        })?;
    }
    let smoke = smoke::run(dir, target, pkg, !opts.no_python_smoke)?;
    // The smoke test may leave bytecode behind; it is not part of the package.
    remove_bytecode(dir)?;
    if smoke.status != "passed" {
        return Err(Refused(format!("smoke test failed on the written package: {}", smoke.python)).into());
    }
    let quantization = crate::portdir::read_json(&dir.join("config.json"))?.get("quantization").filter(|q| q.is_object()).cloned();
    let mut files = Vec::new();
    for rel in scan::files(dir)? {
        let name = rel.to_string_lossy().replace('\\', "/");
        let (h, b) = sha256_file(&dir.join(&rel))?;
        files.push((name, h, b));
    }
    let card_text = card::render(p, &CardInput { license: &lic, smoke: &smoke, files: &files, package: pkg, quantization: quantization.clone() });
    std::fs::write(dir.join("README.md"), &card_text)?;
    let (repo, revision) = card::base_model(p);
    let manifest = json!({
        "schema": PACKAGE_SCHEMA,
        "tool": {"name": "mlxport", "version": env!("CARGO_PKG_VERSION")},
        "source": {"model": card::source_name(p), "repo": repo, "revision": revision, "fingerprint": p.fingerprint()},
        "target": target,
        "package": pkg,
        "quantization": quantization,
        "license": lic,
        "parity": p.parity.as_ref().map(|x| json!({"status": x["status"], "summary": x["summary"]})),
        "smoke": smoke,
        "files": files.iter().map(|(f, h, b)| json!({"path": f, "sha256": h, "bytes": b})).collect::<Vec<_>>(),
        "readme_sha256": crate::portdir::hex(&<sha2::Sha256 as sha2::Digest>::digest(card_text.as_bytes())),
    });
    std::fs::write(dir.join(MANIFEST), to_pretty(&manifest))?;
    let findings = scan::scan_dir(dir, &literals(p))?;
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().take(20).map(|f| format!("  {f}")).collect();
        return Err(Refused(format!(
            "the package would leak local paths or secrets ({} finding{}); nothing was written:\n{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            list.join("\n")
        ))
        .into());
    }
    Ok(Packaged { out: dir.to_path_buf(), manifest, license: lic, smoke })
}

fn remove_bytecode(dir: &Path) -> Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                if e.file_name() == "__pycache__" {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "pyc") {
                std::fs::remove_file(&path)?;
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
