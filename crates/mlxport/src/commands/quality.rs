//! `mlxport quality`: the task-level quality gate of a candidate model
//! against its reference (the job is `mlxport_workflow::quality`).

use anyhow::{Context, Result};
use mlxport_quality::QualityReport;
use mlxport_workflow::optimize::gate::{EncoderSettings, VisionSettings};
use mlxport_workflow::quality::QualityRequest;

use crate::cli::QualityArgs;
use crate::output::{write_atomic, Table};

pub fn run(args: QualityArgs) -> Result<u8> {
    let reports = mlxport_workflow::quality::gate(&request(&args))?;
    // One candidate: its report; several: a JSON array / Markdown sections.
    let json = if reports.len() == 1 {
        reports[0].to_json()
    } else {
        let values: Vec<serde_json::Value> = reports.iter().map(|r| serde_json::from_str(&r.to_json())).collect::<std::result::Result<_, _>>()?;
        serde_json::to_string_pretty(&values)? + "\n"
    };
    if let Some(p) = &args.out {
        write_atomic(p, json.as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &args.markdown {
        let md: Vec<String> = reports.iter().map(|r| r.to_markdown()).collect();
        write_atomic(p, md.join("\n").as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if args.json {
        print!("{json}");
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_table(r);
        }
    }
    Ok(if reports.iter().all(|r| r.passed()) { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

/// The request these arguments describe.
fn request(args: &QualityArgs) -> QualityRequest {
    QualityRequest {
        reference: args.reference.clone(),
        candidates: args.candidate.clone(),
        lm: mlxport_workflow::optimize::gate::LmSettings { package: args.package.clone(), ..args.lm.settings(args.max_tokens) },
        encoder: EncoderSettings {
            sentences: args.sentences.clone(),
            queries: args.queries.clone(),
            retrieval_k: args.retrieval_k,
            package: args.package.clone(),
        },
        vision: VisionSettings { images: args.image.clone(), package: args.package.clone(), generate: None },
        thresholds: args.thresholds.clone(),
        harness: args.harness.settings(),
    }
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
        let run = &r.run;
        if let Some(secs) = run["seconds"].as_f64() {
            println!(
                "  ran on {} computing in {}: {:.1} s for {} candidate(s) in one process",
                run["implementation"].as_str().unwrap_or("mlx-lm"),
                run["compute_dtype"].as_str().unwrap_or("?"),
                secs,
                run["candidates_in_process"].as_u64().unwrap_or(1)
            );
        }
        if let Some(o) = run["candidate_options"].as_object() {
            println!("  candidate served with options {}", serde_json::Value::Object(o.clone()));
        }
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
