//! `mlxport compare`: tensor parity between two files, pair by pair or up a
//! parity ladder.

use anyhow::{anyhow, Context, Result};
use mlxport_parity::compare::{NameMap, Settings};
use mlxport_parity::render::{self, PAIR_HEADER, RUNG_HEADER};
use mlxport_parity::report::{LadderChoice, Report, RunOptions};
use mlxport_parity::tolerance::{Overrides, Rule};
use mlxport_parity::Status;
use regex::Regex;

use crate::cli::CompareArgs;
use crate::output::{Progress, Table};

fn regex(flag: &str, s: &Option<String>) -> Result<Option<Regex>> {
    s.as_deref().map(Regex::new).transpose().with_context(|| format!("{flag} is not a valid regular expression"))
}

fn settings(args: &CompareArgs) -> Result<Settings> {
    let names = if let Some(p) = &args.map {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading --map {}", p.display()))?;
        NameMap::from_json(&text).map_err(|e| anyhow!("--map {}: {e}", p.display()))?
    } else if !args.rename.is_empty() {
        NameMap::Rename(args.rename.iter().map(|r| NameMap::rename_rule(r).map_err(anyhow::Error::msg)).collect::<Result<_>>()?)
    } else {
        NameMap::Same
    };
    let global = Overrides {
        atol: args.atol,
        rtol: args.rtol,
        cosine_min: args.cosine_min,
        ulp: args.ulp,
        equal_nan: args.equal_nan.then_some(true),
        kl_max: None,
        top1_min: None,
        normwise: None,
    };
    global.validate().map_err(|e| anyhow!("tolerance flags: {e}"))?;
    Ok(Settings {
        names,
        include: regex("--include", &args.include)?,
        exclude: regex("--exclude", &args.exclude)?,
        global,
        rules: args.tol.iter().map(|t| Rule::parse(t).map_err(anyhow::Error::msg)).collect::<Result<_>>()?,
        logits: regex("--logits", &args.logits)?,
        top_k: args.top_k.max(1),
        rtol_scale: Vec::new(),
    })
}

fn ladder(args: &CompareArgs) -> Result<LadderChoice> {
    Ok(match args.ladder.as_deref() {
        None => LadderChoice::None,
        Some("auto") => LadderChoice::Auto,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading --ladder {path}"))?;
            let rungs = mlxport_parity::ladder::parse(&text).map_err(|e| anyhow!("--ladder {path}: {e}"))?;
            let kind = if text.contains("mlxport.capture/v1") { "manifest" } else { "file" };
            LadderChoice::Given(rungs, kind)
        }
    })
}

pub fn run(args: CompareArgs) -> Result<u8> {
    let settings = settings(&args)?;
    let opts = RunOptions { ladder: ladder(&args)?, all: args.all, allow_unmatched: args.allow_unmatched };
    let a = mlxport_tensor::open(&args.a)?;
    let b = mlxport_tensor::open(&args.b)?;
    let total: u64 = a.tensors().iter().map(|t| t.numel()).sum();
    let progress = Progress::bytes(total * 4, "compare");
    let (mut current, mut last) = (String::new(), 0u64);
    let report = mlxport_parity::run(a.as_ref(), b.as_ref(), &settings, &opts, &mut |name, done| {
        if name != current {
            current = name.to_string();
            last = 0;
        }
        progress.inc(done.saturating_sub(last) * 4);
        last = done;
    })?;
    progress.finish();
    let svg_name = args.svg.as_ref().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    if let Some(md) = &args.markdown {
        crate::output::write_atomic(md, render::markdown(&report, svg_name.as_deref()).as_bytes()).with_context(|| format!("writing {}", md.display()))?;
    }
    if let (Some(svg), Some(l)) = (&args.svg, &report.ladder) {
        crate::output::write_atomic(svg, render::svg(l).as_bytes()).with_context(|| format!("writing {}", svg.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.status == Status::Pass { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

fn print_report(r: &Report) {
    if let Some(l) = &r.ladder {
        let mut t = Table::new(&RUNG_HEADER);
        t.right_align(&[0, 3, 4, 5, 6, 7]);
        for rung in &l.rungs {
            t.row(render::rung_cells(rung));
        }
        t.print();
        match &l.first_divergence {
            None => println!("no divergence: all {} rungs within tolerance", l.rungs.len()),
            Some(f) => {
                println!("first divergence: rung {} '{}' ({})", f.rung, f.name, f.stage);
                let rung = &l.rungs[f.rung];
                for fail in rung.failures.iter().take(5) {
                    println!("  {fail}");
                }
                if let Some(h) = &rung.hint {
                    println!("hint [{}]: {}", h.id, h.title);
                    for c in &h.causes {
                        println!("  - {c}");
                    }
                    for s in &h.symptoms {
                        println!("  [{}] {}", s.id, s.title);
                    }
                }
            }
        }
    } else {
        let mut t = Table::new(&PAIR_HEADER);
        t.right_align(&[3, 4, 5, 6, 7, 8, 9, 10]);
        for p in &r.pairs {
            t.row(render::pair_cells(p));
        }
        t.print();
        for p in r.pairs.iter().filter(|p| !p.failures.is_empty()).take(20) {
            for f in &p.failures {
                println!("{}: {f}", p.name);
            }
        }
    }
    for p in &r.pairs {
        if let Some(l) = &p.logits {
            println!(
                "{} logits: {} positions, top-1 agreement {:.4}, top-{} overlap {:.4}, KL(A||B) mean {} max {}, KL(B||A) mean {}, max prob diff {}",
                p.name,
                l.positions,
                l.top1_agreement,
                l.k,
                l.topk_overlap_mean,
                render::num(l.kl_ab_mean),
                render::num(l.kl_ab_max),
                render::num(l.kl_ba_mean),
                render::num(l.max_prob_diff)
            );
        }
    }
    let show = |side: &str, names: &[String]| {
        if !names.is_empty() {
            let more = if names.len() > 10 { format!(" (+{} more)", names.len() - 10) } else { String::new() };
            println!("only in {side}: {}{more}", names.iter().take(10).cloned().collect::<Vec<_>>().join(", "));
        }
    };
    show("A", &r.unmatched_a);
    show("B", &r.unmatched_b);
    let s = &r.summary;
    println!(
        "{}: {} pairs, {} passed, {} failed, {} errors; {} unmatched in A, {} in B",
        if r.status == Status::Pass { "PASS" } else { "FAIL" },
        s.pairs,
        s.passed,
        s.failed,
        s.errors,
        s.unmatched_a,
        s.unmatched_b
    );
}
