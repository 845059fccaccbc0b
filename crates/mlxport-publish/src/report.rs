//! The engineering report of a port: what the model is and how it was
//! ported (architecture and runbook from the knowledge base), the source's
//! revision and the evidence for its routing, implementation and weight-map
//! status, the parity matrix, baseline and optimized metrics from bench
//! receipts, accepted and rejected optimizations, remaining risks, and the
//! commands and artifacts to reproduce it.
//!
//! [`build`] gives the report as a JSON value (`mlxport.report/v1`);
//! [`markdown`] and [`html`] render it. The HTML page is self-contained:
//! inline CSS, inline SVG charts (parity error by rung, throughput by
//! prompt length when receipts have one), no external resource.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::card::{self, finite};
use crate::error::{io, Error, Result};
use crate::portdir::PortDir;
use crate::text::{cell, cos, html as esc, num};

pub const REPORT_SCHEMA: &str = "mlxport.report/v1";

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string).or_else(|| x["message"].as_str().map(str::to_string))).collect())
        .unwrap_or_default()
}

/// Throughput points of the receipts: (prompt length, label, median, unit).
fn throughput(p: &PortDir) -> Vec<(Option<f64>, String, f64, String)> {
    let mut out = Vec::new();
    for (_, r) in &p.bench {
        // Generation receipts: one benchmark per prompt length.
        let rows = mlxport_bench::generate::rows(r);
        if rows.len() == r.benchmarks.len() && !rows.is_empty() {
            for (g, b) in rows.iter().zip(&r.benchmarks) {
                out.push((Some(g.prompt_tokens as f64), format!("{} {}", r.workload.name, card::role(b)), b.stats.median, b.metric.unit.clone()));
            }
            continue;
        }
        // The prompt length: the workload's parameters, else the first
        // number in its name (`prompt-64-tokens`).
        let len =
            r.workload.parameters.as_ref().and_then(|w| ["prompt_tokens", "prompt_length", "prompt_len"].iter().find_map(|k| w[*k].as_f64())).or_else(|| {
                let digits: String = r.workload.name.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            });
        for b in &r.benchmarks {
            out.push((len, format!("{} {}", r.workload.name, card::role(b)), b.stats.median, b.metric.unit.clone()));
        }
    }
    out
}

/// The report as JSON.
pub fn build(p: &PortDir) -> Value {
    let kb = mlxport_kb::kb();
    let family = p.family().unwrap_or("unknown").to_string();
    let runbook = kb.runbook_for_family(&family);
    let (repo, revision) = card::base_model(p);
    let facts = &p.inspection["facts"];
    let architecture = json!({
        "family": family,
        "model_type": p.port.model_type.as_deref().or_else(|| facts["model_type"].as_str()),
        "architectures": facts["architectures"],
        "layers": facts["num_hidden_layers"], "hidden_size": facts["hidden_size"], "attention_heads": facts["num_attention_heads"],
        "kv_heads": facts["num_key_value_heads"], "vocab_size": facts["vocab_size"],
        "parameters": p.inspection.pointer("/size/parameters"),
        "traits": p.inspection.pointer("/routing/traits"),
        "state": p.plan.as_ref().and_then(|x| x.pointer("/family/state")),
        "mlx_reference": p.inspection.pointer("/routing/references"),
    });
    let runbook_v = runbook.map(|r| {
        json!({
            "id": r.id, "task": r.task, "domain": r.domain, "default_objective": r.default_objective,
            "port_first": r.port_first, "layout_traps": r.layout_traps, "parity_boundaries": r.parity_boundaries,
            "transforms": r.transforms, "quality_metric": r.quality_metric, "stop_conditions": r.stop_conditions,
        })
    });
    let steps: Vec<Value> = p
        .port
        .steps
        .iter()
        .map(|s| json!({"name": s.name, "status": s.status, "seconds": s.seconds, "finished_at": s.finished_at, "summary": s.summary}))
        .collect();
    let map_summary = p.map_validation.as_ref().map(|m| m["summary"].clone());
    let implementation = json!({
        "target": p.target(),
        "package": p.scaffold.as_ref().map(|s| json!({"name": s["package"], "features": s["features"], "files": s["files"].as_array().map(Vec::len)})),
        "conversion": p.conversion.as_ref().map(|c| json!({"layout": c.pointer("/target/layout"), "dtype": c.pointer("/target/dtype"), "tensors": c.pointer("/target/tensors"), "parameters": c.pointer("/target/parameters"), "bytes": c.pointer("/target/total_size"), "config_changes": c["config_changes"]})),
        "weight_map": p.weight_map.as_ref().map(|m| json!({"rules": m["rules"].as_array().map(Vec::len), "schema": m["schema"]})),
        "map_validation": map_summary,
        "steps": steps,
    });
    let parity = p.parity.as_ref().map(|par| {
        json!({
            "status": par.status(), "summary": par.summary(), "line": card::parity_line(par),
            "implementation": card::implementation(p),
            "first_divergence": par.first_divergence(),
            "rungs": card::rungs(par),
        })
    });
    let mut metrics = Vec::new();
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (file, r) in &p.bench {
        let hw = card::hardware(&r.environment);
        for b in &r.benchmarks {
            metrics.push(json!({"receipt": file, "role": b.role, "label": format!("{} {}", r.workload.name, card::role(b)), "metric": b.metric.name, "unit": b.metric.unit,
                "median": b.stats.median, "ci95": [b.stats.median_ci.low, b.stats.median_ci.high], "runs": b.stats.n, "hardware": hw,
                "workload": r.workload.name, "parameters": r.workload.parameters}));
        }
        if let Some(c) = &r.comparison {
            let gate_ok = r.quality_gate.as_ref().map(|g| g.passed).unwrap_or(true);
            let entry = json!({"receipt": file, "workload": r.workload.name, "verdict": c.verdict, "improvement": c.improvement, "quality_gate_passed": gate_ok, "hardware": hw});
            if c.verdict == mlxport_bench::compare::Verdict::Faster && gate_ok {
                accepted.push(entry);
            } else {
                rejected.push(entry);
            }
        }
    }
    for c in search(p) {
        if c["accepted"] == true {
            accepted.push(c);
        } else {
            rejected.push(c);
        }
    }
    let quantization = quantization(p);
    if let Some(q) = &quantization {
        if q["accepted"] == true {
            accepted.push(q.clone());
        } else {
            rejected.push(q.clone());
        }
    }
    let mut risks: Vec<String> = Vec::new();
    risks.extend(strs(p.inspection.get("blockers")).into_iter().map(|s| format!("blocker: {s}")));
    risks.extend(strs(p.inspection.get("warnings")));
    risks.extend(strs(p.inspection.get("notes")));
    risks.extend(strs(p.plan.as_ref().and_then(|x| x.get("uncertainties"))));
    risks.extend(card::limitations(p, None));
    let mut seen = std::collections::BTreeSet::new();
    risks.retain(|r| seen.insert(r.clone()));
    let unsupported: Vec<String> = p
        .plan
        .as_ref()
        .map(|pl| {
            let mut u: Vec<String> = Vec::new();
            u.extend(
                pl["rungs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["applies"] == false)
                    .map(|r| format!("rung {} ({}) does not apply", r["id"].as_str().unwrap_or("?"), r["name"].as_str().unwrap_or("?"))),
            );
            u
        })
        .unwrap_or_default();
    let artifacts: Vec<Value> = p
        .port
        .steps
        .iter()
        .flat_map(|s| s.artifacts.iter().map(move |a| json!({"step": s.name, "path": a.path, "sha256": a.sha256, "bytes": a.bytes})))
        .collect();
    let mut report = json!({
        "schema": REPORT_SCHEMA,
        "tool": {"name": "mlxport", "version": env!("CARGO_PKG_VERSION")},
        "model": {"name": card::source_name(p), "repo": repo, "revision": revision, "pinned": card::pinned(p), "fingerprint": p.fingerprint(), "status": p.port.status, "stopped_at": p.port.stopped_at},
        "architecture": architecture,
        "runbook": runbook_v,
        "evidence": {"routing": p.inspection.pointer("/routing/evidence"), "confidence": p.inspection.pointer("/routing/confidence"), "license": p.inspection["license"]},
        "implementation": implementation,
        "parity": parity,
        "metrics": metrics,
        "optimizations": {"accepted": accepted, "rejected": rejected, "search": p.optimize.as_ref().map(|o| json!({"objective": o["objective"], "chosen": o["chosen"]["id"], "change": o["chosen"]["change"], "why": o["chosen"]["why"], "records": "optimize/OPTIMIZATIONS.md"}))},
        "side_by_side": side_by_side(p),
        "side_by_side_of": side_by_side_of(p),
        "quality": p.quality,
        "risks": risks,
        "unsupported": unsupported,
        "provenance": provenance(p),
        "port_command": card::port_command(p),
        "model_note": card::model_note(p),
        "commands": card::commands(p),
        "artifacts": artifacts,
    });
    // The serving profile, only where `mlxport profile` wrote one.
    if let (Some(prof), Some(obj)) = (&p.profile, report.as_object_mut()) {
        obj.insert("profile".into(), prof.clone());
    }
    report
}

/// The pins, source files, versions and the source card's facts.
fn provenance(p: &PortDir) -> Value {
    let files: Vec<Value> = card::source_files(p).into_iter().map(|(path, sha256, bytes)| json!({"path": path, "sha256": sha256, "bytes": bytes})).collect();
    let versions: Vec<Value> = card::versions(p).into_iter().map(|(k, v)| json!({"name": k, "version": v})).collect();
    let source_card = p.source_card.as_deref().map(crate::source_card::SourceCard::parse).map(|c| {
        json!({
            "file": crate::source_card::PORT_PATH,
            "license": c.license(),
            "facts": c.facts().into_iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "sections": c.kept().into_iter().map(|s| json!({"heading": s.heading, "text": s.text})).collect::<Vec<_>>(),
        })
    });
    json!({"record": p.port.provenance, "files": files, "versions": versions, "source_card": source_card})
}

/// Generation figures by prompt length of the `float` and `quantized`
/// receipts the port's bench step writes (bench/float.json,
/// bench/quantized.json), side by side.
/// With an optimization search (and no bench step), the baseline's and
/// the chosen candidate's receipts (optimize/receipts/) instead.
fn side_by_side(p: &PortDir) -> Vec<Value> {
    let find = |name: &str| p.bench.iter().find(|(f, _)| f == name).map(|(_, r)| mlxport_bench::generate::rows(r));
    let Some((base, cand)) = find("float.json").zip(find("quantized.json")).or_else(|| search_receipts(p)) else { return Vec::new() };
    let fig = |g: &mlxport_bench::generate::Row| json!({"decode_tokens_per_s": g.decode_tokens_per_s, "prefill_tokens_per_s": g.prefill_tokens_per_s, "ttft_s": g.ttft_s, "peak_memory_bytes": g.peak_memory_bytes, "runs": g.runs});
    base.iter()
        .filter_map(|b| {
            let c = cand.iter().find(|c| c.prompt_tokens == b.prompt_tokens)?;
            let ratio = if b.decode_tokens_per_s > 0.0 { Some(c.decode_tokens_per_s / b.decode_tokens_per_s) } else { None };
            Some(json!({"prompt_tokens": b.prompt_tokens, "baseline": fig(b), "optimized": fig(c), "decode_speedup": ratio}))
        })
        .collect()
}

/// Generation rows of the search's baseline and chosen candidate.
fn search_receipts(p: &PortDir) -> Option<(Vec<mlxport_bench::generate::Row>, Vec<mlxport_bench::generate::Row>)> {
    let o = p.optimize.as_ref()?;
    let chosen = o.pointer("/chosen/id")?.as_str()?;
    let record = |id: &str| if id == "baseline" { Some(&o["baseline"]) } else { o["records"].as_array()?.iter().find(|r| r["id"] == id) };
    let rows = |r: &Value| -> Option<Vec<mlxport_bench::generate::Row>> {
        let rel = crate::portdir::checked_relative(r["receipt"].as_str()?, &p.root.join("optimize/optimize.json")).ok()?;
        let v = crate::portdir::read_json(&p.root.join("optimize").join(rel)).ok()?;
        let receipt: mlxport_bench::receipt::Receipt = serde_json::from_value(v).ok()?;
        Some(mlxport_bench::generate::rows(&receipt))
    };
    if chosen == "baseline" {
        return None;
    }
    Some((rows(record("baseline")?)?, rows(record(chosen)?)?))
}

/// Which checkpoints and receipts the side-by-side table compares.
fn side_by_side_of(p: &PortDir) -> Value {
    let bench = ["float.json", "quantized.json"].iter().all(|n| p.bench.iter().any(|(f, _)| f == n));
    if bench {
        json!({"baseline": "weights/", "optimized": "quantized/", "receipts": "bench/"})
    } else if p.optimize.is_some() {
        json!({"baseline": "weights/", "optimized": "optimize/chosen/", "receipts": "optimize/receipts/"})
    } else {
        Value::Null
    }
}

/// The optimization search of `port --optimize`: each candidate as an
/// accepted (kept) or rejected (reverted) optimization, with its gate,
/// size and speed against the baseline; the chosen one marked.
fn search(p: &PortDir) -> Vec<Value> {
    let Some(o) = &p.optimize else { return Vec::new() };
    let chosen = o.pointer("/chosen/id").and_then(Value::as_str).unwrap_or("");
    let base = &o["baseline"];
    o["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let keep = r["decision"]["keep"] == true;
            let verdict = r["correctness"]["quality_verdict"].as_str().map(str::to_string).unwrap_or_else(|| {
                if r["correctness"]["error"].is_string() {
                    "error".into()
                } else {
                    "not run".into()
                }
            });
            let reason = r["decision"]["reason"].as_str().or_else(|| r["correctness"]["error"].as_str()).unwrap_or("").to_string();
            json!({
                "candidate": r["id"], "change": r["change"], "accepted": keep, "chosen": r["id"] == chosen,
                "quality_verdict": verdict, "reason": reason,
                "bits_per_weight": r["produced"]["bpw"],
                "baseline_bytes": base["produced"]["weight_bytes"], "weight_bytes": r["produced"]["weight_bytes"],
                "baseline_decode_tokens_per_s": base["speed"][0]["decode_tokens_per_s"], "decode_tokens_per_s": r["speed"][0]["decode_tokens_per_s"],
                "prompt_tokens": r["speed"][0]["prompt_tokens"],
                "peak_memory_bytes": r["speed"][0]["peak_memory_bytes"],
                "artifact": if r["id"] == chosen { "optimize/chosen" } else { "optimize/records" },
            })
        })
        .collect()
}

/// The port's quantization as an optimization: what it saved, what the
/// quality gate measured, what the receipts say; accepted when the gate
/// passed.
fn quantization(p: &PortDir) -> Option<Value> {
    let qdir = p.root.join("quantized");
    let cfg = crate::portdir::read_json(&qdir.join("config.json")).ok()?;
    let q = cfg.get("quantization").filter(|q| q.is_object())?.clone();
    let target = |dir: &str| crate::portdir::read_json(&p.root.join(dir).join("mlxport-conversion.json")).ok().map(|v| v["target"].clone());
    let (float, quant) = (target("weights"), target("quantized"));
    let bytes = |t: &Option<Value>| t.as_ref().and_then(|t| t["total_size"].as_u64());
    let (fb, qb) = (bytes(&float), bytes(&quant));
    let params = quant.as_ref().and_then(|t| t["parameters"].as_u64()).filter(|n| *n > 0);
    let bpw = qb.zip(params).map(|(b, n)| b as f64 * 8.0 / n as f64);
    let what = format!(
        "quantization {} {}-bit, group {}",
        q["mode"].as_str().unwrap_or("affine"),
        q["bits"].as_u64().map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
        q["group_size"].as_u64().map(|b| b.to_string()).unwrap_or_else(|| "?".into())
    );
    let verdict = p.quality.as_ref().map(|x| x.verdict.clone()).unwrap_or_else(|| "not run".into());
    let checks: Vec<String> =
        p.quality.iter().flat_map(|x| &x.checks).map(|c| format!("{} {} ({} {})", c.name, num(finite(c.value)), c.op, num(finite(c.limit)))).collect();
    let reasons = p.quality.as_ref().map(|x| x.reasons.clone()).unwrap_or_default();
    let sbs = side_by_side(p);
    let accepted = verdict == "pass";
    let why = if accepted {
        format!("the quality gate passed{}", fb.zip(qb).map(|(f, q)| format!("; weights {:.2}x smaller", f as f64 / q.max(1) as f64)).unwrap_or_default())
    } else if verdict == "not run" {
        "no quality gate result".into()
    } else {
        format!("the quality gate failed: {}", reasons.join("; "))
    };
    Some(json!({
        "optimization": what, "artifact": "quantized", "config": q,
        "float_bytes": fb, "quantized_bytes": qb, "bits_per_weight": bpw,
        "quality_verdict": verdict, "quality_checks": checks,
        "side_by_side": sbs, "accepted": accepted, "reason": why,
    }))
}

fn mib(v: &Value) -> String {
    v.as_f64().map(|b| format!("{:.1} MiB", b / (1u64 << 20) as f64)).unwrap_or_else(|| "—".into())
}

fn list(s: &mut String, items: &[String], empty: &str) {
    if items.is_empty() {
        let _ = writeln!(s, "{empty}\n");
        return;
    }
    for i in items {
        let _ = writeln!(s, "- {i}");
    }
    s.push('\n');
}

fn vstrs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The section titles, in order (Markdown and HTML share them).
pub const SECTIONS: [&str; 10] = [
    "Architecture and runbook",
    "Source revision and evidence",
    "Implementation and weight-map status",
    "Parity matrix",
    "Baseline and optimized metrics",
    "Accepted and rejected optimizations",
    "Remaining risks and unsupported paths",
    "Reproducible commands",
    "Artifacts",
    // Written after the parity matrix.
    "Quality gate",
];

pub fn markdown(r: &Value) -> String {
    let mut s = String::new();
    let m = &r["model"];
    let _ = writeln!(s, "# Port report: {}\n", m["name"].as_str().unwrap_or("model"));
    let _ = writeln!(
        s,
        "Port status: {}. Report schema `{}`, {} {}.\n",
        scalar(&m["status"]),
        REPORT_SCHEMA,
        r["tool"]["name"].as_str().unwrap_or(""),
        r["tool"]["version"].as_str().unwrap_or("")
    );
    let a = &r["architecture"];
    let _ = writeln!(s, "## {}\n", SECTIONS[0]);
    for (k, v) in [
        ("family", &a["family"]),
        ("model type", &a["model_type"]),
        ("architectures", &a["architectures"]),
        ("layers", &a["layers"]),
        ("hidden size", &a["hidden_size"]),
        ("attention heads", &a["attention_heads"]),
        ("KV heads", &a["kv_heads"]),
        ("vocabulary", &a["vocab_size"]),
        ("parameters", &a["parameters"]),
        ("traits", &a["traits"]),
        ("state", &a["state"]),
    ] {
        let _ = writeln!(s, "- {k}: {}", scalar(v));
    }
    s.push('\n');
    if let Some(rb) = r["runbook"].as_object() {
        let _ = writeln!(
            s,
            "Runbook `{}` ({}; default objective {}; quality metric: {}).\n",
            scalar(&rb["id"]),
            scalar(&rb["task"]),
            scalar(&rb["default_objective"]),
            scalar(&rb["quality_metric"])
        );
        s.push_str("Port first:\n\n");
        list(&mut s, &vstrs(&rb["port_first"]), "—");
        s.push_str("Layout traps:\n\n");
        list(&mut s, &vstrs(&rb["layout_traps"]), "—");
        s.push_str("Stop conditions:\n\n");
        list(&mut s, &vstrs(&rb["stop_conditions"]), "—");
    } else {
        s.push_str("No runbook in the knowledge base for this family.\n\n");
    }
    let _ = writeln!(s, "## {}\n", SECTIONS[1]);
    let _ = writeln!(s, "- source: `{}`", scalar(&m["name"]));
    let _ = writeln!(s, "- pinned: `{}` (repository: {}, revision: {})", scalar(&m["pinned"]), scalar(&m["repo"]), scalar(&m["revision"]));
    let _ = writeln!(s, "- fingerprint: `{}`", scalar(&m["fingerprint"]));
    let _ = writeln!(s, "- routing confidence: {}", scalar(&r["evidence"]["confidence"]));
    for e in r["evidence"]["routing"].as_array().into_iter().flatten() {
        let _ = writeln!(
            s,
            "  - {} = {} -> {} (weight {}{})",
            scalar(&e["signal"]),
            scalar(&e["value"]),
            scalar(&e["family"]),
            scalar(&e["weight"]),
            if e["decisive"] == true { ", decisive" } else { "" }
        );
    }
    let l = &r["evidence"]["license"];
    let _ =
        writeln!(s, "- license: {} ({}, redistribution {}): {}", scalar(&l["spdx"]), scalar(&l["class"]), scalar(&l["redistribution"]), scalar(&l["reason"]));
    for e in l["evidence"].as_array().into_iter().flatten() {
        let _ = writeln!(s, "  - {}: {}", scalar(&e["source"]), scalar(&e["value"]));
    }
    let pv = &r["provenance"];
    s.push_str("- tool and library versions:\n");
    for v in pv["versions"].as_array().into_iter().flatten() {
        let _ = writeln!(s, "  - {}: {}", scalar(&v["name"]), scalar(&v["version"]));
    }
    if let Some(sc) = pv["source_card"].as_object() {
        let _ = writeln!(s, "- source model card (`{}`), license in its front matter: {}", scalar(&sc["file"]), scalar(&sc["license"]));
        for f in sc["facts"].as_array().into_iter().flatten().filter(|f| f["name"] != "license") {
            let _ = writeln!(s, "  - {}: {}", scalar(&f["name"]), scalar(&f["value"]));
        }
    }
    s.push('\n');
    if let Some(files) = pv["files"].as_array().filter(|f| !f.is_empty()) {
        s.push_str("Source files, as inspected:\n\n| source file | bytes | SHA-256 |\n|---|---:|---|\n");
        for f in files {
            let _ = writeln!(s, "| {} | {} | `{}` |", cell(&scalar(&f["path"])), scalar(&f["bytes"]), scalar(&f["sha256"]));
        }
        s.push('\n');
    }
    for sec in pv["source_card"]["sections"].as_array().into_iter().flatten() {
        let _ = writeln!(s, "From the source model card, verbatim:\n");
        let mut t = crate::source_card::demote(sec["text"].as_str().unwrap_or(""), 3);
        if !t.ends_with('\n') {
            t.push('\n');
        }
        s.push_str(&t);
        s.push('\n');
    }
    let i = &r["implementation"];
    let _ = writeln!(s, "## {}\n", SECTIONS[2]);
    let _ = writeln!(s, "- target: {}", scalar(&i["target"]));
    if let Some(pk) = i["package"].as_object() {
        let _ = writeln!(s, "- generated package `{}`: {} files, features {}", scalar(&pk["name"]), scalar(&pk["files"]), scalar(&pk["features"]));
    }
    if let Some(c) = i["conversion"].as_object() {
        let _ = writeln!(
            s,
            "- converted weights: layout {}, dtype {}, {} tensors, {} parameters, {} bytes",
            scalar(&c["layout"]),
            scalar(&c["dtype"]),
            scalar(&c["tensors"]),
            scalar(&c["parameters"]),
            scalar(&c["bytes"])
        );
        for ch in vstrs(&c["config_changes"]) {
            let _ = writeln!(s, "  - config: {ch}");
        }
    } else {
        s.push_str("- converted weights: none\n");
    }
    let _ = writeln!(s, "- weight map: {} rules", scalar(&i["weight_map"]["rules"]));
    if let Some(ms) = i["map_validation"].as_object() {
        let kv: Vec<String> = ms.iter().filter(|(_, v)| !v.is_object()).map(|(k, v)| format!("{k} {}", scalar(v))).collect();
        let _ = writeln!(s, "- map validation: {}", kv.join(", "));
    }
    s.push_str("\n| step | status | seconds | finished |\n|---|---|---:|---|\n");
    for st in i["steps"].as_array().into_iter().flatten() {
        let _ = writeln!(s, "| {} | {} | {} | {} |", scalar(&st["name"]), scalar(&st["status"]), num(st["seconds"].as_f64()), scalar(&st["finished_at"]));
    }
    s.push('\n');
    let _ = writeln!(s, "## {}\n", SECTIONS[3]);
    match r["parity"].as_object() {
        None => s.push_str("Parity was not measured.\n\n"),
        Some(p) => {
            let _ = writeln!(s, "{} ({}).\n", scalar(&p["line"]), scalar(&p["implementation"]));
            s.push_str("| rung | max abs error | max rel error | cosine | tolerance (atol) | pass |\n|---|---:|---:|---:|---:|---|\n");
            for g in p["rungs"].as_array().into_iter().flatten() {
                let label = match g["tensors"].as_array() {
                    Some(t) if t.len() > 1 => format!("{} ({})", scalar(&g["name"]), scalar(&g["tensors"])),
                    _ => scalar(&g["name"]),
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&label),
                    num(g["max_abs"].as_f64()),
                    num(g["max_rel"].as_f64()),
                    cos(g["cosine"].as_f64()),
                    num(g["atol"].as_f64()),
                    if g["status"] == "pass" { "yes" } else { "**no**" }
                );
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "## {}\n", SECTIONS[9]);
    match Some(&r["quality"]).filter(|q| q.is_object()) {
        None => s.push_str("No quality gate was run (`mlxport port -q` runs it on the quantized weights).\n\n"),
        Some(q) => {
            let _ = writeln!(
                s,
                "Verdict: **{}** ({} gate, candidate `{}` against reference `{}`).\n",
                scalar(&q["verdict"]),
                scalar(&q["kind"]),
                scalar(&q["candidate"]),
                scalar(&q["reference"])
            );
            s.push_str("| check | value | limit | result |\n|---|---:|---|---|\n");
            for c in q["checks"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} {} | {} |",
                    cell(&scalar(&c["name"])),
                    num(c["value"].as_f64()),
                    scalar(&c["op"]),
                    num(c["limit"].as_f64()),
                    if c["pass"] == true { "pass" } else { "**fail**" }
                );
            }
            s.push('\n');
            for reason in vstrs(&q["reasons"]) {
                let _ = writeln!(s, "- fail: {reason}");
            }
            if q["reasons"].as_array().is_some_and(|a| !a.is_empty()) {
                s.push('\n');
            }
        }
    }
    let _ = writeln!(s, "## {}\n", SECTIONS[4]);
    let sbs = r["side_by_side"].as_array().cloned().unwrap_or_default();
    if !sbs.is_empty() {
        let of = &r["side_by_side_of"];
        let _ = writeln!(
            s,
            "Float (baseline, `{}`) against optimized (`{}`) generation, medians of the receipts in {}:\n",
            scalar(&of["baseline"]),
            scalar(&of["optimized"]),
            scalar(&of["receipts"])
        );
        s.push_str("| prompt tokens | decode tok/s baseline | decode tok/s optimized | speedup | prefill tok/s baseline | prefill tok/s optimized | peak memory baseline | peak memory optimized |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for x in &sbs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                scalar(&x["prompt_tokens"]),
                num(x["baseline"]["decode_tokens_per_s"].as_f64()),
                num(x["optimized"]["decode_tokens_per_s"].as_f64()),
                x["decode_speedup"].as_f64().map(|v| format!("{v:.2}x")).unwrap_or_else(|| "—".into()),
                num(x["baseline"]["prefill_tokens_per_s"].as_f64()),
                num(x["optimized"]["prefill_tokens_per_s"].as_f64()),
                mib(&x["baseline"]["peak_memory_bytes"]),
                mib(&x["optimized"]["peak_memory_bytes"]),
            );
        }
        s.push('\n');
    }
    if let Some(prof) = r.get("profile").filter(|v| v.is_object()) {
        let fc = &prof["first_call"];
        let _ = writeln!(
            s,
            "Profile of the decoder as served ({}, `profile/profile.json`): load {} s; first call on {} tokens {} s against {} s again (first-call cost {} s).\n",
            scalar(&prof["implementation"]),
            num(prof["load_s"].as_f64()),
            scalar(&fc["tokens"]),
            num(fc["first_s"].as_f64()),
            num(fc["again_s"].as_f64()),
            num(fc["cost_s"].as_f64()),
        );
        s.push_str("![serving profile](profile.svg)\n\n");
        s.push_str("| prompt tokens | prefill tok/s | peak memory |\n|---:|---:|---:|\n");
        for x in prof["prefill"].as_array().into_iter().flatten() {
            let _ = writeln!(s, "| {} | {} | {} |", scalar(&x["prompt_tokens"]), num(x["tokens_per_s"].as_f64()), mib(&x["peak_memory_bytes"]));
        }
        s.push_str("\n| context tokens | decode tok/s | median step | Python share | peak memory |\n|---:|---:|---:|---:|---:|\n");
        for x in prof["decode"].as_array().into_iter().flatten() {
            let _ = writeln!(
                s,
                "| {} | {} | {} ms | {} | {} |",
                scalar(&x["context_tokens"]),
                num(x["tokens_per_s"].as_f64()),
                num(x["step_median_s"].as_f64().map(|v| v * 1e3)),
                x["python_share"].as_f64().map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into()),
                mib(&x["peak_memory_bytes"]),
            );
        }
        s.push('\n');
    }
    let ms = r["metrics"].as_array().cloned().unwrap_or_default();
    if ms.is_empty() {
        s.push_str("No benchmark receipts were recorded (bench/*.json).\n\n");
    } else {
        s.push_str("| receipt | role | benchmark | metric | median | 95% CI | runs | hardware |\n|---|---|---|---|---:|---|---:|---|\n");
        for x in &ms {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} ({}) | {} | {}–{} | {} | {} |",
                scalar(&x["receipt"]),
                scalar(&x["role"]),
                cell(&scalar(&x["label"])),
                scalar(&x["metric"]),
                scalar(&x["unit"]),
                num(x["median"].as_f64()),
                num(x["ci95"][0].as_f64()),
                num(x["ci95"][1].as_f64()),
                scalar(&x["runs"]),
                cell(&scalar(&x["hardware"]))
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## {}\n", SECTIONS[5]);
    let (acc, rej) =
        (r["optimizations"]["accepted"].as_array().cloned().unwrap_or_default(), r["optimizations"]["rejected"].as_array().cloned().unwrap_or_default());
    if let Some(o) = r["optimizations"]["search"].as_object() {
        let _ = writeln!(
            s,
            "Optimization search (`{}`), objective {}: chosen **{}** ({}): {}\n",
            scalar(&o["records"]),
            scalar(&o["objective"]),
            scalar(&o["chosen"]),
            scalar(&o["change"]),
            scalar(&o["why"])
        );
    }
    if acc.is_empty() && rej.is_empty() {
        s.push_str("None run.\n\n");
    } else {
        for (what, xs) in [("accepted", &acc), ("rejected", &rej)] {
            for x in xs {
                if x.get("candidate").is_some() {
                    let speed = match (x["baseline_decode_tokens_per_s"].as_f64(), x["decode_tokens_per_s"].as_f64()) {
                        (Some(b), Some(c)) if b > 0.0 => format!(
                            "; decode {} -> {} tok/s ({:.2}x) at {} prompt tokens, peak memory {}",
                            num(Some(b)),
                            num(Some(c)),
                            c / b,
                            scalar(&x["prompt_tokens"]),
                            mib(&x["peak_memory_bytes"])
                        ),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        s,
                        "- {what}{}: candidate `{}`, {}: weights {} -> {}{}; quality gate {}{speed}; {}",
                        if x["chosen"] == true { " (chosen)" } else { "" },
                        scalar(&x["candidate"]),
                        cell(&scalar(&x["change"])),
                        mib(&x["baseline_bytes"]),
                        mib(&x["weight_bytes"]),
                        x["bits_per_weight"].as_f64().map(|b| format!(" ({b:.3} bits per weight)")).unwrap_or_default(),
                        scalar(&x["quality_verdict"]),
                        scalar(&x["reason"])
                    );
                    continue;
                }
                if x.get("optimization").is_some() {
                    let _ = writeln!(
                        s,
                        "- {what}: {} (`{}/`): weights {} -> {}{}; quality gate {}{}; {}",
                        scalar(&x["optimization"]),
                        scalar(&x["artifact"]),
                        mib(&x["float_bytes"]),
                        mib(&x["quantized_bytes"]),
                        x["bits_per_weight"].as_f64().map(|b| format!(" ({b:.3} bits per weight)")).unwrap_or_default(),
                        scalar(&x["quality_verdict"]),
                        if x["quality_checks"].as_array().is_some_and(|a| !a.is_empty()) {
                            format!(" ({})", scalar(&x["quality_checks"]))
                        } else {
                            String::new()
                        },
                        scalar(&x["reason"])
                    );
                    for y in x["side_by_side"].as_array().into_iter().flatten() {
                        let _ = writeln!(
                            s,
                            "  - {} prompt tokens: decode {} -> {} tok/s ({})",
                            scalar(&y["prompt_tokens"]),
                            num(y["baseline"]["decode_tokens_per_s"].as_f64()),
                            num(y["optimized"]["decode_tokens_per_s"].as_f64()),
                            y["decode_speedup"].as_f64().map(|v| format!("{v:.2}x")).unwrap_or_else(|| "—".into())
                        );
                    }
                    continue;
                }
                let _ = writeln!(
                    s,
                    "- {what}: {} ({}): verdict {}, quality gate {}",
                    scalar(&x["workload"]),
                    scalar(&x["receipt"]),
                    scalar(&x["verdict"]),
                    if x["quality_gate_passed"] == true { "passed" } else { "failed" }
                );
            }
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## {}\n", SECTIONS[6]);
    list(&mut s, &vstrs(&r["risks"]), "None recorded.");
    s.push_str("Unsupported paths:\n\n");
    list(&mut s, &vstrs(&r["unsupported"]), "None recorded by the plan.");
    let _ = writeln!(s, "## {}\n", SECTIONS[7]);
    s.push_str("The whole port, in a fresh directory (the flags port.json records):\n\n```sh\n");
    let _ = writeln!(s, "{}", r["port_command"].as_str().unwrap_or(""));
    s.push_str("```\n\n");
    s.push_str(r["model_note"].as_str().unwrap_or(""));
    s.push_str("Or step by step, in the port directory:\n\n```sh\n");
    for c in vstrs(&r["commands"]) {
        let _ = writeln!(s, "{c}");
    }
    s.push_str("```\n\n");
    let _ = writeln!(s, "## {}\n", SECTIONS[8]);
    s.push_str("Paths relative to the port directory.\n\n| step | path | bytes | SHA-256 |\n|---|---|---:|---|\n");
    for x in r["artifacts"].as_array().into_iter().flatten() {
        let _ = writeln!(s, "| {} | {} | {} | `{}` |", scalar(&x["step"]), cell(&scalar(&x["path"])), scalar(&x["bytes"]), scalar(&x["sha256"]));
    }
    s
}

/// A bar chart of log10 max abs error by rung (tolerance ticks), failing
/// rungs red.
fn parity_chart(r: &Value) -> Option<String> {
    let rungs: Vec<&Value> = r.pointer("/parity/rungs")?.as_array()?.iter().collect();
    if rungs.is_empty() {
        return None;
    }
    let (left, top, h, step) = (60.0, 20.0, 200.0, 28.0);
    let w = left + 20.0 + step * rungs.len() as f64;
    let lo = -9.0f64;
    let hi = 0.0f64;
    let y = |v: f64| top + h * (1.0 - ((v.max(1e-12).log10().clamp(lo, hi)) - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="parity error by rung" width="{w:.0}" height="{:.0}" font-family="sans-serif" font-size="10">"##,
        top + h + 110.0
    );
    for e in (lo as i32)..=(hi as i32) {
        let yy = y(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.0}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.0}" y="{:.1}" text-anchor="end">1e{e}</text>"##,
            w - 10.0,
            left - 4.0,
            yy + 3.0
        );
    }
    for (i, g) in rungs.iter().enumerate() {
        let x = left + step * i as f64 + 4.0;
        let v = g["max_abs"].as_f64().unwrap_or(0.0);
        let fail = g["status"] != "pass";
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: max abs {}</title></rect>"##,
            step - 8.0,
            (top + h - yy).max(0.5),
            if fail { "#c62828" } else { "#2e7d32" },
            esc(g["name"].as_str().unwrap_or("")),
            num(Some(v))
        );
        if let Some(t) = g["atol"].as_f64().filter(|t| *t > 0.0) {
            let ty = y(t);
            let _ = writeln!(s, r##"<line x1="{:.1}" x2="{:.1}" y1="{ty:.1}" y2="{ty:.1}" stroke="#333" stroke-dasharray="3,2"/>"##, x - 2.0, x + step - 6.0);
        }
        let _ =
            writeln!(s, r##"<text transform="translate({:.1},{:.1}) rotate(60)">{}</text>"##, x + 4.0, top + h + 8.0, esc(g["name"].as_str().unwrap_or("")));
    }
    let _ = writeln!(s, r##"<text x="4" y="12">max abs error (log scale); dashed: tolerance</text></svg>"##);
    Some(s)
}

/// Benchmark medians by prompt length (or by benchmark when a receipt
/// names no length): throughput when the unit is a rate, else time.
fn throughput_chart(points: &[(Option<f64>, String, f64, String)]) -> Option<(String, String)> {
    if points.is_empty() {
        return None;
    }
    let max = points.iter().map(|p| p.2).fold(0.0f64, f64::max).max(1e-12);
    let (left, top, h, step) = (20.0, 40.0, 180.0, 110.0);
    let w = left + 20.0 + step * points.len() as f64;
    let mut sorted: Vec<&(Option<f64>, String, f64, String)> = points.iter().collect();
    sorted.sort_by(|a, b| a.0.unwrap_or(f64::MAX).total_cmp(&b.0.unwrap_or(f64::MAX)).then(a.1.cmp(&b.1)));
    let unit = sorted[0].3.clone();
    let what = if unit.contains("/s") { "Throughput" } else { "Wall time" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{what} by prompt length" width="{w:.0}" height="{:.0}" font-family="sans-serif" font-size="11">"##,
        top + h + 50.0
    );
    let _ = writeln!(s, r##"<text x="{left}" y="14">median {} ({}) by prompt length</text>"##, what.to_ascii_lowercase(), esc(&unit));
    for (i, (len, label, v, unit)) in sorted.iter().enumerate() {
        let x = left + step * i as f64 + 10.0;
        let bw = step - 20.0;
        let bh = (h * v / max).max(0.5);
        let cx = x + bw / 2.0;
        let _ = writeln!(
            s,
            r##"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{bh:.1}" fill="#1565c0"><title>{}: {} {}</title></rect>"##,
            top + h - bh,
            esc(label),
            num(Some(*v)),
            esc(unit)
        );
        let _ = writeln!(s, r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##, top + h - bh - 4.0, num(Some(*v)));
        let _ = writeln!(
            s,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            top + h + 15.0,
            len.map(|l| format!("{l:.0} tokens")).unwrap_or_else(|| "length not recorded".into())
        );
        let _ = writeln!(s, r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#555">{}</text>"##, top + h + 29.0, esc(label));
    }
    s.push_str("</svg>\n");
    Some((s, format!("{what} by prompt length")))
}

/// The serving profile as one SVG of three panels: load and first-call
/// time, prefill tokens/s by prompt length, decode tokens/s by context
/// length (each decode bar split into its Python share, darker, and the
/// rest). `None` without a profile or with nothing measured.
pub fn profile_chart(prof: &Value) -> Option<String> {
    let f = |v: &Value| v.as_f64().filter(|x| x.is_finite() && *x >= 0.0);
    let fc = &prof["first_call"];
    let times: Vec<(String, f64)> = [("load", f(&prof["load_s"])), ("first call", f(&fc["first_s"])), ("same call again", f(&fc["again_s"]))]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
        .collect();
    let rows = |key: &str, len: &str| -> Vec<(String, f64, Option<f64>)> {
        prof[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| Some((format!("{} tokens", scalar(&x[len])), f(&x["tokens_per_s"])?, f(&x["python_share"]))))
            .collect()
    };
    let (prefill, decode) = (rows("prefill", "prompt_tokens"), rows("decode", "context_tokens"));
    if times.is_empty() && prefill.is_empty() && decode.is_empty() {
        return None;
    }
    let (top, h, bw, gap, pad) = (40.0, 150.0, 46.0, 14.0, 30.0);
    type Bars = Vec<(String, f64, Option<f64>)>;
    let panels: [(&str, &str, Bars); 3] = [
        ("load and first call", "s", times.into_iter().map(|(n, v)| (n, v, None)).collect()),
        ("prefill by prompt length", "tok/s", prefill),
        ("decode by context length", "tok/s", decode),
    ];
    let widths: Vec<f64> = panels.iter().map(|p| (p.2.len().max(1) as f64) * (bw + gap) + gap).collect();
    let w = widths.iter().sum::<f64>() + pad * (panels.len() as f64 + 1.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="serving profile" width="{w:.0}" height="{:.0}" font-family="sans-serif" font-size="10">"##,
        top + h + 45.0
    );
    let mut x0 = pad;
    for ((title, unit, bars), pw) in panels.iter().zip(&widths) {
        let _ = writeln!(out, r##"<text x="{x0:.1}" y="14" font-size="11">{} ({})</text>"##, esc(title), esc(unit));
        let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1e-12);
        let _ = writeln!(out, r##"<line x1="{x0:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999"/>"##, top + h, x0 + pw, top + h);
        for (i, (label, v, share)) in bars.iter().enumerate() {
            let x = x0 + gap + i as f64 * (bw + gap);
            let bh = (h * v / max).max(0.5);
            let y = top + h - bh;
            let _ = writeln!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="#1565c0"><title>{}: {} {}</title></rect>"##,
                esc(label),
                num(Some(*v)),
                esc(unit)
            );
            if let Some(sh) = share {
                let sh_h = bh * sh.min(1.0);
                let _ = writeln!(
                    out,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{sh_h:.1}" fill="#e65100"><title>Python share {:.1}%</title></rect>"##,
                    top + h - sh_h,
                    sh * 100.0
                );
            }
            let cx = x + bw / 2.0;
            let _ = writeln!(out, r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##, y - 3.0, num(Some(*v)));
            let _ = writeln!(out, r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##, top + h + 13.0, esc(label));
        }
        x0 += pw + pad;
    }
    let _ = writeln!(
        out,
        r##"<text x="{pad}" y="{:.1}" fill="#555">decode bars: orange is the share of a step spent outside MLX (Python)</text>"##,
        top + h + 35.0
    );
    out.push_str("</svg>\n");
    Some(out)
}

/// Markdown to HTML for the subset [`markdown`] writes: headings, lists,
/// tables, code blocks, inline code and bold.
fn md_to_html(md: &str) -> String {
    let inline = |t: &str| -> String {
        let e = esc(t);
        let mut out = String::new();
        for (i, part) in e.split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(out, "<code>{part}</code>");
            } else {
                let mut b = String::new();
                for (j, q) in part.split("**").enumerate() {
                    if j % 2 == 1 {
                        let _ = write!(b, "<strong>{q}</strong>");
                    } else {
                        b.push_str(q);
                    }
                }
                out.push_str(&b);
            }
        }
        out.replace("\\|", "|")
    };
    let mut s = String::new();
    let mut in_code = false;
    let mut in_list = false;
    let mut table: Vec<Vec<String>> = Vec::new();
    let flush_table = |s: &mut String, table: &mut Vec<Vec<String>>| {
        if table.is_empty() {
            return;
        }
        s.push_str("<table>\n");
        for (i, row) in table.iter().enumerate() {
            if i == 1 {
                continue;
            }
            let tag = if i == 0 { "th" } else { "td" };
            s.push_str("<tr>");
            for c in row {
                let _ = write!(s, "<{tag}>{c}</{tag}>");
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</table>\n");
        table.clear();
    };
    for line in md.lines() {
        if line.starts_with("```") {
            if in_code {
                s.push_str("</pre>\n");
            } else {
                s.push_str("<pre>");
            }
            in_code = !in_code;
            continue;
        }
        if in_code {
            let _ = writeln!(s, "{}", esc(line));
            continue;
        }
        if line.starts_with('|') {
            let cells: Vec<String> = line.trim().trim_matches('|').split(" | ").map(|c| inline(c.trim())).collect();
            table.push(cells);
            continue;
        }
        flush_table(&mut s, &mut table);
        let is_item = line.starts_with("- ") || line.starts_with("  - ");
        if in_list && !is_item {
            s.push_str("</ul>\n");
            in_list = false;
        }
        if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(s, "<h2 id=\"{}\">{}</h2>", h.to_ascii_lowercase().replace(' ', "-"), inline(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(s, "<h1>{}</h1>", inline(h));
        } else if is_item {
            if !in_list {
                s.push_str("<ul>\n");
                in_list = true;
            }
            let sub = line.starts_with("  ");
            let _ = writeln!(s, "<li{}>{}</li>", if sub { " class=\"sub\"" } else { "" }, inline(line.trim_start().trim_start_matches("- ")));
        } else if !line.trim().is_empty() {
            let _ = writeln!(s, "<p>{}</p>", inline(line));
        }
    }
    flush_table(&mut s, &mut table);
    if in_list {
        s.push_str("</ul>\n");
    }
    s
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.6em 0;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
th{background:#f3f3f3}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:12px}code{background:#f3f3f3;padding:0 2px}\
li.sub{margin-left:1.5em;list-style:circle}.chart{margin:.8em 0;overflow-x:auto}figure{margin:0}figcaption{font-size:12px;color:#555}";

/// The self-contained page: the Markdown sections, with the charts after
/// their sections.
pub fn html(r: &Value, p: &PortDir) -> String {
    let md = markdown(r);
    let mut body = md_to_html(&md);
    let parity_svg = p.parity_svg.as_ref().map(|s| s[s.find("<svg").unwrap_or(0)..].to_string()).filter(|s| !s.contains("href") && !s.contains("<script"));
    // compare's own chart of the ladder when the parity step drew one, else
    // a bar chart of the same figures.
    let mut charts = String::new();
    if let Some(c) = parity_svg {
        let _ = writeln!(
            charts,
            "<figure class=\"chart\" id=\"chart-parity\">{c}<figcaption>Parity error and cosine by rung (drawn by mlxport compare)</figcaption></figure>"
        );
    } else if let Some(c) = parity_chart(r) {
        let _ = writeln!(charts, "<figure class=\"chart\" id=\"chart-parity\">{c}<figcaption>Parity error by rung</figcaption></figure>");
    }
    let anchor = format!("<h2 id=\"{}\">", SECTIONS[4].to_ascii_lowercase().replace(' ', "-"));
    if let Some(pos) = body.find(&anchor) {
        body.insert_str(pos, &charts);
    } else {
        body.push_str(&charts);
    }
    let mut figs = String::new();
    if let Some((c, caption)) = throughput_chart(&throughput(p)) {
        figs.push_str(&format!("<figure class=\"chart\" id=\"chart-throughput\">{c}<figcaption>{caption}</figcaption></figure>\n"));
    }
    if let Some(c) = r.get("profile").and_then(profile_chart) {
        figs.push_str(&format!("<figure class=\"chart\" id=\"chart-profile\">{c}<figcaption>Serving profile: load and first-call cost, prefill and decode throughput (mlxport profile)</figcaption></figure>\n"));
    }
    if !figs.is_empty() {
        let anchor = format!("<h2 id=\"{}\">", SECTIONS[5].to_ascii_lowercase().replace(' ', "-"));
        match body.find(&anchor) {
            Some(pos) => body.insert_str(pos, &figs),
            None => body.push_str(&figs),
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Port report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(r["model"]["name"].as_str().unwrap_or("model"))
    )
}

/// Build and write report.md, report.json and report.html into `out`;
/// returns the JSON.
pub fn write(port_dir: &Path, out: &Path) -> Result<Value> {
    let p = PortDir::open(port_dir)?;
    let r = build(&p);
    std::fs::create_dir_all(out).map_err(io(out, "cannot create"))?;
    let md = markdown(&r);
    let page = html(&r, &p);
    let json_bytes = crate::package::to_pretty(&r);
    let lits: Vec<String> = p.root.canonicalize().ok().filter(|x| x.components().count() > 2).map(|x| x.display().to_string()).into_iter().collect();
    let mut findings = Vec::new();
    for (n, t) in [("report.md", md.as_str()), ("report.html", page.as_str()), ("report.json", std::str::from_utf8(&json_bytes).unwrap_or(""))] {
        findings.extend(crate::scan::scan_text(n, t, &lits));
    }
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().take(20).map(|f| format!("  {f}")).collect();
        return Err(Error::Refused(format!("the report would leak local paths or secrets; nothing was written:\n{}", list.join("\n"))));
    }
    let profile_svg = r.get("profile").and_then(profile_chart);
    match &profile_svg {
        Some(svg) => std::fs::write(out.join("profile.svg"), svg).map_err(io(&out.join("profile.svg"), "cannot write"))?,
        None => {
            let _ = std::fs::remove_file(out.join("profile.svg"));
        }
    }
    for (name, bytes) in [("report.md", md.as_bytes()), ("report.json", &json_bytes[..]), ("report.html", page.as_bytes())] {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(io(&tmp, "cannot write"))?;
        std::fs::rename(&tmp, &path).map_err(io(&path, "cannot write"))?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_subset_becomes_escaped_html() {
        let h = md_to_html("# T <x>\n\n- a `b<c>`\n  - sub\n\n| h | i |\n|---|---|\n| 1 \\| 2 | **no** |\n\n```sh\nmlxport x > y\n```\n");
        assert!(h.contains("<h1>T &lt;x&gt;</h1>"), "{h}");
        assert!(h.contains("<li>a <code>b&lt;c&gt;</code></li>") && h.contains("<li class=\"sub\">sub</li>"), "{h}");
        assert!(h.contains("<tr><th>h</th><th>i</th></tr>") && h.contains("<td>1 | 2</td><td><strong>no</strong></td>"), "{h}");
        assert!(h.contains("<pre>mlxport x &gt; y\n</pre>"), "{h}");
    }

    #[test]
    fn profile_chart_draws_every_measured_figure() {
        let prof = serde_json::json!({
            "load_s": 0.4, "first_call": {"first_s": 0.26, "again_s": 0.25},
            "prefill": [{"prompt_tokens": 32, "tokens_per_s": 87.2}, {"prompt_tokens": 128, "tokens_per_s": 136.7}],
            "decode": [{"context_tokens": 64, "tokens_per_s": 6.85, "python_share": 0.0215}],
        });
        let svg = profile_chart(&prof).unwrap();
        for t in [">load<", ">first call<", ">32 tokens<", ">128 tokens<", ">64 tokens<", "Python share 2.1%", ">136.7"] {
            assert!(svg.contains(t), "{t} missing: {svg}");
        }
        assert_eq!(svg.matches("<rect").count(), 3 + 2 + 1 + 1);
        assert!(profile_chart(&serde_json::json!({})).is_none());
    }

    #[test]
    fn throughput_chart_orders_by_prompt_length() {
        let pts = vec![(Some(64.0), "b".to_string(), 20.0, "tokens/s".to_string()), (Some(8.0), "a".to_string(), 40.0, "tokens/s".to_string())];
        let (svg, caption) = throughput_chart(&pts).unwrap();
        assert_eq!(caption, "Throughput by prompt length");
        assert!(svg.find(">8 tokens<").unwrap() < svg.find(">64 tokens<").unwrap());
        assert!(throughput_chart(&[]).is_none());
    }
}
