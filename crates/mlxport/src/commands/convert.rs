//! `mlxport convert`.

use anyhow::{bail, Context, Result};
use mlxport_convert::convert::{convert, ConvertOptions};
use mlxport_convert::plan::DtypePolicy;
use mlxport_convert::WeightMap;

use crate::cli::ConvertArgs;
use crate::output::{human_bytes, human_count};

/// A size with binary units: `5GB` and `5GiB` are both 5 * 2^30 bytes
/// (mlx-lm's shard limit is `5 << 30`).
pub fn parse_binary_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("'{s}' is not a size (try 5GB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        u => bail!("unknown size unit '{u}' in '{s}'"),
    };
    let bytes = n * (1u64 << shift) as f64;
    if bytes.is_nan() || bytes < 1.0 {
        bail!("--shard-size must be at least one byte");
    }
    Ok(bytes as u64)
}

pub fn run(args: ConvertArgs) -> Result<u8> {
    let map = WeightMap::load(&args.map)?;
    let dtype = args.dtype.as_deref().and_then(DtypePolicy::parse);
    let shard_bytes = parse_binary_size(&args.shard_size).context("--shard-size")?;
    let command = command_line();
    let digest_cache = if args.no_cache { None } else { mlxport_intake::digest::DigestCache::default_path() };
    let (progress, bar) = crate::output::byte_progress("convert");
    let opts = ConvertOptions { dtype, shard_bytes, command, digest_cache, progress: Some(progress), ..ConvertOptions::default() };
    if args.quantize || args.keep_gguf_quant {
        let q = if args.quantize { Some(super::quantize::options(&args.quant)?) } else { None };
        if q.is_none() && super::quantize::any_given(&args.quant) {
            bail!("quantization options need -q/--quantize");
        }
        let done = mlxport_convert::quantize::quantize_convert(&args.model, &map, &args.out, opts, q.as_ref(), args.keep_gguf_quant);
        if let Some(b) = bar.get() {
            b.finish();
        }
        let done = done?;
        if args.json {
            for w in &done.converted.warnings {
                eprintln!("warning {}: {}", w.code, w.message);
            }
            println!("{}", serde_json::to_string_pretty(&done.converted.manifest)?);
            if let Some(path) = &args.quant.report {
                crate::output::write_atomic(path, format!("{}\n", serde_json::to_string_pretty(&done.report)?).as_bytes())?;
            }
            return Ok(crate::exit::OK);
        }
        return super::quantize::finish(&done, &args.quant, false);
    }
    if super::quantize::any_given(&args.quant) {
        bail!("quantization options need -q/--quantize");
    }
    let done = convert(&args.model, &map, &args.out, &opts);
    if let Some(b) = bar.get() {
        b.finish();
    }
    let done = done?;
    print_converted(&done, args.json)
}

/// The command as given, with the output directory as `DIR`: the manifest
/// (and so the output) does not depend on where it was written.
pub fn command_line() -> Vec<String> {
    let mut command = vec!["mlxport".to_string()];
    let mut argv = std::env::args().skip(1);
    while let Some(a) = argv.next() {
        if a == "--out" {
            command.push(a);
            if argv.next().is_some() {
                command.push("DIR".into());
            }
        } else if a.starts_with("--out=") {
            command.push("--out=DIR".into());
        } else {
            command.push(a);
        }
    }
    command
}

fn print_converted(done: &mlxport_convert::convert::Converted, json: bool) -> Result<u8> {
    for w in &done.warnings {
        eprintln!("warning {}: {}", w.code, w.message);
    }
    let m = &done.manifest;
    if json {
        println!("{}", serde_json::to_string_pretty(m)?);
    } else {
        let shards = m.outputs.iter().filter(|o| o.path.ends_with(".safetensors")).count();
        println!(
            "converted {} -> {}: {} tensors, {} parameters, {} in {} shard{} ({}), map {}",
            m.source.name,
            done.out.display(),
            m.target.tensors,
            human_count(m.target.parameters),
            human_bytes(m.target.total_size),
            shards,
            if shards == 1 { "" } else { "s" },
            m.target.dtype,
            &m.map.sha256[..12]
        );
        for c in &m.config_changes {
            println!("  config: {c}");
        }
    }
    Ok(crate::exit::OK)
}
