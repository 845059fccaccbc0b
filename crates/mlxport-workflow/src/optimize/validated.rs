//! What `mlxport recommend` reads from an optimization run: one receipt
//! (`mlxport.receipt/v1`, the knowledge base's format) per kept candidate
//! that maps to a technique, for the model's fingerprint and the machine
//! it ran on. They are written into the work directory (`validated/`) and
//! into a local store under the user's cache directory
//! (`$MLXPORT_CACHE`, else `$XDG_CACHE_HOME/mlxport`, else
//! `~/.cache/mlxport`; then `validated/FINGERPRINT/`), which `recommend`
//! consults for the inspected model on the same machine.

use std::path::{Path, PathBuf};

use crate::error::{bail, Context, Result};
use mlxport_bench::env::Environment;
use mlxport_kb::recommend::Receipt;
use serde_json::{json, Value};

use crate::optimize::record::OptimizeDoc;

/// A short, stable description of the machine (chip or CPU, cores, memory,
/// OS and architecture): receipts count for the same machine only.
pub fn hardware(e: &Environment) -> String {
    let chip = e.apple.as_ref().and_then(|a| a.chip.clone()).or_else(|| e.cpu_model.clone()).unwrap_or_else(|| "unknown CPU".into());
    let mem = e.memory_bytes.map(|m| format!(", {} GiB", (m as f64 / (1u64 << 30) as f64).round())).unwrap_or_default();
    format!("{chip}, {} cores{mem}, {} {}", e.logical_cores, e.os, e.arch)
}

/// The current machine's description.
pub fn this_machine() -> String {
    hardware(&Environment::capture())
}

/// The local store's directory.
pub fn store_dir() -> Option<PathBuf> {
    let base = std::env::var_os("MLXPORT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("mlxport")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mlxport")))?;
    Some(base.join("validated"))
}

fn fp_dir(fingerprint: &str) -> String {
    fingerprint.trim_start_matches("sha256:").chars().filter(char::is_ascii_alphanumeric).take(64).collect()
}

fn hw_tag(hardware: &str) -> String {
    mlxport_util::hash::sha256_hex(hardware.as_bytes())[..12].to_string()
}

/// Receipts (as JSON) of the kept candidates, keyed by candidate id.
pub fn receipts(doc: &OptimizeDoc) -> Vec<(String, Value)> {
    let base = &doc.baseline;
    let mut out = Vec::new();
    for r in &doc.records {
        let (Some(d), Some(t)) = (&r.decision, &r.technique) else { continue };
        if !d.keep {
            continue;
        }
        let mut m = Vec::new();
        if let (Some(c), Some(b)) = (r.decode(), base.decode()) {
            m.push(json!({"metric": "decode_tokens_per_s", "unit": "tokens/s", "baseline": b, "candidate": c}));
        }
        if let (Some(c), Some(b)) = (r.peak(), base.peak()) {
            m.push(json!({"metric": if base.speed.is_empty() { "weight_bytes" } else { "peak_memory_bytes" }, "unit": "bytes", "baseline": b, "candidate": c}));
        }
        if let Some(q) = &r.quality {
            if let Some(k) = q.kl_mean {
                m.push(json!({"metric": "kl_mean", "unit": "nats", "baseline": 0.0, "candidate": k}));
            }
            if let Some(c) = q.cosine_mean {
                m.push(json!({"metric": "cosine_mean", "unit": "", "baseline": 1.0, "candidate": c}));
            }
        }
        out.push((
            r.id.clone(),
            json!({
                "schema": "mlxport.receipt/v1",
                "technique": t,
                "model_fingerprint": doc.model.fingerprint,
                "passed": true,
                "quality_gate": "pass",
                "hardware": doc.machine.hardware,
                "objective": doc.objective.as_str(),
                "measurements": m,
                "source": "mlxport optimize",
                "candidate": r.id,
                "change": r.change,
                "chosen": doc.chosen.id == r.id,
            }),
        ));
    }
    // Serving switches kept on the chosen weights.
    if let Some(sv) = &doc.serving {
        for r in sv.records.iter().filter(|r| r.decision.keep) {
            let Some(t) = serving_technique(&r.id) else { continue };
            let Some(row) = r.rows.first() else { continue };
            let mut m = vec![
                json!({"metric": row.unit.replace(' ', "_").replace('/', "_per_"), "unit": row.unit, "baseline": row.baseline_throughput, "candidate": row.throughput}),
            ];
            m.push(json!({"metric": "peak_memory_bytes", "unit": "bytes", "baseline": row.baseline_peak_memory_bytes, "candidate": row.peak_memory_bytes}));
            if let Some(k) = r.gate.as_ref().and_then(|g| g.kl_mean) {
                m.push(json!({"metric": "kl_mean", "unit": "nats", "baseline": 0.0, "candidate": k}));
            }
            out.push((
                format!("serve-{}", r.id),
                json!({
                    "schema": "mlxport.receipt/v1",
                    "technique": t,
                    "model_fingerprint": doc.model.fingerprint,
                    "passed": true,
                    "quality_gate": if r.gate.is_some() { "pass" } else { "exact" },
                    "hardware": doc.machine.hardware,
                    "objective": doc.objective.as_str(),
                    "measurements": m,
                    "source": "mlxport optimize (serving switch)",
                    "candidate": r.id,
                    "change": r.change,
                    "chosen": true,
                }),
            ));
        }
    }
    out
}

/// The knowledge-base technique a kept serving switch validates.
pub fn serving_technique(id: &str) -> Option<&'static str> {
    Some(match id {
        "compile" => "compile-stable-regions",
        "fuse" => "fused-input-projections",
        "rope-tables" => "shared-rope-tables",
        "cache-step" => "stepped-kv-growth",
        "pipeline" => "async-eval-pipelining",
        "prefill-chunk" => "chunked-prefill",
        "kv8" => "kv-cache-quant-8bit",
        "kv4" => "kv-cache-quant-4bit",
        "rotating" => "rotating-kv-cache",
        "batch4" => "padded-batch-single-pass",
        "speculative" => "speculative-decoding-draft",
        "explicit-attention" => return None,
        "batch8" | "batch32-bucket" => "padded-batch-single-pass",
        _ => return None,
    })
}

/// Replace this machine's receipts for the model in the local store.
pub fn write_store(store: &Path, fingerprint: &str, hardware: &str, receipts: &[(String, Value)]) -> Result<()> {
    let dir = store.join(fp_dir(fingerprint));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tag = hw_tag(hardware);
    for e in std::fs::read_dir(&dir)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&format!("{tag}-")) {
            std::fs::remove_file(e.path()).ok();
        }
    }
    for (id, r) in receipts {
        let p = dir.join(format!("{tag}-{id}.json"));
        std::fs::write(&p, serde_json::to_string_pretty(r)? + "\n").with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

fn label(v: &Value, origin: &str) -> String {
    format!("{origin}: {} on {}", v["change"].as_str().or(v["candidate"].as_str()).unwrap_or("?"), v["hardware"].as_str().unwrap_or("?"))
}

fn to_receipt(v: Value, origin: &str) -> Option<Receipt> {
    let file = label(&v, origin);
    let mut r: Receipt = serde_json::from_value(v).ok()?;
    r.file = file;
    Some(r)
}

/// This machine's validated receipts for a model from the local store
/// (`hardware` is asked only when the store has results for the model).
pub fn local_receipts(store: &Path, fingerprint: &str, hardware: &dyn Fn() -> String) -> Vec<Receipt> {
    let dir = store.join(fp_dir(fingerprint));
    if fp_dir(fingerprint).is_empty() || !dir.is_dir() {
        return Vec::new();
    }
    let hardware = hardware();
    let hardware = hardware.as_str();
    let tag = hw_tag(hardware);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{tag}-")))).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().filter(|b| b.len() < 1 << 20).and_then(|b| serde_json::from_slice::<Value>(&b).ok()))
        .filter(|v| v["hardware"].as_str() == Some(hardware) && v["model_fingerprint"].as_str() == Some(fingerprint))
        .filter_map(|v| to_receipt(v, "validated by mlxport optimize on this machine"))
        .collect()
}

/// The validated receipts of an `optimize.json` (kept candidates only).
pub fn from_optimize(path: &Path) -> Result<Vec<Receipt>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > 64 << 20 {
        bail!("{}: larger than 64 MiB; not an optimize.json", path.display());
    }
    let v: Value = serde_json::from_slice(&std::fs::read(path)?).with_context(|| format!("{}: not valid JSON", path.display()))?;
    if v["schema"] != crate::optimize::SCHEMA {
        bail!("{}: schema {} is not {}", path.display(), v["schema"], crate::optimize::SCHEMA);
    }
    let doc: OptimizeDoc = serde_json::from_value(v).with_context(|| format!("{}: not a valid {} document", path.display(), crate::optimize::SCHEMA))?;
    Ok(receipts(&doc).into_iter().filter_map(|(_, v)| to_receipt(v, &format!("validated by {}", path.display()))).collect())
}

#[cfg(test)]
mod serving_tests {
    use super::serving_technique;
    use crate::optimize::serving::{ENCODER_NAMES, NAMES};

    #[test]
    fn every_serving_switch_names_a_technique_of_the_knowledge_base() {
        let kb = mlxport_kb::kb();
        for id in NAMES.iter().chain(ENCODER_NAMES) {
            if let Some(t) = serving_technique(id) {
                assert!(kb.technique(t).is_some(), "{id} -> {t}: not in the knowledge base");
            }
        }
        assert_eq!(serving_technique("kv8"), Some("kv-cache-quant-8bit"));
    }
}
