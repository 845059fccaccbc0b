//! `mlxport optimize`: the optimization loop (`mlxport_workflow::optimize::run`)
//! from the command line, with its table.

use anyhow::{Context, Result};
use mlxport_quality::Thresholds;
use mlxport_workflow::optimize::gate::EncoderSettings;
use mlxport_workflow::optimize::record::human_bytes;
use mlxport_workflow::optimize::{BenchSettings, Candidate, Objective, OptimizeRequest};

use crate::cli::OptimizeArgs;
use crate::output::Table;

pub fn run(args: OptimizeArgs) -> Result<u8> {
    let mut thresholds = Thresholds::default();
    if let Some(spec) = &args.thresholds {
        thresholds.apply(spec).context("--thresholds")?;
    }
    let candidates = args.candidates.as_deref().map(Candidate::parse_list).transpose().context("--candidates")?;
    if !mlxport_workflow::bench::valid_settings(&args.prompt_tokens, args.gen_tokens, args.runs) {
        anyhow::bail!("--prompt-tokens must be positive lengths, --gen-tokens at least 2 and --runs at least 1");
    }
    let bench = BenchSettings {
        prompt_tokens: args.prompt_tokens.clone(),
        gen_tokens: args.gen_tokens,
        runs: args.runs,
        warmup: args.warmup,
        ..BenchSettings::default()
    };
    if let Some(p) = &args.package {
        if !p.join("__init__.py").is_file() {
            anyhow::bail!("--package {}: not a scaffolded package (no __init__.py)", p.display());
        }
    }
    let req = OptimizeRequest {
        model: args.model.clone(),
        work_dir: args.out.clone(),
        objective: Objective::parse(&args.objective)?,
        candidates,
        lm: args.lm.settings(args.max_tokens),
        encoder: EncoderSettings::default(),
        thresholds,
        bench: bench.clone(),
        harness: args.harness.settings(),
        reuse: !args.no_reuse,
        keep_checkpoints: args.keep_checkpoints,
        store: if args.no_store { None } else { mlxport_workflow::optimize::validated::store_dir() },
        command: command_line(),
        package: args.package.clone(),
        serving: args
            .serving
            .as_deref()
            .map(|l| mlxport_workflow::optimize::serving::Candidate::parse_list(l, mlxport_workflow::optimize::serving::chunk_for(&bench)))
            .transpose()
            .context("--serving")?,
    };
    let out = mlxport_workflow::optimize::run(&req)?;
    if args.json {
        print!("{}", std::fs::read_to_string(&out.json)?);
        return Ok(crate::exit::OK);
    }
    let d = &out.doc;
    println!("optimize {} ({}), objective {}, on {}", d.model.path, d.model.kind, d.objective.as_str(), d.machine.hardware);
    let lm = d.model.kind == "language-model";
    let mut t = if lm {
        Table::new(&["candidate", "bpw", "gate", "KL mean", "top-1", "decode tok/s [95% CI]", "peak memory", "decision"])
    } else {
        Table::new(&["candidate", "bpw", "weights", "gate", "cosine mean", "overlap@k", "decision"])
    };
    for r in std::iter::once(&d.baseline).chain(&d.records) {
        let q = r.quality.clone().unwrap_or_default();
        let f = |v: Option<f64>| v.map(mlxport_quality::report::fmt).unwrap_or_else(|| "-".into());
        let bpw = r.produced.as_ref().and_then(|p| p.bpw).map(|b| format!("{b:.2}")).unwrap_or_else(|| "-".into());
        let gate = if r.id == "baseline" {
            "reference".into()
        } else if r.correctness.error.is_some() {
            "error".into()
        } else {
            r.correctness.quality_verdict.clone().unwrap_or_else(|| "-".into())
        };
        let decision = match &r.decision {
            _ if r.id == "baseline" => {
                if d.chosen.id == "baseline" {
                    "chosen".into()
                } else {
                    String::new()
                }
            }
            Some(x) if r.id == d.chosen.id => format!("{} (chosen)", if x.keep { "keep" } else { "revert" }),
            Some(x) => {
                if x.keep {
                    "keep".into()
                } else {
                    "revert".into()
                }
            }
            None => String::new(),
        };
        if lm {
            let decode =
                r.speed.first().map(|s| format!("{:.1} [{:.1}, {:.1}]", s.decode_tokens_per_s, s.decode_ci[0], s.decode_ci[1])).unwrap_or_else(|| "-".into());
            t.row(vec![
                r.id.clone(),
                bpw,
                gate,
                f(q.kl_mean),
                f(q.top1_agreement),
                decode,
                r.peak().filter(|_| !r.speed.is_empty()).map(human_bytes).unwrap_or_else(|| "-".into()),
                decision,
            ]);
        } else {
            t.row(vec![
                r.id.clone(),
                bpw,
                r.produced.as_ref().map(|p| human_bytes(p.weight_bytes as f64)).unwrap_or_else(|| "-".into()),
                gate,
                f(q.cosine_mean),
                f(q.overlap_at_k),
                decision,
            ]);
        }
    }
    t.print();
    println!("chosen: {} — {}", d.chosen.id, d.chosen.why);
    if let Some(sv) = &d.serving {
        println!("serving switches on {} (each against the first port, interleaved; ratio [95% CI]):", sv.weights);
        let mut t = Table::new(&["switch", "workload", "ratio [95% CI]", "output / gate", "decision"]);
        for r in sv.records.iter().chain(sv.combined.iter()) {
            let row = r.rows.first();
            let held = match (&r.gate, row) {
                (Some(g), _) => format!("gate {} (KL {})", g.verdict, g.kl_mean.map(mlxport_quality::report::fmt).unwrap_or_else(|| "-".into())),
                (None, Some(x)) if x.equal => "same output".into(),
                (None, Some(_)) => "DIFFERENT output".into(),
                (None, None) => "-".into(),
            };
            t.row(vec![
                r.id.clone(),
                row.map(|x| format!("{} ({})", x.workload, x.unit)).unwrap_or_else(|| "-".into()),
                row.map(|x| format!("{:.3} [{:.3}, {:.3}]", x.ratio, x.ci[0], x.ci[1])).unwrap_or_else(|| "-".into()),
                held,
                if r.decision.keep { "keep".into() } else { "reject".into() },
            ]);
        }
        t.print();
        if sv.defaults.is_empty() && sv.modes.is_empty() {
            println!("the package keeps serving its first port (nothing kept)");
        } else {
            println!("kept: {} (serving.json)", serde_json::Value::Object(sv.defaults.clone().into_iter().chain(sv.modes.clone()).collect()));
        }
    }
    println!("records: {}, {}; checkpoint: {}", out.markdown.display(), out.json.display(), out.chosen.display());
    Ok(crate::exit::OK)
}

/// The command as given, with the work directory as `DIR`.
fn command_line() -> Vec<String> {
    let mut command = vec!["mlxport".to_string()];
    let mut argv = std::env::args().skip(1);
    while let Some(a) = argv.next() {
        if a == "--work-dir" {
            command.push(a);
            if argv.next().is_some() {
                command.push("DIR".into());
            }
        } else if a.starts_with("--work-dir=") {
            command.push("--work-dir=DIR".into());
        } else {
            command.push(a);
        }
    }
    command
}
