//! `mlxport port`: the whole workflow in one command, resumable.
//!
//! Each step reads upstream artifacts of PORT_DIR and writes its own into a
//! private staging folder, moved into place only when the step succeeds;
//! `port.json` ([`state`]) records every step's inputs hash, artifacts with
//! SHA-256, timing and outcome after each step. A re-run keeps a finished
//! step whose inputs hash is unchanged and whose artifacts still hold the
//! recorded bytes, and redoes the rest. The layout is the PORT_DIR contract
//! shared with `report` and `package`.

mod optimize;
mod optional;
mod source;
pub mod state;
mod steps;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cli::PortArgs;
use crate::output::Table;
use state::{artifacts, artifacts_intact, inputs_hash, now_rfc3339, PortState, StepRecord, STEPS};

/// How a step ended.
pub enum Outcome {
    Done(String),
    /// A person must decide: the port stops here.
    Blocked {
        summary: String,
        remediation: Vec<String>,
    },
    /// A check failed (e.g. the parity ladder): the port stops here.
    Failed {
        summary: String,
        remediation: Vec<String>,
    },
}

/// Whether the port goes on after a step.
#[derive(PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Everything the steps share.
pub struct Ctx<'a> {
    pub args: &'a PortArgs,
    pub dir: PathBuf,
    pub model: source::ModelSource,
    pub old: Option<PortState>,
    pub state: PortState,
    /// The inspection report (after the inspect step).
    pub insp: Value,
    /// `mlx-lm` or `scaffold` (decided after plan).
    pub target: String,
    /// Step number for progress lines.
    index: usize,
    /// Steps kept from an earlier run (not redone by this one).
    pub kept: Vec<String>,
}

pub fn run(args: &PortArgs) -> Result<u8> {
    optional::check(args)?;
    optimize::check(args)?;
    let model = source::resolve(args.model.as_deref(), args.example.as_deref(), args.show_paths, args.harness.verbose)?;
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("port-out").join(&model.name));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let old = PortState::load(&dir);
    if old.is_none() && dir.join(state::FILE).exists() && !args.yes {
        anyhow::bail!(
            "{}: port.json is not a readable mlxport.port/v1 record; choose another --out, or pass --yes to start over in this directory",
            dir.display()
        );
    }
    // Staging folders left by an interrupted run hold nothing to keep (one
    // port per PORT_DIR at a time).
    let _ = std::fs::remove_dir_all(dir.join(STAGING));
    let mut state = PortState::new(model.label.clone(), &args.dtype);
    state.target = None;
    let mut ctx = Ctx { args, dir, model, old, state, insp: Value::Null, target: String::new(), index: 0, kept: Vec::new() };
    eprintln!("port {} -> {}", ctx.model.label, ctx.dir.display());
    let started = Instant::now();
    let result = steps::all(&mut ctx);
    let _ = std::fs::remove_dir(ctx.dir.join(STAGING));
    match result {
        Ok(()) => {}
        Err(e) => {
            // A step that failed: its record says so, the error is the
            // remediation. An error before any step (a refused PORT_DIR)
            // leaves port.json alone.
            if ctx.state.stopped_at.is_some() {
                ctx.state.status = "failed".into();
                ctx.state.save(&ctx.dir)?;
            }
            return Err(e);
        }
    }
    if ctx.state.stopped_at.is_none() {
        ctx.state.status = "complete".into();
        ctx.state.remediation.clear();
    }
    ctx.state.save(&ctx.dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ctx.state)?);
    } else {
        print_table(&ctx.state, &ctx.kept, &ctx.dir, started.elapsed().as_secs_f64());
    }
    Ok(match ctx.state.status.as_str() {
        "complete" => crate::exit::OK,
        _ => crate::exit::CHECK_FAILED,
    })
}

/// Staging folder inside PORT_DIR (same filesystem: steps move their
/// outputs into place by rename).
const STAGING: &str = ".staging";

impl Ctx<'_> {
    /// Run one step: keep it when its inputs and artifacts are unchanged,
    /// else run `f` in a fresh staging folder and move `outputs` (paths
    /// relative to PORT_DIR) into place.
    pub fn step(&mut self, name: &str, inputs: Value, outputs: &[&str], f: impl FnOnce(&mut Self, &Path) -> Result<Outcome>) -> Result<Flow> {
        self.index += 1;
        let pos = STEPS.iter().position(|s| *s == name).map(|p| p + 1).unwrap_or(self.index);
        let tag = format!("[{pos:>2}/{}] {name:<12}", STEPS.len());
        let h = inputs_hash(name, &inputs);
        if let Some(prev) = self.old.as_ref().and_then(|o| o.step(name)).filter(|p| p.status == "done" && p.inputs_sha256.as_deref() == Some(&h)) {
            if artifacts_intact(&self.dir, &prev.artifacts) {
                eprintln!("{tag} unchanged (finished {}), kept", prev.finished_at);
                let prev = prev.clone();
                self.kept.push(name.into());
                self.state.put(prev);
                self.state.save(&self.dir)?;
                return Ok(Flow::Continue);
            }
        }
        // A note for anyone who finds the directory after an interruption
        // (not for the steps that read port.json as a finished port).
        if !matches!(name, "report" | "package") {
            self.state.status = "stopped".into();
            self.state.stopped_at = Some(name.into());
            self.state.remediation = vec![format!("interrupted while running step '{name}': re-run the same command to resume")];
            self.state.save(&self.dir)?;
        }
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        if tty {
            eprint!("{tag} running ...");
        }
        // Per process: a step of an interrupted run whose Python child
        // outlived it never writes into this run's folder.
        let staging = self.dir.join(STAGING).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
        let t0 = Instant::now();
        let outcome = f(self, &staging);
        let seconds = (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        let mut rec = StepRecord {
            name: name.into(),
            status: "done".into(),
            inputs_sha256: Some(h),
            seconds,
            finished_at: String::new(),
            artifacts: Vec::new(),
            summary: String::new(),
        };
        let (flow, remediation) = match outcome {
            Ok(Outcome::Done(s)) => {
                rec.summary = s;
                (Flow::Continue, Vec::new())
            }
            Ok(Outcome::Blocked { summary, remediation }) => {
                rec.status = "blocked".into();
                rec.summary = summary;
                (Flow::Stop, remediation)
            }
            Ok(Outcome::Failed { summary, remediation }) => {
                rec.status = "failed".into();
                rec.summary = summary;
                (Flow::Stop, remediation)
            }
            Err(e) => {
                rec.status = "failed".into();
                rec.summary = format!("{e:#}");
                rec.finished_at = now_rfc3339();
                eprintln!("{}{tag} failed after {seconds:.1} s", if tty { "\r" } else { "" });
                self.state.stopped_at = Some(name.into());
                self.state.remediation = vec![format!("step '{name}' failed: fix the cause below and re-run the same command to resume"), format!("{e:#}")];
                self.state.put(rec);
                return Err(e.context(format!("step '{name}' failed (PORT_DIR {} records where the port stopped)", self.dir.display())));
            }
        };
        // Move whatever the step produced into place (a blocked or failed
        // step may still leave its report).
        for out in outputs {
            let from = staging.join(out);
            if std::fs::symlink_metadata(&from).is_err() {
                continue;
            }
            let to = self.dir.join(out);
            if let Ok(m) = std::fs::symlink_metadata(&to) {
                if m.is_dir() { std::fs::remove_dir_all(&to) } else { std::fs::remove_file(&to) }.with_context(|| format!("replacing {}", to.display()))?;
            }
            std::fs::rename(&from, &to).with_context(|| format!("moving {} into place", to.display()))?;
            rec.artifacts.extend(artifacts(&self.dir, out)?);
        }
        let _ = std::fs::remove_dir_all(&staging);
        rec.finished_at = now_rfc3339();
        eprintln!("{}{tag} {:<8} {seconds:>7.1} s  {}", if tty { "\r" } else { "" }, rec.status, rec.summary);
        if flow == Flow::Stop {
            self.remove_later_outputs(name);
            self.state.stopped_at = Some(name.into());
            self.state.remediation = remediation.clone();
            self.state.status = if rec.status == "failed" { "failed" } else { "stopped" }.into();
            eprintln!("stopped at '{name}':");
            for r in &remediation {
                eprintln!("  - {r}");
            }
        } else if !matches!(name, "report" | "package") {
            // Until the next step records itself, an interruption leaves
            // the port stopped before it.
            let next = state::RUN_ORDER.iter().position(|s| *s == name).and_then(|i| state::RUN_ORDER.get(i + 1));
            self.state.stopped_at = next.map(|n| n.to_string());
            self.state.remediation = next.map(|n| vec![format!("interrupted before step '{n}': re-run the same command to resume")]).unwrap_or_default();
        }
        self.state.put(rec);
        self.state.save(&self.dir)?;
        Ok(flow)
    }

    /// Record a step as not run, with the reason (no work, nothing kept).
    pub fn skip(&mut self, name: &str, reason: &str) -> Result<()> {
        self.index += 1;
        let pos = STEPS.iter().position(|s| *s == name).map(|p| p + 1).unwrap_or(self.index);
        // Keep the earlier record when nothing changed, so re-runs leave
        // port.json as it was.
        let finished_at = match self.old.as_ref().and_then(|o| o.step(name)) {
            Some(p) if p.status == "skipped" && p.summary == reason => p.finished_at.clone(),
            _ => now_rfc3339(),
        };
        eprintln!("[{pos:>2}/{}] {name:<12} skipped  {reason}", STEPS.len());
        self.state.put(StepRecord {
            name: name.into(),
            status: "skipped".into(),
            inputs_sha256: None,
            seconds: 0.0,
            finished_at,
            artifacts: Vec::new(),
            summary: reason.into(),
        });
        self.state.save(&self.dir)
    }

    /// A port that stops at `name` leaves no product of a later step of an
    /// earlier run (a package of other weights, say) in PORT_DIR.
    fn remove_later_outputs(&self, name: &str) {
        let Some(i) = state::RUN_ORDER.iter().position(|s| *s == name) else { return };
        let Some(old) = self.old.as_ref() else { return };
        // What the ladder proved (oracle, weights, ...) stays: only the
        // products made from it go.
        for later in state::RUN_ORDER[i + 1..].iter().filter(|s| matches!(**s, "quantize" | "quality" | "bench" | "optimize" | "report" | "package")) {
            for a in old.step(later).map(|r| r.artifacts.as_slice()).unwrap_or_default() {
                let top = a.path.split('/').next().unwrap_or("");
                if top.is_empty() || top.starts_with('.') || top == state::FILE {
                    continue;
                }
                let p = self.dir.join(top);
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
    }

    /// Upstream artifact hashes for an inputs hash.
    pub fn upstream(&self, steps: &[&str]) -> Value {
        state::upstream(&self.state, steps)
    }
}

fn print_table(s: &PortState, kept: &[String], dir: &Path, total: f64) {
    let mut t = Table::new(&["step", "status", "this run", "seconds", "summary"]);
    t.right_align(&[3]);
    for r in &s.steps {
        let mut summary = r.summary.lines().next().unwrap_or("").to_string();
        if summary.chars().count() > 100 {
            summary = summary.chars().take(97).collect::<String>() + "...";
        }
        let run = if kept.contains(&r.name) {
            "kept"
        } else if r.status == "skipped" {
            "-"
        } else {
            "ran"
        };
        t.row(vec![r.name.clone(), r.status.clone(), run.into(), format!("{:.1}", r.seconds), summary]);
    }
    t.print();
    println!();
    let what = format!(
        "{} ({} {}, target {})",
        s.source.model,
        s.family.as_deref().unwrap_or("unknown family"),
        s.model_type.as_deref().unwrap_or("?"),
        s.target.as_deref().unwrap_or("undecided")
    );
    match s.status.as_str() {
        "complete" => println!("complete: {what} ported into {} in {total:.1} s", dir.display()),
        st => {
            println!("{}: {what} at step '{}'; {} records where", st.to_uppercase(), s.stopped_at.as_deref().unwrap_or("?"), dir.join(state::FILE).display());
            for r in &s.remediation {
                println!("  - {r}");
            }
        }
    }
}
