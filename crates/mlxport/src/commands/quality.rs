//! `mlxport quality`: the task-level quality gate of a candidate model
//! against its reference. The harness computes logits or embeddings; the
//! metrics and the verdict come from `mlxport-quality`; the gate itself
//! (shared with `mlxport optimize`) is `mlxport_optimize::gate`.

use anyhow::{bail, Context, Result};
use mlxport_harness::jobs::Harness;
use mlxport_optimize::gate;
use mlxport_quality::{QualityReport, Thresholds};

use crate::cli::QualityArgs;
use crate::output::{write_atomic, Table};

pub fn run(args: QualityArgs) -> Result<u8> {
    let report = gate(&args)?;
    if let Some(p) = &args.output {
        write_atomic(p, report.to_json().as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &args.markdown {
        write_atomic(p, report.to_markdown().as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if args.json {
        print!("{}", report.to_json());
    } else {
        print_table(&report);
    }
    Ok(if report.passed() { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

/// Whether a model type goes to the encoder gate.
pub fn is_encoder(model_type: &str) -> bool {
    gate::ENCODER_TYPES.contains(&model_type.to_ascii_lowercase().as_str())
}

/// Run the gate `args` describe (language model or encoder, by the
/// reference's model type) and return its report; writes nothing.
pub fn gate(args: &QualityArgs) -> Result<QualityReport> {
    let mut th = Thresholds::default();
    if let Some(spec) = &args.thresholds {
        th.apply(spec).context("--thresholds")?;
    }
    for (flag, p) in [("--reference", &args.reference), ("--candidate", &args.candidate)] {
        if !p.join("config.json").is_file() {
            bail!("{flag} {}: not a model directory (no config.json)", p.display());
        }
    }
    let mut h = Harness::new(super::oracle::settings(&args.harness))?;
    if h.blas.path().is_some() {
        let c = h.check_blas()?;
        if !c.ok {
            eprintln!("note: OpenBLAS changed MLX results (max relative change {:.1e}); running without it", c.max_rel_error);
        }
    }
    let work = tempfile::Builder::new().prefix("mlxport-quality-").tempdir()?;
    let report = if gate::is_encoder(&args.reference)? {
        let s = gate::EncoderSettings {
            sentences: args.sentences.clone(),
            queries: args.queries.clone(),
            retrieval_k: args.retrieval_k,
            package: args.package.clone(),
        };
        gate::encoder_gate(&h, &args.reference, &args.candidate, &s, work.path(), th)?
    } else {
        let s = args.lm.settings(args.max_tokens);
        gate::lm_gate(&h, &args.reference, &args.candidate, &s, work.path(), th)?
    };
    drop(work);
    Ok(report)
}

fn print_table(r: &QualityReport) {
    println!("quality: {} ({}) — candidate {} vs reference {}", r.verdict.to_uppercase(), r.kind, r.candidate, r.reference);
    if let Some(m) = &r.lm {
        println!(
            "  {} positions; perplexity {} (reference) -> {} (candidate)",
            m.positions,
            mlxport_quality::report::fmt(m.perplexity_reference),
            mlxport_quality::report::fmt(m.perplexity_candidate)
        );
    }
    if let Some(g) = &r.greedy {
        println!(
            "  greedy: {} prompts x {} tokens, exact match {}, first divergence at {}",
            g.prompts,
            g.tokens,
            mlxport_quality::report::fmt(g.exact_match_rate),
            g.min_first_divergence.map(|d| d.to_string()).unwrap_or_else(|| "none".into())
        );
    }
    let mut t = Table::new(&["check", "value", "limit", "result"]);
    t.right_align(&[1, 2]);
    for c in &r.checks {
        t.row(vec![
            c.name.clone(),
            mlxport_quality::report::fmt(c.value),
            format!("{} {}", c.op, mlxport_quality::report::fmt(c.limit)),
            if c.pass { "pass".into() } else { "FAIL".into() },
        ]);
    }
    t.print();
    for reason in &r.reasons {
        println!("  fail: {reason}");
    }
}
