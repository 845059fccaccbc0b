//! `mlxport inspect`: static, safe classification of a checkpoint.

use anyhow::{Context, Result};
use mlxport_intake::inspect::{inspect, Inspection, Options};
use mlxport_intake::markdown::to_markdown;

use crate::cli::InspectArgs;
use crate::output::{human_bytes, human_count};

pub fn run(args: InspectArgs) -> Result<u8> {
    let mut opts = Options { context: args.context, absolute_paths: args.absolute_paths, ..Options::default() };
    if let Some(t) = &args.target_memory {
        opts.target_memory = Some(mlxport_intake::fit::parse_size(t).context("--target-memory")?);
    }
    if args.no_cache {
        opts.digest_cache = None;
    }
    let model = match &args.model {
        Some(m) => m.clone(),
        None => mlxport_workflow::examples::minilm()?,
    };
    let report = inspect(&model, &opts)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &args.out {
        write_report(out, json.as_bytes())?;
    }
    if let Some(md) = &args.markdown {
        write_report(md, to_markdown(&report).as_bytes())?;
    }
    if args.json {
        println!("{json}");
    } else {
        print_summary(&report);
    }
    Ok(if args.fail_on_blockers && !report.blockers.is_empty() { crate::exit::CHECK_FAILED } else { crate::exit::OK })
}

/// Write a report file, creating its folder if needed.
fn write_report(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::output::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(i: &Inspection) {
    let family = i.routing.family.as_deref().unwrap_or(if i.routing.ambiguous { "ambiguous" } else { "unknown" });
    println!("{} ({}, {} files, {})", i.model.name, i.model.kind, i.model.files, human_bytes(i.model.bytes));
    println!(
        "  family        {family} (confidence {}){}",
        i.routing.confidence.as_str(),
        i.routing.profile.as_ref().map(|p| format!(", hybrid profile {p}")).unwrap_or_default()
    );
    if let Some(mt) = &i.facts.model_type {
        println!("  model_type    {mt}  {}", i.facts.architectures.join(", "));
    }
    let refs: Vec<String> =
        [("mlx-lm", &i.routing.references.mlx_lm), ("mlx-vlm", &i.routing.references.mlx_vlm), ("mlx-audio", &i.routing.references.mlx_audio)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|m| format!("{k}:{m}")))
            .collect();
    println!("  reference     {}", if refs.is_empty() { "none (scaffold)".into() } else { refs.join(", ") });
    println!("  parameters    {} ({} tensors, {})", human_count(i.tensors.parameters), i.tensors.tensors, human_bytes(i.tensors.bytes));
    let dtypes: Vec<String> = i.tensors.bytes_by_dtype.iter().map(|(d, b)| format!("{d} {}", human_bytes(*b))).collect();
    println!("  dtypes        {}", dtypes.join(", "));
    if let Some(q) = &i.quantization {
        println!("  quantization  {}{}", q.scheme, q.mode.as_ref().map(|m| format!(" ({m})")).unwrap_or_default());
    }
    println!("  tied          {}", if i.tensors.tying.tied { "yes" } else { "no" });
    println!(
        "  license       {} ({}), redistribution {}",
        i.license.spdx.as_deref().unwrap_or("unknown"),
        i.license.class.as_str(),
        i.license.redistribution.as_str()
    );
    let sizes: Vec<String> = i
        .size
        .weights
        .iter()
        .map(|w| {
            format!(
                "{} {}{}",
                w.precision,
                human_bytes(w.bytes),
                match w.fits {
                    Some(true) => " fits",
                    Some(false) => " too big",
                    None => "",
                }
            )
        })
        .collect();
    println!("  weights       {}", sizes.join(", "));
    if let Some(kv) = &i.size.kv_cache {
        println!("  kv cache      {}/token, {} at {} tokens", human_bytes(kv.bytes_per_token), human_bytes(kv.bytes_for_context), kv.context);
    }
    println!("  fingerprint   {}", i.model.fingerprint);
    for b in &i.blockers {
        println!("BLOCKER {}: {}{}", b.id, b.path.as_ref().map(|p| format!("{p}: ")).unwrap_or_default(), b.message);
        if let Some(r) = &b.remediation {
            println!("  fix: {r}");
        }
    }
    for w in &i.warnings {
        println!("warning {}: {}{}", w.id, w.path.as_ref().map(|p| format!("{p}: ")).unwrap_or_default(), w.message);
    }
    if i.blockers.is_empty() {
        println!("no blockers");
    }
}
