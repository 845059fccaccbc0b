//! `mlxport parity`: the whole parity ladder of a port in one command (the
//! pipeline is `mlxport_workflow::parity`); `mlxport parity matrix` runs the
//! parity matrix.

use anyhow::Result;
use mlxport_harness::jobs::{Inputs, Target};
use mlxport_parity::render;
use mlxport_workflow::parity::{pipeline, ParityOutcome, ParityRequest};

use crate::cli::ParityArgs;
use crate::output::Table;

pub fn run(args: ParityArgs) -> Result<u8> {
    let (Some(source), Some(target), Some(weights)) = (args.source.clone(), args.target.clone(), args.weights.clone()) else {
        anyhow::bail!("give --source, --target and --weights (or `parity matrix`)");
    };
    // With --oracle, the oracle's own inputs are used.
    let inputs = if args.oracle.is_some() {
        Inputs::default()
    } else {
        mlxport_workflow::inputs::from_args(&mlxport_workflow::inputs::InputArgs {
            file: args.inputs.as_deref(),
            text: &args.text,
            token_ids: &args.token_ids,
            images: &args.image,
            sample_images: args.sample_images,
            generate: args.generate,
        })?
    };
    let target = match (target.as_str(), &args.package) {
        ("mlx-lm", None) => Target::MlxLm { model: weights },
        ("mlx-vlm", None) => Target::MlxVlm { model: weights },
        ("mlx-vlm", Some(_)) => anyhow::bail!("--package goes with --target scaffold; --target mlx-vlm runs mlx-vlm's own implementation of --weights"),
        ("mlx-lm", Some(_)) => anyhow::bail!("--package goes with --target scaffold; --target mlx-lm runs mlx-lm's own implementation of --weights"),
        ("scaffold", Some(p)) => Target::Package { package: p.clone(), weights },
        ("scaffold", None) => anyhow::bail!("--target scaffold needs --package PKG (the package `mlxport scaffold` wrote)"),
        (path, None) => {
            eprintln!("warning: --target PKG is deprecated and goes away in the next release: use --target scaffold --package {path}");
            Target::Package { package: path.into(), weights }
        }
        (path, Some(_)) => anyhow::bail!("--target {path}: give --target scaffold with --package, or --target mlx-lm"),
    };
    let mut req = ParityRequest::new(source, target, inputs, args.out.clone());
    req.all = args.all;
    req.dtype = args.compute_dtype.clone();
    req.seed = args.seed;
    req.oracle = args.oracle.clone();
    req.harness = args.harness.settings();
    req.blas_check = !args.no_blas_check;
    req.tol = args.tol.clone();
    let out = pipeline(&req)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out.report)?);
    } else {
        print(&out);
    }
    Ok(if out.passed() { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

fn print(o: &ParityOutcome) {
    let r = &o.report;
    let mut t = Table::new(&render::RUNG_HEADER);
    t.right_align(&[0, 3, 4, 5, 6, 7]);
    for rung in &r.ladder.rungs {
        t.row(render::rung_cells(rung));
    }
    t.print();
    match &r.first_divergence {
        None => println!("PASS: all {} rungs within tolerance", r.ladder.rungs.len()),
        Some(f) => {
            println!("FAIL: first divergence at rung {} '{}' ({})", f.rung, f.name, f.stage);
            let rung = &r.ladder.rungs[f.rung];
            for fail in rung.failures.iter().take(8) {
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
    for n in &r.notes {
        println!("note: {n}");
    }
    if let (Some(a), Some(b)) = (&o.oracle, &o.capture) {
        println!("oracle {}, capture {}", a.display(), b.display());
    }
    println!("wrote {}, {}, {}", o.json.display(), o.markdown.display(), o.svg.display());
}
