//! Step `optimize` of `mlxport port` (asked for with `--optimize`): the
//! optimization loop of `mlxport optimize` run on the port's converted
//! float weights. Every candidate is made from `weights/`, gated against
//! it (encoders through the port's scaffolded package) and benchmarked,
//! then kept or reverted; the chosen one becomes `optimize/chosen/`, the
//! checkpoint `package` ships. The records, receipts and quality reports
//! land in `optimize/` with PORT_DIR-relative paths.
//!
//! The loop works in `PORT_DIR/.optimize-work/`, which outlives an
//! interrupted run: a re-run reuses every candidate finished with the same
//! inputs instead of measuring it again.

use std::path::Path;

use crate::error::{Context, Result};
use serde_json::{json, Value};

use mlxport_contract::Step;
use mlxport_quality::Thresholds;

use super::{Ctx, Flow, Outcome, PortRequest};
use crate::optimize::gate::{EncoderSettings, LmSettings};
use crate::optimize::{BenchSettings, Candidate, OptimizeRequest};

/// The loop's working directory inside PORT_DIR (hidden: not an artifact).
pub const WORK: &str = ".optimize-work";

/// What the step leaves in `optimize/` (the rest of the work directory,
/// reverted checkpoints and scratch, stays behind).
const KEPT: &[&str] = &["OPTIMIZATIONS.md", "optimize.json", "receipts", "quality", "records", "validated", "serving.json"];

/// Refuse bad options before any step runs.
pub fn check(a: &PortRequest) -> Result<()> {
    if !a.optimize {
        return Ok(());
    }
    if let Some(list) = &a.optimize_candidates {
        Candidate::parse_list(list).context("--optimize-candidates")?;
    }
    if let Some(list) = &a.optimize_serving {
        crate::optimize::serving::Candidate::parse_list(list, 16).context("--optimize-serving")?;
    }
    super::optional::check_gate_and_bench(a)
}

/// Not asked for: recorded as skipped, an earlier run's `optimize/` removed
/// (the package would ship its chosen checkpoint).
pub fn not_requested(ctx: &mut Ctx) -> Result<()> {
    let stale = ctx.dir.join("optimize");
    if stale.is_dir() {
        std::fs::remove_dir_all(&stale).with_context(|| format!("removing {}", stale.display()))?;
    }
    ctx.skip(Step::Optimize, "not requested (--optimize runs it)")
}

fn command_line(a: &PortRequest) -> Vec<String> {
    let mut c: Vec<String> = ["mlxport", "port", "--dtype", a.dtype.as_str(), "--optimize", "--optimize-objective", a.optimize_objective.as_str()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(l) = &a.optimize_candidates {
        c.extend(["--optimize-candidates".into(), l.clone()]);
    }
    if let Some(l) = &a.optimize_serving {
        c.extend(["--optimize-serving".into(), l.clone()]);
    }
    if let Some(t) = &a.quality_thresholds {
        c.extend(["--quality-thresholds".into(), t.clone()]);
    }
    c
}

fn request(ctx: &Ctx) -> Result<OptimizeRequest> {
    let a = ctx.req;
    let mut thresholds = Thresholds::default();
    if let Some(t) = &a.quality_thresholds {
        thresholds.apply(t).context("--quality-thresholds")?;
    }
    let scaffold = ctx.dir.join("scaffold");
    let package = scaffold.join("__init__.py").is_file().then_some(scaffold);
    let bench = BenchSettings { prompt_tokens: a.bench_prompt_tokens.clone(), gen_tokens: a.bench_gen_tokens, runs: a.bench_runs, ..BenchSettings::default() };
    let serving = a
        .optimize_serving
        .as_deref()
        .map(|l| crate::optimize::serving::Candidate::parse_list(l, crate::optimize::serving::chunk_for(&bench)))
        .transpose()
        .context("--optimize-serving")?;
    Ok(OptimizeRequest {
        model: ctx.dir.join("weights"),
        work_dir: ctx.dir.join(WORK),
        objective: a.optimize_objective,
        candidates: a.optimize_candidates.as_deref().map(Candidate::parse_list).transpose().context("--optimize-candidates")?,
        lm: LmSettings { max_tokens: a.quality_max_tokens, ..LmSettings::default() },
        encoder: EncoderSettings::default(),
        thresholds,
        bench,
        harness: a.harness.clone(),
        reuse: true,
        keep_checkpoints: false,
        store: crate::optimize::validated::store_dir(),
        command: command_line(a),
        // The port's own package (the one the parity ladder proved) is
        // gated, measured and served; mlx-lm targets have none.
        package,
        serving,
    })
}

pub fn optimize(ctx: &mut Ctx) -> Result<Flow> {
    let a = ctx.req;
    let inputs = json!({
        "upstream": ctx.upstream(&[Step::Convert, Step::Scaffold]),
        "objective": a.optimize_objective,
        "candidates": a.optimize_candidates,
        "serving": a.optimize_serving,
        "thresholds": a.quality_thresholds,
        "max_tokens": a.quality_max_tokens,
        "bench": {"prompt_tokens": a.bench_prompt_tokens, "gen_tokens": a.bench_gen_tokens, "runs": a.bench_runs},
    });
    ctx.step(Step::Optimize, inputs, &["optimize"], |ctx, st| {
        let req = request(ctx)?;
        let done = crate::optimize::run(&req)?;
        let out = st.join("optimize");
        std::fs::create_dir_all(&out)?;
        for name in KEPT {
            let from = req.work_dir.join(name);
            if from.is_dir() {
                mlxport_publish::package::copy_tree(&from, &out.join(name), &|_| false)?;
            } else if from.is_file() {
                std::fs::copy(&from, out.join(name)).with_context(|| format!("copying {}", from.display()))?;
            }
        }
        let d = &done.doc;
        let chosen = d.chosen.id.clone();
        if chosen != "baseline" {
            let ckpt = req.work_dir.join("candidates").join(&chosen);
            std::fs::rename(&ckpt, out.join("chosen")).with_context(|| format!("moving the chosen checkpoint {} into place", ckpt.display()))?;
        }
        let _ = std::fs::remove_file(req.work_dir.join("chosen"));
        relative_paths(ctx, &out, &chosen)?;
        let kept = d.records.iter().filter(|r| r.decision.as_ref().is_some_and(|x| x.keep)).count();
        let reverted: Vec<&str> = d.records.iter().filter(|r| !r.decision.as_ref().is_some_and(|x| x.keep)).map(|r| r.id.as_str()).collect();
        Ok(Outcome::Done(format!(
            "{} candidates, {kept} kept, {} reverted{}; chosen {chosen}{}: {}",
            d.records.len(),
            reverted.len(),
            if reverted.is_empty() { String::new() } else { format!(" ({})", reverted.join(", ")) },
            if chosen == "baseline" { " (the float weights/)" } else { " (optimize/chosen/)" },
            d.chosen.why
        )))
    })
}

/// The loop records the paths it was given; in `optimize/` they become
/// PORT_DIR-relative (`weights`, `scaffold`, `optimize/...`), so no report
/// or package carries this machine's paths.
fn relative_paths(ctx: &Ctx, out: &Path, chosen: &str) -> Result<()> {
    let mut roots = vec![ctx.dir.clone()];
    if let Ok(c) = std::fs::canonicalize(&ctx.dir) {
        roots.push(c);
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for root in &roots {
        let r = root.display().to_string();
        pairs.push((format!("{r}/{WORK}/candidates/{chosen}"), "optimize/chosen".into()));
        pairs.push((format!("{r}/{WORK}"), "optimize".into()));
        for d in ["weights", "scaffold"] {
            pairs.push((format!("{r}/{d}"), d.into()));
        }
        pairs.push((r, ".".into()));
    }
    // Longest first: a root never shadows one of its sub-paths.
    pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let fix = |s: &str| -> String {
        let mut s = s.to_string();
        for (from, to) in &pairs {
            if s.contains(from.as_str()) {
                s = s.replace(from.as_str(), to);
            }
        }
        s
    };
    rewrite(out, &fix)
}

fn rewrite(dir: &Path, fix: &dyn Fn(&str) -> String) -> Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p)?;
        if m.is_dir() {
            if p.file_name().is_some_and(|n| n == "chosen") {
                continue;
            }
            rewrite(&p, fix)?;
            continue;
        }
        match p.extension().and_then(|x| x.to_str()) {
            Some("json") => {
                let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
                let mut v: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", p.display()))?;
                fix_strings(&mut v, fix);
                std::fs::write(&p, serde_json::to_string_pretty(&v)? + "\n").with_context(|| format!("writing {}", p.display()))?;
            }
            Some("md") => {
                let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
                std::fs::write(&p, fix(&text)).with_context(|| format!("writing {}", p.display()))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn fix_strings(v: &mut Value, fix: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = fix(s),
        Value::Array(a) => a.iter_mut().for_each(|x| fix_strings(x, fix)),
        Value::Object(o) => o.values_mut().for_each(|x| fix_strings(x, fix)),
        _ => {}
    }
}
