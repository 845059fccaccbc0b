//! `mlxport port`: the whole workflow in one job, resumable.
//!
//! Each step reads upstream artifacts of PORT_DIR and writes its own into a
//! private staging folder, moved into place only when the step succeeds;
//! `port.json` ([`PortRecord`]) records every step's inputs hash, artifacts
//! with SHA-256, timing and outcome after each step. A re-run keeps a
//! finished step whose inputs hash is unchanged and whose artifacts still
//! hold the recorded bytes, and redoes the rest. The layout is the PORT_DIR
//! contract shared with `report` and `package`.

mod optimize;
mod optional;
pub mod state;
mod steps;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Context, Result};
use mlxport_contract::{Dtype, PortRecord, PortStatus, Request, Step, StepRecord, StepStatus, Target};
use mlxport_harness::jobs::Settings as HarnessSettings;
use serde_json::Value;

use crate::examples::{self, ModelSource};
use crate::optimize::Objective;
use crate::provenance::Pins;
use crate::quantize::QuantChoice;
use state::{artifacts, artifacts_intact, inputs_hash};

/// What to port, and how.
#[derive(Clone, Debug)]
pub struct PortRequest {
    /// A Hugging Face model directory or a weights file (`None`: the
    /// example named by `example`, by default MiniLM).
    pub model: Option<PathBuf>,
    /// A built-in example: `minilm` or `smollm2`.
    pub example: Option<String>,
    /// The port directory (default `port-out/NAME`).
    pub out: Option<PathBuf>,
    /// The MLX side; `None`: mlx-lm when it implements the model type,
    /// else a generated package.
    pub target: Option<Target>,
    /// Dtype of the converted weights.
    pub dtype: Dtype,
    /// Quantize, gate and benchmark after the ladder (`-q`); implied by
    /// any option of `quant`.
    pub quantize: bool,
    pub quant: QuantChoice,
    /// Quality-gate threshold overrides, `K=V,...`.
    pub quality_thresholds: Option<String>,
    /// Language models: tokens of the quality corpus scored (0: all).
    pub quality_max_tokens: usize,
    pub bench_prompt_tokens: Vec<u32>,
    pub bench_gen_tokens: u32,
    pub bench_runs: u32,
    /// Run the optimization search instead of `quantize`.
    pub optimize: bool,
    pub optimize_objective: Objective,
    /// Comma-separated optimize candidates (`None`: the full sweep).
    pub optimize_candidates: Option<String>,
    /// Serving switches for decoders (`None`: every one that applies;
    /// `none`: none).
    pub optimize_serving: Option<String>,
    pub accept_license: bool,
    /// Replace a PORT_DIR that holds the port of another model.
    pub yes: bool,
    /// Oracle inputs JSON; else `text`, else the built-in set.
    pub inputs: Option<PathBuf>,
    pub text: Vec<String>,
    /// Oracle images (files or folders) for image models; empty: the
    /// built-in set of photographs.
    pub images: Vec<PathBuf>,
    /// Greedy tokens per prompt for decoders.
    pub generate: u32,
    /// Memory of the target machine (e.g. `16GB`) for the fit verdict.
    pub target_memory: Option<String>,
    /// Record the model's absolute path in port.json.
    pub show_paths: bool,
    /// The Hugging Face repository (`owner/name`) and revision the model
    /// is; else read from a hub cache path, else unknown.
    pub repo: Option<String>,
    pub revision: Option<String>,
    pub harness: HarnessSettings,
}

impl PortRequest {
    /// A port of `model` with the defaults of `mlxport port`.
    pub fn new(model: Option<PathBuf>) -> PortRequest {
        PortRequest {
            model,
            example: None,
            out: None,
            target: None,
            dtype: Dtype::Keep,
            quantize: false,
            quant: QuantChoice::default(),
            quality_thresholds: None,
            quality_max_tokens: 0,
            bench_prompt_tokens: vec![128, 512],
            bench_gen_tokens: 64,
            bench_runs: 3,
            optimize: false,
            optimize_objective: Objective::DecodeThroughput,
            optimize_candidates: None,
            optimize_serving: None,
            accept_license: false,
            yes: false,
            inputs: None,
            text: Vec::new(),
            images: Vec::new(),
            generate: 16,
            target_memory: None,
            show_paths: false,
            repo: None,
            revision: None,
            harness: HarnessSettings { timeout: Duration::from_secs(1800), threads: None, verbose: false },
        }
    }

    /// A port of a built-in example (`minilm` or `smollm2`).
    pub fn example(name: &str) -> PortRequest {
        PortRequest { example: Some(name.to_string()), ..PortRequest::new(None) }
    }

    /// The `mlxport port` flags of this request that decide what the port
    /// makes and records (all but the model, `--out` and how the run is
    /// shown), defaults left out, with the pinned repository and revision:
    /// `mlxport port [MODEL] --out DIR FLAGS...` reproduces the port.
    pub fn flags(&self, pins: &crate::provenance::Pins) -> Vec<String> {
        let d = PortRequest::new(None);
        let mut c: Vec<String> = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                c.push(k.to_string());
                c.push(v);
            }
        };
        push("--repo", pins.repo.clone());
        push("--revision", pins.revision.clone());
        push("--target", self.target.map(|t| t.to_string()));
        push("--dtype", (self.dtype != d.dtype).then(|| self.dtype.to_string()));
        push("--target-memory", self.target_memory.clone());
        // Oracle inputs: the file by name only (never this machine's path).
        push("--inputs", self.inputs.as_ref().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())));
        for t in &self.text {
            push("--text", Some(t.clone()));
        }
        push("--generate", (self.generate != d.generate).then(|| self.generate.to_string()));
        if self.quantize {
            c.push("-q".into());
        }
        c.extend(self.quant.flags());
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                c.push(k.to_string());
                c.push(v);
            }
        };
        push("--quality-thresholds", self.quality_thresholds.clone());
        push("--quality-max-tokens", (self.quality_max_tokens != d.quality_max_tokens).then(|| self.quality_max_tokens.to_string()));
        push(
            "--bench-prompt-tokens",
            (self.bench_prompt_tokens != d.bench_prompt_tokens).then(|| self.bench_prompt_tokens.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")),
        );
        push("--bench-gen-tokens", (self.bench_gen_tokens != d.bench_gen_tokens).then(|| self.bench_gen_tokens.to_string()));
        push("--bench-runs", (self.bench_runs != d.bench_runs).then(|| self.bench_runs.to_string()));
        if self.optimize {
            c.push("--optimize".into());
            if self.optimize_objective != d.optimize_objective {
                c.extend(["--optimize-objective".to_string(), self.optimize_objective.as_str().to_string()]);
            }
            if let Some(x) = &self.optimize_candidates {
                c.extend(["--optimize-candidates".to_string(), x.clone()]);
            }
            if let Some(x) = &self.optimize_serving {
                c.extend(["--optimize-serving".to_string(), x.clone()]);
            }
        }
        if self.accept_license {
            c.push("--accept-license".into());
        }
        c
    }
}

/// What a port did.
#[derive(Clone, Debug)]
pub struct PortOutcome {
    /// `port.json` as written.
    pub record: PortRecord,
    /// The PORT_DIR.
    pub dir: PathBuf,
    /// Steps kept from an earlier run (not redone by this one).
    pub kept: Vec<Step>,
    /// Wall time of this run.
    pub seconds: f64,
}

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
    pub req: &'a PortRequest,
    pub dir: PathBuf,
    pub model: ModelSource,
    pub old: Option<PortRecord>,
    pub state: PortRecord,
    /// The inspection report (after the inspect step).
    pub insp: Value,
    /// Decided after plan.
    pub target: Target,
    /// Steps kept from an earlier run (not redone by this one).
    pub kept: Vec<Step>,
    /// The repository and revision the port is pinned to.
    pub pins: Pins,
}

/// Run a port. Errors are for what could not run (a refused PORT_DIR, a
/// crashing step: `port.json` records which); a port stopped by a blocker
/// or a failed check is an outcome whose record says so.
pub fn run(req: &PortRequest) -> Result<PortOutcome> {
    optional::check(req)?;
    optimize::check(req)?;
    let pins = crate::provenance::resolve(req.repo.as_deref(), req.revision.as_deref(), req.model.as_deref())?;
    let model = examples::resolve(req.model.as_deref(), req.example.as_deref(), req.show_paths, req.harness.verbose)?;
    let dir = req.out.clone().unwrap_or_else(|| PathBuf::from("port-out").join(&model.name));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let old = PortRecord::read(&dir).ok();
    if old.is_none() && dir.join(mlxport_contract::port::FILE).exists() && !req.yes {
        return Err(crate::error::Error::Refused(format!(
            "{}: port.json is not a readable mlxport.port/v1 record; choose another --out, or pass --yes to start over in this directory",
            dir.display()
        )));
    }
    // Staging folders left by an interrupted run hold nothing to keep (one
    // port per PORT_DIR at a time).
    let _ = std::fs::remove_dir_all(dir.join(STAGING));
    let mut state = PortRecord::new(model.label.clone(), req.dtype, env!("CARGO_PKG_VERSION"));
    state.request = Some(Request { flags: req.flags(&pins) });
    state.provenance = Some(crate::provenance::record(&dir, &pins));
    let mut ctx = Ctx { req, dir, model, old, state, insp: Value::Null, target: Target::MlxLm, kept: Vec::new(), pins };
    eprintln!("port {} -> {}", ctx.model.label, ctx.dir.display());
    let started = Instant::now();
    let result = steps::all(&mut ctx);
    let _ = std::fs::remove_dir(ctx.dir.join(STAGING));
    ctx.refresh_provenance();
    if let Err(e) = result {
        // A step that failed: its record says so, the error is the
        // remediation. An error before any step (a refused PORT_DIR)
        // leaves port.json alone.
        if ctx.state.stopped_at.is_some() {
            ctx.state.status = PortStatus::Failed;
            ctx.save()?;
        }
        return Err(e);
    }
    if ctx.state.stopped_at.is_none() {
        ctx.state.status = PortStatus::Complete;
        ctx.state.remediation.clear();
    }
    ctx.save()?;
    Ok(PortOutcome { record: ctx.state, dir: ctx.dir, kept: ctx.kept, seconds: started.elapsed().as_secs_f64() })
}

/// Staging folder inside PORT_DIR (same filesystem: steps move their
/// outputs into place by rename).
const STAGING: &str = ".staging";

impl Ctx<'_> {
    /// Record the provenance as the steps so far leave it (the source files
    /// once inspected, the library versions once the oracle and capture ran).
    pub fn refresh_provenance(&mut self) {
        self.state.provenance = Some(crate::provenance::record(&self.dir, &self.pins));
    }

    /// Write port.json as it stands.
    pub fn save(&self) -> Result<()> {
        self.state.write(&self.dir).with_context(|| format!("writing {}", self.dir.join(mlxport_contract::port::FILE).display()))
    }

    /// Run one step: keep it when its inputs and artifacts are unchanged,
    /// else run `f` in a fresh staging folder and move `outputs` (paths
    /// relative to PORT_DIR) into place.
    pub fn step(&mut self, name: Step, inputs: Value, outputs: &[&str], f: impl FnOnce(&mut Self, &Path) -> Result<Outcome>) -> Result<Flow> {
        let tag = format!("[{:>2}/{}] {:<12}", name.number(), Step::ALL.len(), name.as_str());
        let h = inputs_hash(name, &inputs);
        if let Some(prev) = self.old.as_ref().and_then(|o| o.step(name)).filter(|p| p.status == StepStatus::Done && p.inputs_sha256.as_deref() == Some(&h)) {
            if artifacts_intact(&self.dir, &prev.artifacts) {
                eprintln!("{tag} unchanged (finished {}), kept", prev.finished_at);
                let prev = prev.clone();
                self.kept.push(name);
                self.state.put(prev);
                self.save()?;
                return Ok(Flow::Continue);
            }
        }
        // A note for anyone who finds the directory after an interruption
        // (not for the steps that read port.json as a finished port).
        if !matches!(name, Step::Report | Step::Package) {
            self.state.status = PortStatus::Stopped;
            self.state.stopped_at = Some(name);
            self.state.remediation = vec![format!("interrupted while running step '{name}': re-run the same command to resume")];
            self.save()?;
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
            name,
            status: StepStatus::Done,
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
                rec.status = StepStatus::Blocked;
                rec.summary = summary;
                (Flow::Stop, remediation)
            }
            Ok(Outcome::Failed { summary, remediation }) => {
                rec.status = StepStatus::Failed;
                rec.summary = summary;
                (Flow::Stop, remediation)
            }
            Err(e) => {
                rec.status = StepStatus::Failed;
                rec.summary = e.chain();
                rec.finished_at = mlxport_util::time::now_rfc3339_millis();
                eprintln!("{}{tag} failed after {seconds:.1} s", if tty { "\r" } else { "" });
                self.state.stopped_at = Some(name);
                self.state.remediation = vec![format!("step '{name}' failed: fix the cause below and re-run the same command to resume"), e.chain()];
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
        rec.finished_at = mlxport_util::time::now_rfc3339_millis();
        eprintln!("{}{tag} {:<8} {seconds:>7.1} s  {}", if tty { "\r" } else { "" }, rec.status.as_str(), rec.summary);
        if flow == Flow::Stop {
            self.remove_later_outputs(name);
            self.state.stopped_at = Some(name);
            self.state.remediation = remediation.clone();
            self.state.status = if rec.status == StepStatus::Failed { PortStatus::Failed } else { PortStatus::Stopped };
            eprintln!("stopped at '{name}':");
            for r in &remediation {
                eprintln!("  - {r}");
            }
        } else if !matches!(name, Step::Report | Step::Package) {
            // Until the next step records itself, an interruption leaves
            // the port stopped before it.
            let next = name.next();
            self.state.stopped_at = next;
            self.state.remediation = next.map(|n| vec![format!("interrupted before step '{n}': re-run the same command to resume")]).unwrap_or_default();
        }
        self.state.put(rec);
        self.save()?;
        Ok(flow)
    }

    /// Record a step as not run, with the reason (no work, nothing kept).
    pub fn skip(&mut self, name: Step, reason: &str) -> Result<()> {
        // Keep the earlier record when nothing changed, so re-runs leave
        // port.json as it was.
        let finished_at = match self.old.as_ref().and_then(|o| o.step(name)) {
            Some(p) if p.status == StepStatus::Skipped && p.summary == reason => p.finished_at.clone(),
            _ => mlxport_util::time::now_rfc3339_millis(),
        };
        eprintln!("[{:>2}/{}] {:<12} skipped  {reason}", name.number(), Step::ALL.len(), name.as_str());
        self.state.put(StepRecord {
            name,
            status: StepStatus::Skipped,
            inputs_sha256: None,
            seconds: 0.0,
            finished_at,
            artifacts: Vec::new(),
            summary: reason.into(),
        });
        self.save()
    }

    /// A port that stops at `name` leaves no product of a later step of an
    /// earlier run (a package of other weights, say) in PORT_DIR.
    fn remove_later_outputs(&self, name: Step) {
        let Some(old) = self.old.as_ref() else { return };
        // What the ladder proved (oracle, weights, ...) stays: only the
        // products made from it go.
        for later in name.later().iter().filter(|s| matches!(s, Step::Quantize | Step::Quality | Step::Bench | Step::Optimize | Step::Report | Step::Package)) {
            for a in old.step(*later).map(|r| r.artifacts.as_slice()).unwrap_or_default() {
                let top = a.path.split('/').next().unwrap_or("");
                if top.is_empty() || top.starts_with('.') || top == mlxport_contract::port::FILE {
                    continue;
                }
                let p = self.dir.join(top);
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
    }

    /// Upstream artifact hashes for an inputs hash.
    pub fn upstream(&self, steps: &[Step]) -> Value {
        state::upstream(&self.state, steps)
    }
}
