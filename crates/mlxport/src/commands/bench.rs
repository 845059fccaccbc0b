//! `mlxport bench`: run commands with honest statistics and write receipts;
//! `mlxport bench check`: validate receipts and decide promotions.
//!
//! `mlxport bench generate`: MLX generation through the Python harness,
//! producing the same receipt with a `generate` workload.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mlxport_bench::check::{claim, promote, validate, Promotion};
use mlxport_bench::command::CommandSpec;
use mlxport_bench::env::{Environment, Source};
use mlxport_bench::export::{Export, Markdown, Svg};
use mlxport_bench::receipt::{fmt_value, CommandBench, QualityGate, Receipt, Role, Settings, Workload, WorkloadKind};
use mlxport_bench::runner::{OutputMode, RunOptions};
use mlxport_bench::schedule::{measure, Event, Order, Plan};
use mlxport_bench::stats::{Bootstrap, DEFAULT_SEED};
use mlxport_bench::Error as BenchError;

use crate::cli::{BenchArgs, BenchCheckArgs, BenchCommand, BenchGenerateArgs, BenchOrder, BenchOutput, BenchRunArgs};
use crate::exit;
use crate::output::{human_bytes, write_atomic, Table};
use mlxport_workflow::bench::{GenerateRequest, Generated};

pub fn run(args: BenchArgs) -> Result<u8> {
    match args.check {
        Some(BenchCommand::Check(c)) => check(c),
        Some(BenchCommand::Generate(g)) => generate(*g),
        Some(BenchCommand::Encoder(e)) => encoder(*e),
        Some(BenchCommand::Images(i)) => images(*i),
        None => bench(args.run),
    }
}

fn bench(a: BenchRunArgs) -> Result<u8> {
    let commands = match (&a.baseline, &a.candidate, a.command.is_empty()) {
        (Some(b), Some(c), true) => vec![CommandSpec::parse(b, a.shell).context("--baseline")?, CommandSpec::parse(c, a.shell).context("--candidate")?],
        (None, None, false) => vec![CommandSpec::from_argv(a.command.clone(), a.shell)?],
        (Some(_), Some(_), false) => bail!("give either a command after `--` or --baseline and --candidate, not both"),
        _ => bail!("nothing to benchmark: give a command after `--` (mlxport bench -- sleep 0.1), or --baseline 'CMD A' --candidate 'CMD B'"),
    };
    if a.runs == Some(0) || a.min_runs == 0 || a.max_runs == Some(0) {
        bail!("--runs, --min-runs and --max-runs must be at least 1");
    }
    if !(a.min_time.is_finite() && a.min_time >= 0.0) {
        bail!("--min-time must be a non-negative number of seconds");
    }
    if let Some(t) = a.timeout {
        if !(t.is_finite() && t > 0.0) {
            bail!("--timeout must be a positive number of seconds");
        }
    }
    if !(a.min_effect.is_finite() && a.min_effect >= 0.0) || a.resamples == 0 {
        bail!("--min-effect must be a non-negative percentage and --resamples positive");
    }
    let prepare = a.prepare.as_deref().map(|p| CommandSpec::parse(p, a.shell)).transpose().context("--prepare")?;
    let cleanup = a.cleanup.as_deref().map(|p| CommandSpec::parse(p, a.shell)).transpose().context("--cleanup")?;
    let quality_gate = a.quality_gate.as_deref().map(QualityGate::load).transpose().context("--quality-gate")?;
    let name = a.workload.clone().unwrap_or_else(|| match commands.as_slice() {
        [one] => one.display.clone(),
        [b, c] => format!("{} vs {}", b.display, c.display),
        _ => String::new(),
    });
    let workload = Workload::new(WorkloadKind::Command, &name, None, &a.inputs).context("--input")?;

    let seed = a.seed.unwrap_or(DEFAULT_SEED);
    let order = match a.order {
        BenchOrder::Alternate => Order::Alternate,
        BenchOrder::Random => Order::Random,
    };
    let output = match a.output {
        BenchOutput::Capture => OutputMode::Capture,
        BenchOutput::Null => OutputMode::Null,
        BenchOutput::Inherit => OutputMode::Inherit,
    };
    let plan = Plan {
        warmup: a.warmup,
        runs: a.runs,
        min_runs: a.min_runs,
        min_time: Duration::from_secs_f64(a.min_time),
        max_runs: a.max_runs,
        order,
        seed,
        ignore_failure: a.ignore_failure,
        prepare: prepare.clone(),
        cleanup: cleanup.clone(),
    };
    let opts = RunOptions { timeout: a.timeout.map(Duration::from_secs_f64), output, capture_bytes: a.capture_kib << 10 };
    let settings = Settings {
        warmup: a.warmup,
        runs: a.runs,
        min_runs: a.min_runs,
        min_time_s: a.min_time,
        max_runs: a.max_runs,
        order,
        seed,
        timeout_s: a.timeout,
        output,
        capture_bytes: opts.capture_bytes,
        ignore_failure: a.ignore_failure,
        prepare: prepare.map(|p| p.display),
        cleanup: cleanup.map(|p| p.display),
        bootstrap: Bootstrap { resamples: a.resamples, level: 0.95, seed },
        min_effect: a.min_effect / 100.0,
    };

    let environment = Environment::capture();
    let source = Source::capture(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));

    let mut progress = Progress::new(commands.len());
    let measured = match measure(&commands, &plan, &opts, &mut |e| progress.event(&e)) {
        Ok(m) => m,
        Err(e @ (BenchError::Spawn { .. } | BenchError::Wait { .. })) => {
            progress.clear();
            return Err(e.into());
        }
        Err(e) => {
            progress.clear();
            eprintln!("error: {e}");
            if matches!(e, BenchError::Failed { .. }) {
                eprintln!("(use --ignore-failure to keep measuring and record failed runs)");
            }
            return Ok(exit::CHECK_FAILED);
        }
    };
    progress.clear();

    let receipt = Receipt::from_commands(CommandBench {
        environment,
        source,
        workload,
        model_fingerprint: a.model_fingerprint.clone(),
        settings,
        commands: &commands,
        measured,
        quality_gate,
    })?;

    let json = mlxport_bench::export::Json.render(&receipt);
    write_outputs(&receipt, &json, a.receipt.as_deref(), a.export_markdown.as_deref(), a.export_svg.as_deref())?;
    if a.json {
        print!("{json}");
    } else {
        print_summary(&receipt);
    }
    for w in &receipt.warnings {
        eprintln!("warning: {w}");
    }
    Ok(exit::OK)
}

/// A one-line progress report on stderr, only when it is a terminal.
struct Progress {
    on: bool,
    commands: usize,
    done: usize,
}

impl Progress {
    fn new(commands: usize) -> Self {
        Progress { on: std::io::stderr().is_terminal(), commands, done: 0 }
    }
    fn event(&mut self, e: &Event) {
        if !self.on {
            return;
        }
        let line = match e {
            Event::Warmup { round, .. } => format!("warmup {}", round + 1),
            Event::Run { outcome, .. } => {
                self.done += 1;
                format!("run {} ({} runs of {} command(s)), last {}", self.done, self.done, self.commands, fmt_value(outcome.run.wall_s, "s"))
            }
        };
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
    }
    fn clear(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}

fn print_summary(r: &Receipt) {
    let level = r.settings.bootstrap.level * 100.0;
    for b in &r.benchmarks {
        let u = &b.metric.unit;
        let s = &b.stats;
        let role = match b.role {
            Role::Single => String::new(),
            Role::Baseline => "baseline ".into(),
            Role::Candidate => "candidate ".into(),
        };
        println!("{role}{}", b.label);
        println!("  median   {}  ({level:.0}% CI {} .. {})", fmt_value(s.median, u), fmt_value(s.median_ci.low, u), fmt_value(s.median_ci.high, u));
        println!(
            "  mean     {} ± {}{}",
            fmt_value(s.mean, u),
            s.stddev.map(|x| fmt_value(x, u)).unwrap_or_else(|| "–".into()),
            s.cv.map(|c| format!("  (CV {:.1}%)", c * 100.0)).unwrap_or_default()
        );
        println!("  range    {} .. {}   p95 {}   MAD {}", fmt_value(s.min, u), fmt_value(s.max, u), fmt_value(s.p95, u), fmt_value(s.mad, u));
        let rss = if b.resources.max_rss_at_floor {
            format!("<= {} (the runner's own peak; the command stayed below it)", human_bytes(b.resources.max_rss_bytes_max))
        } else {
            human_bytes(b.resources.max_rss_bytes_max)
        };
        println!("  cpu      user {}  system {}   peak RSS {rss}", fmt_value(b.resources.user_s_median, "s"), fmt_value(b.resources.system_s_median, "s"));
        let failed = b.runs.iter().filter(|x| !x.succeeded()).count();
        println!(
            "  runs     {}{}{}",
            s.n,
            if r.settings.warmup > 0 { format!(" after {} warmup", r.settings.warmup) } else { String::new() },
            if failed > 0 { format!(", {failed} failed") } else { String::new() }
        );
        if !b.outliers.is_empty() {
            let list: Vec<String> = b.outliers.iter().map(|o| format!("run {} ({})", o.run + 1, fmt_value(o.value, u))).collect();
            println!("  outliers {}", list.join(", "));
        }
    }
    if let Some(c) = &r.comparison {
        println!();
        println!(
            "candidate / baseline  {:.3}  ({level:.0}% CI {:.3} .. {:.3}, {} interleaved pairs, {} order)",
            c.ratio,
            c.ratio_ci.low,
            c.ratio_ci.high,
            c.pairs,
            serde_json::to_value(r.settings.order).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        );
        let how = match c.verdict {
            mlxport_bench::compare::Verdict::Faster => format!(" — {:.3}x as fast as the baseline", c.improvement),
            mlxport_bench::compare::Verdict::Slower => format!(" — takes {:.3}x the baseline's time", c.ratio),
            mlxport_bench::compare::Verdict::NoDifference => format!(" (differences under {:.0}% are not reported)", c.min_effect * 100.0),
        };
        println!("verdict: candidate {}{how}", c.verdict.as_str());
    }
}

fn read_receipt(p: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", p.display()))
}

/// One receipt's verdict in `bench check --json` (`mlxport.bench-check/v1`).
#[derive(serde::Serialize)]
struct Checked {
    receipt: String,
    valid: bool,
    problems: Vec<String>,
}

fn check(a: BenchCheckArgs) -> Result<u8> {
    let promotion = a.baseline.as_ref().zip(a.candidate.as_ref());
    if a.receipts.is_empty() && promotion.is_none() {
        bail!("nothing to check: give receipts, or --baseline R1 --candidate R2");
    }
    let mut all: Vec<&PathBuf> = a.receipts.iter().collect();
    if let Some((b, c)) = promotion {
        all.push(b);
        all.push(c);
    }
    let mut reports = Vec::new();
    let mut valid = Vec::new();
    for p in &all {
        let v = read_receipt(p)?;
        match validate(&v) {
            Ok(r) => {
                reports.push(Checked { receipt: p.display().to_string(), valid: true, problems: Vec::new() });
                valid.push(Some(r));
            }
            Err(problems) => {
                reports.push(Checked { receipt: p.display().to_string(), valid: false, problems });
                valid.push(None);
            }
        }
    }
    let all_valid = valid.iter().all(Option::is_some);
    let promo: Option<Promotion> = match (promotion, all_valid) {
        (Some(_), true) => {
            let n = valid.len();
            Some(promote(valid[n - 2].as_ref().expect("valid"), valid[n - 1].as_ref().expect("valid")))
        }
        _ => None,
    };
    if let (Some(p), Some(path), Some(technique)) = (&promo, &a.claim, &a.technique) {
        let n = valid.len();
        let c = claim(p, valid[n - 2].as_ref().expect("valid"), valid[n - 1].as_ref().expect("valid"), technique)?;
        write_atomic(path, format!("{}\n", serde_json::to_string_pretty(&c)?).as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        let out = serde_json::json!({"schema": "mlxport.bench-check/v1", "receipts": reports, "promotion": promo});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (rep, r) in reports.iter().zip(&valid) {
            let path = &rep.receipt;
            match r {
                Some(r) => println!(
                    "valid    {path}  ({} benchmark(s), {} runs, workload `{}`, environment {})",
                    r.benchmarks.len(),
                    r.benchmarks.iter().map(|b| b.runs.len()).sum::<usize>(),
                    r.workload.name,
                    &r.environment.hash[..19.min(r.environment.hash.len())]
                ),
                None => {
                    println!("INVALID  {path}");
                    for p in &rep.problems {
                        println!("  - {p}");
                    }
                }
            }
        }
        if let Some(p) = &promo {
            println!();
            let mut t = Table::new(&["rule", "result", "detail"]);
            for r in &p.rules {
                t.row(vec![r.rule.clone(), if r.passed { "pass".into() } else { "FAIL".into() }, r.detail.clone()]);
            }
            t.print();
            println!();
            println!("{}", p.verdict);
        } else if promotion.is_some() {
            println!("not promoted: a receipt is invalid");
        }
    }
    Ok(if all_valid && promo.as_ref().is_none_or(|p| p.promoted) { exit::OK } else { exit::CHECK_FAILED })
}

/// A measured generation benchmark: the receipt and what ran it.
fn generate(a: BenchGenerateArgs) -> Result<u8> {
    let Generated { receipt, versus, implementation, device, blas } = mlxport_workflow::bench::measure(&generate_request(&a))?;
    let json = match &versus {
        Some(v) => serde_json::to_string_pretty(v)? + "\n",
        None => mlxport_bench::export::Json.render(&receipt),
    };
    write_outputs(&receipt, &json, a.receipt.as_deref(), a.export_markdown.as_deref(), a.export_svg.as_deref())?;
    if a.json {
        print!("{json}");
    } else {
        println!("generation on {implementation} ({device}, {blas}): {}", receipt.workload.name);
        let mut t = Table::new(&["prompt", "runs", "TTFT", "prefill tok/s", "decode tok/s [95% CI]", "latency p50/p90/p99", "MLX peak", "MLX active"]);
        for (g, b) in mlxport_bench::generate::rows(&receipt).iter().zip(&receipt.benchmarks) {
            let lat = |x: Option<f64>| x.map(|v| fmt_value(v, "s")).unwrap_or_else(|| "-".into());
            t.row(vec![
                g.prompt_tokens.to_string(),
                g.runs.to_string(),
                fmt_value(g.ttft_s, "s"),
                format!("{:.1}", g.prefill_tokens_per_s),
                format!("{:.2} [{:.2}, {:.2}]", g.decode_tokens_per_s, b.stats.median_ci.low, b.stats.median_ci.high),
                format!("{} / {} / {}", lat(g.token_latency_p50_s), lat(g.token_latency_p90_s), lat(g.token_latency_p99_s)),
                human_bytes(g.peak_memory_bytes as u64),
                human_bytes(g.active_memory_bytes as u64),
            ]);
        }
        t.print();
        if let Some(v) = &versus {
            print_versus(v, a.versus_options.is_some());
        }
    }
    for w in receipt.warnings.iter().chain(versus.iter().flat_map(|v| &v.baseline.warnings)) {
        eprintln!("warning: {w}");
    }
    Ok(exit::OK)
}

fn encoder(a: crate::cli::BenchEncoderArgs) -> Result<u8> {
    let req = mlxport_workflow::bench::EmbedRequest {
        package: a.package.clone(),
        weights: a.weights.clone(),
        batch_sizes: a.batch_sizes.clone(),
        bucket: !a.no_bucket,
        sentences: a.sentences.clone(),
        runs: a.runs,
        warmup: a.warmup,
        seed: a.seed,
        resamples: a.resamples,
        workload: None,
        quality_gate: None,
        harness: a.harness.settings(),
    };
    let receipt = mlxport_workflow::bench::embed(&req)?;
    emit(&receipt, a.receipt.as_deref(), a.json, "sentence embeddings", ("sentences_per_s", "sentences/s"), Some(("tokens_per_s", "tokens/s")))
}

/// A package benchmark's receipt: written to `out`, printed whole with
/// `json`, else as a table by configuration; its warnings on stderr.
fn emit(
    receipt: &mlxport_bench::receipt::Receipt,
    out: Option<&std::path::Path>,
    json: bool,
    title: &str,
    metric: (&str, &str),
    extra: Option<(&str, &str)>,
) -> Result<u8> {
    let text = mlxport_workflow::bench::receipt_json(receipt);
    if let Some(p) = out {
        write_atomic(p, text.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
    }
    if json {
        print!("{text}");
    } else {
        println!("{title}: {}", receipt.workload.name);
        print_by_configuration(receipt, metric, extra);
    }
    for w in &receipt.warnings {
        eprintln!("warning: {w}");
    }
    Ok(exit::OK)
}

/// One row per configuration (batch size, ...): runs, the metric's median
/// with its CI, an optional second per-run metric, the ratio to the first
/// configuration with its CI (paired bootstrap) and MLX's peak memory.
fn print_by_configuration(receipt: &mlxport_bench::receipt::Receipt, metric: (&str, &str), extra: Option<(&str, &str)>) {
    let per_run = |b: &mlxport_bench::receipt::Benchmark, key: &str| -> Vec<f64> { b.runs.iter().filter_map(|r| r.extra.get(key).copied()).collect() };
    let head = format!("{} [95% CI]", metric.1);
    let mut cols = vec!["configuration", "runs", head.as_str()];
    if let Some((_, label)) = extra {
        cols.push(label);
    }
    cols.extend(["ratio to first [95% CI]", "MLX peak"]);
    let mut t = Table::new(&cols);
    let first = per_run(&receipt.benchmarks[0], metric.0);
    for b in &receipt.benchmarks {
        let cmp = mlxport_bench::compare::paired(
            &first,
            &per_run(b, metric.0),
            mlxport_bench::compare::Better::Higher,
            &receipt.settings.bootstrap,
            receipt.settings.min_effect,
        );
        let mut row =
            vec![b.label.clone(), b.runs.len().to_string(), format!("{:.2} [{:.2}, {:.2}]", b.stats.median, b.stats.median_ci.low, b.stats.median_ci.high)];
        if let Some((key, _)) = extra {
            row.push(format!("{:.1}", mlxport_bench::stats::median(&per_run(b, key))));
        }
        row.push(format!("{:.3} [{:.3}, {:.3}]", cmp.ratio, cmp.ratio_ci.low, cmp.ratio_ci.high));
        row.push(human_bytes(b.runs.first().and_then(|r| r.extra.get("peak_memory_bytes").copied()).unwrap_or(0.0) as u64));
        t.row(row);
    }
    t.print();
}

fn images(a: crate::cli::BenchImagesArgs) -> Result<u8> {
    let req = mlxport_workflow::bench::ImagesRequest {
        package: a.package.clone(),
        weights: a.weights.clone(),
        batch_sizes: a.batch_sizes.clone(),
        images: a.image.clone(),
        inputs: a.inputs,
        runs: a.runs,
        warmup: a.warmup,
        seed: a.seed,
        resamples: a.resamples,
        workload: None,
        quality_gate: None,
        harness: a.harness.settings(),
    };
    let receipt = mlxport_workflow::bench::images(&req)?;
    emit(&receipt, a.receipt.as_deref(), a.json, "images", ("images_per_s", "images/s"), None)
}

/// The package against mlx-lm (or against itself under --versus-options),
/// prompt length by prompt length.
fn print_versus(v: &mlxport_bench::generate::Versus, options: bool) {
    println!();
    let (what, cols) = if options {
        (
            "against the package under --versus-options, same process, runs interleaved (ratio --options / --versus-options, paired 95% CI):",
            "decode tok/s options | versus",
        )
    } else {
        ("against mlx-lm's own loop, same process, runs interleaved (ratio package / mlx-lm, paired 95% CI):", "decode tok/s pkg | mlx-lm")
    };
    println!("{what}");
    let mut t = Table::new(&["prompt", cols, "decode ratio [95% CI]", "verdict", "prefill ratio [95% CI]", "same tokens"]);
    let rows_c = mlxport_bench::generate::rows(&v.candidate);
    let rows_b = mlxport_bench::generate::rows(&v.baseline);
    for ((r, c), b) in v.rows.iter().zip(&rows_c).zip(&rows_b) {
        t.row(vec![
            r.prompt_tokens.to_string(),
            format!("{:.2} | {:.2}", c.decode_tokens_per_s, b.decode_tokens_per_s),
            format!("{:.3} [{:.3}, {:.3}]", r.decode.ratio, r.decode.ratio_ci.low, r.decode.ratio_ci.high),
            r.decode.verdict.as_str().to_string(),
            format!("{:.3} [{:.3}, {:.3}]", r.prefill.ratio, r.prefill.ratio_ci.low, r.prefill.ratio_ci.high),
            r.same_tokens.map_or("-".into(), |s| if s { "yes".into() } else { "NO".into() }),
        ]);
    }
    t.print();
}

/// The request `bench generate` arguments describe.
fn generate_request(a: &BenchGenerateArgs) -> GenerateRequest {
    GenerateRequest {
        model: a.model.clone(),
        weights: a.weights.clone(),
        options: a.options.clone(),
        versus_mlx_lm: a.versus_mlx_lm.clone(),
        versus_options: a.versus_options.clone(),
        prompt_tokens: a.prompt_tokens.clone(),
        gen_tokens: a.gen_tokens,
        runs: a.runs,
        warmup: a.warmup,
        seed: a.seed,
        workload: a.workload.clone(),
        quality_gate: a.quality_gate.clone(),
        resamples: a.resamples,
        blas_check: !a.no_blas_check,
        harness: a.harness.settings(),
    }
}

fn write_outputs(
    receipt: &mlxport_bench::receipt::Receipt,
    json: &str,
    receipt_path: Option<&std::path::Path>,
    markdown: Option<&std::path::Path>,
    svg: Option<&std::path::Path>,
) -> Result<()> {
    let outputs: [(Option<&std::path::Path>, &dyn Fn() -> String); 3] =
        [(receipt_path, &|| json.to_string()), (markdown, &|| Markdown.render(receipt)), (svg, &|| Svg.render(receipt))];
    for (path, render) in outputs {
        if let Some(p) = path {
            write_atomic(p, render().as_bytes()).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(())
}
