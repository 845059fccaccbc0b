//! `mlxport port`: the main job, from checkpoint to proven MLX port (the
//! job itself is `mlxport_workflow::port`).

use anyhow::{Context, Result};
use mlxport_contract::{PortRecord, PortStatus, Step, StepStatus};
use mlxport_workflow::port::{PortOutcome, PortRequest};

use crate::cli::PortArgs;
use crate::output::Table;

/// The request these arguments describe.
pub fn request(a: &PortArgs) -> Result<PortRequest> {
    Ok(PortRequest {
        model: a.model.clone(),
        example: a.example.clone(),
        out: a.out.clone(),
        target: match a.target.as_str() {
            "auto" => None,
            t => Some(t.parse().context("--target")?),
        },
        dtype: a.dtype.parse().context("--dtype")?,
        quantize: a.quantize,
        quant: a.quant.choice(),
        quality_thresholds: a.quality_thresholds.clone(),
        quality_max_tokens: a.quality_max_tokens,
        bench_prompt_tokens: a.bench_prompt_tokens.clone(),
        bench_gen_tokens: a.bench_gen_tokens,
        bench_runs: a.bench_runs,
        optimize: a.optimize,
        optimize_objective: mlxport_workflow::optimize::Objective::parse(&a.optimize_objective)?,
        optimize_candidates: a.optimize_candidates.clone(),
        optimize_serving: a.optimize_serving.clone(),
        accept_license: a.accept_license,
        yes: a.yes,
        inputs: a.inputs.clone(),
        text: a.text.clone(),
        images: a.image.clone(),
        generate: a.generate,
        target_memory: a.target_memory.clone(),
        show_paths: a.show_paths,
        repo: a.repo.clone(),
        revision: a.revision.clone(),
        harness: a.harness.settings(),
    })
}

pub fn run(args: PortArgs) -> Result<u8> {
    let out = mlxport_workflow::port::run(&request(&args)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.record)?);
    } else {
        print_table(&out);
    }
    Ok(if out.record.is_complete() { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

fn print_table(o: &PortOutcome) {
    let s: &PortRecord = &o.record;
    let mut t = Table::new(&["step", "status", "this run", "seconds", "summary"]);
    t.right_align(&[3]);
    for r in &s.steps {
        let mut summary = r.summary.lines().next().unwrap_or("").to_string();
        if summary.chars().count() > 100 {
            summary = summary.chars().take(97).collect::<String>() + "...";
        }
        let run = if o.kept.contains(&r.name) {
            "kept"
        } else if r.status == StepStatus::Skipped {
            "-"
        } else {
            "ran"
        };
        t.row(vec![r.name.to_string(), r.status.to_string(), run.into(), format!("{:.1}", r.seconds), summary]);
    }
    t.print();
    println!();
    let what = format!(
        "{} ({} {}, target {})",
        s.source.model,
        s.family.map(|f| f.as_str()).unwrap_or("unknown family"),
        s.model_type.as_deref().unwrap_or("?"),
        s.target.map(|t| t.as_str()).unwrap_or("undecided")
    );
    match s.status {
        PortStatus::Complete => println!("complete: {what} ported into {} in {:.1} s", o.dir.display(), o.seconds),
        st => {
            println!(
                "{}: {what} at step '{}'; {} records where",
                st.as_str().to_uppercase(),
                s.stopped_at.map(Step::as_str).unwrap_or("?"),
                o.dir.join(mlxport_contract::port::FILE).display()
            );
            for r in &s.remediation {
                println!("  - {r}");
            }
        }
    }
}
