//! `mlxport skill render` and `mlxport skill install`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use mlxport_skill::install::{self, Manifest, Mode};

use crate::cli::{SkillCommand, SkillInstallArgs, SkillRenderArgs};

pub fn run(cmd: SkillCommand) -> Result<u8> {
    match cmd {
        SkillCommand::Render(a) => render(a),
        SkillCommand::Install(a) => install_cmd(a),
    }
}

fn render(args: SkillRenderArgs) -> Result<u8> {
    let root = super::audit::find_root(args.root.as_deref())?;
    let kb = mlxport_skill::audit::load_kb(&root).map_err(anyhow::Error::msg)?;
    let skill_dir = root.join("skill");
    let skill_md = std::fs::read_to_string(skill_dir.join("SKILL.md")).with_context(|| format!("{}", skill_dir.join("SKILL.md").display()))?;
    if args.check {
        let tmp = scratch_dir()?;
        let r = mlxport_skill::render_into(&tmp, &kb, &skill_md);
        let result = r.map(|_| compare_dirs(&tmp, &skill_dir));
        let _ = std::fs::remove_dir_all(&tmp);
        let stale = result?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({"current": stale.is_empty(), "stale": stale}))?);
        } else if stale.is_empty() {
            println!("skill/reference and skill/manifest.json are current");
        } else {
            println!("out of date (run `mlxport skill render`):");
            for s in &stale {
                println!("  {s}");
            }
        }
        return Ok(if stale.is_empty() { crate::exit::OK } else { crate::exit::CHECK_FAILED });
    }
    let r = mlxport_skill::render_into(&skill_dir, &kb, &skill_md).with_context(|| format!("writing {}", skill_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{} written, {} removed, {} unchanged in {}", r.written.len(), r.removed.len(), r.unchanged, skill_dir.display());
        for p in &r.written {
            println!("  wrote {p}");
        }
        for p in &r.removed {
            println!("  removed {p}");
        }
    }
    Ok(crate::exit::OK)
}

fn scratch_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("mlxport-skill-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    Ok(base)
}

/// Generated files that differ between a fresh render and the tree.
fn compare_dirs(fresh: &std::path::Path, tree: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let (want, _) = install::walk(fresh).unwrap_or_default();
    for f in &want {
        if std::fs::read(fresh.join(f)).ok() != std::fs::read(tree.join(f)).ok() {
            out.push(f.clone());
        }
    }
    if let Ok((have, other)) = install::walk(&tree.join("reference")) {
        for f in have.into_iter().chain(other) {
            let p = format!("reference/{f}");
            if !want.contains(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn home() -> Result<PathBuf> {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h)),
        None => bail!("HOME is not set; pass --dest DIR"),
    }
}

fn install_cmd(args: SkillInstallArgs) -> Result<u8> {
    let parent = match (&args.client, &args.dest) {
        (Some(c), None) => {
            let client = install::client(c).with_context(|| format!("unknown client '{c}'"))?;
            home()?.join(client.dir)
        }
        (None, Some(d)) => d.clone(),
        _ => bail!("give --client or --dest"),
    };
    let files = mlxport_skill::files(mlxport_kb::kb());
    let expected = Manifest::of(&files);
    let target = parent.join(mlxport_skill::SKILL_NAME);
    if args.check {
        let r = install::check(&target, Some(&expected));
        if args.json {
            let mut v = serde_json::to_value(&r)?;
            v["ok"] = r.ok().into();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            if let Some(e) = &r.error {
                println!("{}: {e}", target.display());
            }
            for (what, list) in [("modified", &r.modified), ("missing", &r.missing), ("extra", &r.extra), ("outdated", &r.outdated)] {
                for f in list {
                    println!("{what:<9} {f}");
                }
            }
            if r.ok() {
                println!("{}: {} files match the manifest and this build's skill", target.display(), expected.files.len());
            } else {
                println!("{}: check FAILED", target.display());
            }
        }
        return Ok(if r.ok() { crate::exit::OK } else { crate::exit::CHECK_FAILED });
    }
    let mode = if args.mode == "symlink" { Mode::Symlink } else { Mode::Copy };
    let store = install::default_store(&home().unwrap_or_else(|_| parent.clone()));
    let outcome = install::install(&files, &parent, mode, &store).map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        match &outcome.store {
            Some(s) => println!("{}: {} ({} files; symbolic link to {s})", outcome.path, outcome.action, outcome.files),
            None => println!("{}: {} ({} files and manifest.json)", outcome.path, outcome.action, outcome.files),
        }
    }
    Ok(crate::exit::OK)
}
