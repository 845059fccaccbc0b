//! `mlxport quantize` and the quantizing half of `mlxport convert -q`.

use anyhow::{Context, Result};
use mlxport_convert::convert::ConvertOptions;
use mlxport_convert::plan::DtypePolicy;
use mlxport_convert::quantize::{identity_map, quantize_convert, QuantOptions, QuantizeResult, Report};

use crate::cli::{QuantArgs, QuantizeArgs};
use crate::commands::convert::{command_line, parse_binary_size};
use crate::output::{human_bytes, human_count, write_atomic, Table};

/// The options `QuantArgs` describe, validated.
pub fn options(a: &QuantArgs) -> Result<QuantOptions> {
    Ok(a.choice.choice().options(a.report.is_some())?)
}

/// Whether any quantization option was given.
pub fn any_given(a: &QuantArgs) -> bool {
    a.choice.any() || a.report.is_some()
}

pub fn run(args: QuantizeArgs) -> Result<u8> {
    let q = options(&args.quant)?;
    let src = mlxport_tensor::open(&args.model)?;
    let map = identity_map(src.as_ref(), &args.model)?;
    drop(src);
    let dtype = args.dtype.as_deref().and_then(DtypePolicy::parse);
    let shard_bytes = parse_binary_size(&args.shard_size).context("--shard-size")?;
    let digest_cache = if args.no_cache { None } else { mlxport_intake::digest::DigestCache::default_path() };
    let (progress, bar) = crate::output::byte_progress("quantize");
    let copts = ConvertOptions { dtype, shard_bytes, command: command_line(), digest_cache, progress: Some(progress), ..ConvertOptions::default() };
    let done = quantize_convert(&args.model, &map, &args.out, copts, Some(&q), false);
    if let Some(b) = bar.get() {
        b.finish();
    }
    let done = done?;
    finish(&done, &args.quant, args.json)
}

/// Write the report file and print the summary (or JSON).
pub fn finish(done: &QuantizeResult, a: &QuantArgs, json: bool) -> Result<u8> {
    let r = &done.report;
    let text = format!("{}\n", serde_json::to_string_pretty(r)?);
    if let Some(path) = &a.report {
        write_atomic(path, text.as_bytes()).with_context(|| format!("{}: cannot write the report", path.display()))?;
    }
    for w in &done.converted.warnings {
        eprintln!("warning {}: {}", w.code, w.message);
    }
    if json {
        print!("{text}");
        return Ok(crate::exit::OK);
    }
    print_summary(done);
    Ok(crate::exit::OK)
}

fn print_summary(done: &QuantizeResult) {
    let r: &Report = &done.report;
    let m = &done.converted.manifest.target;
    println!(
        "quantized -> {}: {} ({}), {} tensors quantized{}, {} left float, {} parameters, {} written, {:.3} bits per weight",
        done.converted.out.display(),
        m.stage,
        m.dtype,
        r.quantized,
        if r.kept_gguf > 0 { format!(", {} GGUF blocks kept", r.kept_gguf) } else { String::new() },
        r.skipped.len(),
        human_count(r.parameters),
        human_bytes(m.total_size),
        r.bpw
    );
    for s in r.skipped.iter().take(10) {
        println!("  float: {} ({})", s.name, s.reason);
    }
    if r.skipped.len() > 10 {
        println!("  ... and {} more left float", r.skipped.len() - 10);
    }
    if let Some(a) = &r.target_bpw {
        let mut hist: std::collections::BTreeMap<u8, usize> = Default::default();
        for b in &a.bits {
            *hist.entry(*b).or_default() += 1;
        }
        let hist: Vec<String> = hist.iter().map(|(b, n)| format!("{n} x {b}-bit")).collect();
        println!("target {:.3} bpw: reached {:.4}; layers {}; predicted relative error {:.4e}", a.target_bpw, a.bpw, hist.join(", "), a.relative_error);
        if let Some(u) = &a.best_uniform_below {
            println!(
                "  best uniform at <= {:.4} bpw: {}-bit ({:.4} bpw), total squared error {:.4e} vs {:.4e} chosen ({:.1}% lower)",
                a.bpw,
                u.bits,
                u.bpw,
                u.total_sse,
                a.total_sse,
                100.0 * (1.0 - a.total_sse / u.total_sse)
            );
        }
    }
    if !r.layers.is_empty() {
        println!("\nper-layer error, worst first (relative Frobenius):");
        let mut t = Table::new(&["rank", "tensor", "quant", "rmse", "max abs", "rel frob", "SQNR dB"]);
        t.right_align(&[0, 3, 4, 5, 6]);
        for l in r.layers.iter().take(20) {
            t.row(vec![
                l.rank.to_string(),
                l.name.clone(),
                format!("{} q{} g{}", l.mode, l.bits, l.group_size),
                format!("{:.3e}", l.rmse),
                format!("{:.3e}", l.max_abs),
                format!("{:.3e}", l.rel_frobenius),
                format!("{:.2}", l.sqnr_db),
            ]);
        }
        t.print();
        if r.layers.len() > 20 {
            println!("... {} more in the report", r.layers.len() - 20);
        }
    }
}
