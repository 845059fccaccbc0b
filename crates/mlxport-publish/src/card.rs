//! The model card (`README.md`) of a package: YAML front matter the Hugging
//! Face Hub reads, then license, provenance, parity, quality, benchmarks,
//! the smoke test and known limitations, all taken from the PORT_DIR's
//! artifacts. No timestamps but the ones port.json records; no local paths.

use std::fmt::Write as _;

use mlxport_contract::{PortStatus, Target};
use mlxport_parity::compare::PairReport;
use mlxport_parity::ParityFile;
use serde_json::Value;

use crate::license::License;
use crate::portdir::PortDir;
use crate::smoke::Smoke;
use crate::text::{cell, cos, num, yaml_str};

/// One parity rung as the card and the report show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rung {
    pub name: String,
    pub status: String,
    pub max_abs: Option<f64>,
    pub max_rel: Option<f64>,
    pub cosine: Option<f64>,
    pub atol: Option<f64>,
    /// The tensors the rung covers.
    pub tensors: Vec<String>,
}

impl Rung {
    /// The rung's name, with its tensors when they are more than the name says.
    pub fn label(&self) -> String {
        if self.tensors.len() > 1 || self.tensors.first().is_some_and(|t| t != &self.name && !self.name.starts_with("layer ")) {
            format!("{} ({})", self.name, self.tensors.join(", "))
        } else {
            self.name.clone()
        }
    }
}

/// The ladder of `parity/parity.json`, or every pair when it has no ladder.
pub fn rungs(parity: &ParityFile) -> Vec<Rung> {
    if let Some(l) = parity.ladder() {
        // Pairs no rung covers (an encoder's pooled outputs under an
        // inferred ladder) follow as rows of their own.
        let covered: std::collections::BTreeSet<&str> = l.rungs.iter().flat_map(|r| r.tensors.iter().map(String::as_str)).collect();
        let extra = parity.pairs().iter().filter(|p| !covered.contains(p.name.as_str())).map(pair_row);
        return l
            .rungs
            .iter()
            .map(|r| Rung {
                name: r.name.clone(),
                status: r.status.to_string(),
                max_abs: r.max_abs,
                max_rel: r.max_rel,
                cosine: r.cosine,
                atol: r.atol,
                tensors: r.tensors.clone(),
            })
            .chain(extra)
            .collect();
    }
    parity.pairs().iter().map(pair_row).collect()
}

fn pair_row(p: &PairReport) -> Rung {
    let float = p.float.as_ref();
    Rung {
        name: p.name.clone(),
        status: p.status.as_str().into(),
        max_abs: float.and_then(|f| f.max_abs).or_else(|| p.exact.as_ref().map(|e| e.mismatches as f64)),
        max_rel: float.and_then(|f| f.max_rel),
        cosine: float.and_then(|f| f.cosine),
        atol: p.tolerance.atol,
        tensors: vec![p.name.clone()],
    }
}

/// What the parity step concluded, in one line.
pub fn parity_line(parity: &ParityFile) -> String {
    let (passed, pairs) = parity.summary().map(|s| (s.passed, s.pairs)).unwrap_or((0, 0));
    let mut line = format!("{}: {passed} of {pairs} tensor pairs within tolerance", parity.status().as_str());
    if let Some(fd) = parity.first_divergence() {
        let _ = write!(line, "; first divergence at rung {}", fd.name);
    }
    line
}

/// A hub id (`owner/name`) or nothing.
fn hub_id(s: &str) -> Option<&str> {
    let re = regex::Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$").ok()?;
    (re.is_match(s) && !s.starts_with("./") && !s.contains("..")).then_some(s)
}

/// `(repo, revision)` of the base model when they are known: the pins
/// port.json's provenance records, else a hub id given as the model and the
/// commit of a hub cache snapshot the inspection names.
pub fn base_model(p: &PortDir) -> (Option<String>, Option<String>) {
    if let Some(pv) = p.port.provenance.as_ref().filter(|pv| pv.repo.is_some() || pv.revision.is_some()) {
        return (pv.repo.clone(), pv.revision.clone());
    }
    let repo = hub_id(&p.port.source.model).map(str::to_string);
    let revision = {
        let m = &p.inspection["model"];
        let name = m["name"].as_str().unwrap_or("");
        (m["kind"] == "hf-cache-snapshot" && name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())).then(|| name.to_string())
    };
    (repo, revision)
}

/// `repo@revision` as the report and the card show it (`—` for what is
/// not known).
pub fn pinned(p: &PortDir) -> String {
    match base_model(p) {
        (None, None) => "—".into(),
        (r, v) => format!("{}@{}", r.as_deref().unwrap_or("—"), v.as_deref().unwrap_or("—")),
    }
}

/// The source files with their SHA-256 and size: port.json's provenance,
/// else the inspection's file list.
pub fn source_files(p: &PortDir) -> Vec<(String, String, u64)> {
    if let Some(pv) = p.port.provenance.as_ref().filter(|pv| !pv.files.is_empty()) {
        return pv.files.iter().map(|f| (f.path.clone(), f.sha256.clone(), f.bytes)).collect();
    }
    p.inspection["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["path"].as_str()?.to_string(), f["sha256"].as_str()?.to_string(), f["size"].as_u64()?)))
        .collect()
}

/// A word as a POSIX shell reads it back: bare when it is plain, else
/// single-quoted.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The values of a flag in a recorded flag list (`--rule` may repeat).
fn flag_values<'a>(flags: &'a [String], name: &str) -> Vec<&'a str> {
    flags.windows(2).filter(|w| w[0] == name).map(|w| w[1].as_str()).collect()
}

/// The quantization flags of a recorded `mlxport port` request, as
/// `mlxport quantize` takes them.
const QUANT_FLAGS: [&str; 6] = ["--bits", "--group-size", "--mode", "--recipe", "--rule", "--target-bpw"];

/// The one command that reproduces the whole port in a fresh directory:
/// `mlxport port` with the flags port.json records (an earlier release's
/// record, which has none: the dtype, pins and quantization its artifacts
/// show).
pub fn port_command(p: &PortDir) -> String {
    let mut c: Vec<String> = vec!["mlxport".into(), "port".into()];
    match p.port.source.model.strip_prefix("example:") {
        Some(name) => c.extend(["--example".to_string(), name.to_string()]),
        None => c.push("MODEL".into()),
    }
    c.extend(["--out".to_string(), "port".to_string()]);
    match &p.port.request {
        Some(r) => c.extend(r.flags.iter().cloned()),
        None => {
            let (repo, revision) = base_model(p);
            for (k, v) in [("--repo", repo), ("--revision", revision)] {
                if let Some(v) = v {
                    c.extend([k.to_string(), v]);
                }
            }
            if p.port.dtype != mlxport_contract::Dtype::Keep {
                c.extend(["--dtype".to_string(), p.port.dtype.to_string()]);
            }
            if let Some(q) = quantized_config(p) {
                c.push("-q".into());
                for (k, flag) in [("bits", "--bits"), ("group_size", "--group-size"), ("mode", "--mode")] {
                    if let Some(v) = q[k].as_u64().map(|v| v.to_string()).or_else(|| q[k].as_str().map(str::to_string)) {
                        c.extend([flag.to_string(), v]);
                    }
                }
            }
        }
    }
    c.iter().map(|a| if a == "MODEL" { a.clone() } else { shell_word(a) }).collect::<Vec<_>>().join(" ")
}

/// The `quantization` entry of `quantized/config.json`, when the port quantized.
fn quantized_config(p: &PortDir) -> Option<Value> {
    crate::portdir::read_json(&p.root.join("quantized/config.json")).ok().and_then(|v| v.get("quantization").filter(|q| q.is_object()).cloned())
}

/// The model as port.json names it, with anything path-like reduced to its
/// last component.
pub fn source_name(p: &PortDir) -> String {
    let given = p.port.source.model.as_str();
    if given.is_empty() {
        return p.inspection.pointer("/model/name").and_then(Value::as_str).unwrap_or("model").to_string();
    }
    if hub_id(given).is_some() {
        return given.to_string();
    }
    std::path::Path::new(given).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
}

pub fn pipeline_tag(p: &PortDir) -> &'static str {
    let family = p.family().unwrap_or("");
    let traits: Vec<&str> =
        p.inspection.pointer("/routing/traits").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    match family {
        "encoder" if traits.contains(&"sentence_embedding") => "sentence-similarity",
        "encoder" => "feature-extraction",
        "vision-language" | "vlm" => "image-text-to-text",
        "speech" | "asr" => "automatic-speech-recognition",
        _ => "text-generation",
    }
}

/// Tool and library versions recorded by the manifests.
pub fn versions(p: &PortDir) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &str| {
        if !v.is_empty() && !out.iter().any(|(a, b)| a == k && b == v) {
            out.push((k.to_string(), v.to_string()));
        }
    };
    add(&p.port.tool.name, &p.port.tool.version);
    if let Some(t) = p.conversion.as_ref().and_then(|c| c["tool"].as_str()) {
        if let Some((n, v)) = t.split_once(' ') {
            add(n, v);
        }
    }
    if let Some(pv) = p.port.provenance.as_ref().filter(|pv| !pv.libraries.is_empty()) {
        for (side, libs) in &pv.libraries {
            for (k, v) in libs {
                add(&format!("{k} ({side})"), v);
            }
        }
        return out;
    }
    for (side, m) in [("oracle", &p.oracle), ("capture", &p.capture)] {
        if let Some(libs) = m.as_ref().and_then(|m| m["libraries"].as_object()) {
            for (k, v) in libs {
                if k == "platform" {
                    continue;
                }
                if let Some(v) = v.as_str() {
                    add(&format!("{k} ({side})"), v);
                }
            }
        }
    }
    out
}

/// Reproducing commands, relative to the PORT_DIR, the model as `MODEL`.
pub fn commands(p: &PortDir) -> Vec<String> {
    let target = p.target();
    let mut c = vec![
        "mlxport inspect MODEL -o inspection.json --markdown inspection.md".to_string(),
        "mlxport plan inspection.json --json > plan.json".to_string(),
        "mlxport map draft MODEL -o weight_map.json".to_string(),
        format!("mlxport map validate --source MODEL --map weight_map.json --target {target} --json > map-validation.json"),
    ];
    let dtype = p.conversion.as_ref().and_then(|c| c.pointer("/target/dtype")).and_then(Value::as_str).filter(|d| *d != "keep");
    c.push(format!("mlxport convert MODEL --map weight_map.json --out weights{}", dtype.map(|d| format!(" --dtype {d}")).unwrap_or_default()));
    let recorded: Vec<String> = p.port.request.as_ref().map(|r| r.flags.clone()).unwrap_or_default();
    let texts = flag_values(&recorded, "--text");
    let inputs = if !texts.is_empty() {
        texts.iter().map(|t| format!(" --text {}", shell_word(t))).collect::<String>()
    } else {
        format!(" --inputs {}", flag_values(&recorded, "--inputs").first().map(|f| shell_word(f)).unwrap_or_else(|| "oracle/inputs.json".into()))
    };
    let generate = (p.family() != Some("encoder")).then(|| format!(" --generate {}", flag_values(&recorded, "--generate").first().copied().unwrap_or("16")));
    c.push(format!("mlxport oracle MODEL{inputs}{} -o oracle/oracle.npz", generate.unwrap_or_default()));
    if target == Target::Scaffold {
        c.push("mlxport scaffold inspection.json -o scaffold".into());
        c.push("mlxport parity --source MODEL --target scaffold --package scaffold --weights weights --oracle oracle/oracle.npz --out parity".into());
    } else {
        c.push(format!("mlxport parity --source MODEL --target {target} --weights weights --oracle oracle/oracle.npz --out parity"));
    }
    if let Some(q) = quantized_config(p) {
        let recorded: Vec<String> = p.port.request.as_ref().map(|r| r.flags.clone()).unwrap_or_default();
        let mut flags = String::new();
        if recorded.iter().any(|f| QUANT_FLAGS.contains(&f.as_str())) {
            // The options as given (recipe, rules, bits budget included).
            for k in QUANT_FLAGS {
                for v in flag_values(&recorded, k) {
                    let _ = write!(flags, " {k} {}", shell_word(v));
                }
            }
        } else {
            for (k, flag) in [("bits", "--bits"), ("group_size", "--group-size"), ("mode", "--mode")] {
                if let Some(v) = q[k].as_u64().map(|v| v.to_string()).or_else(|| q[k].as_str().map(str::to_string)) {
                    let _ = write!(flags, " {flag} {v}");
                }
            }
        }
        c.push(format!("mlxport quantize weights --out quantized{flags}"));
        if p.quality.is_some() {
            let t = flag_values(&recorded, "--quality-thresholds").first().map(|t| format!(" --thresholds {}", shell_word(t))).unwrap_or_default();
            c.push(format!("mlxport quality --reference weights --candidate quantized -o quality/quality.json --markdown quality/quality.md{t}"));
        }
        for (f, _) in &p.bench {
            match f.as_str() {
                "float.json" => c.push("mlxport bench generate weights -o bench/float.json".into()),
                "quantized.json" => c.push("mlxport bench generate quantized --quality-gate quality/quality.json -o bench/quantized.json".into()),
                _ => {}
            }
        }
    }
    if let Some(o) = &p.optimize {
        let ids: Vec<&str> = o["records"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str()).collect();
        c.push(format!(
            "mlxport optimize weights --work-dir optimize --objective {} --candidates {}",
            o["objective"].as_str().unwrap_or("decode-throughput"),
            ids.join(",")
        ));
    }
    c.push("mlxport report . --out report".into());
    let accept = p.port.request.as_ref().is_some_and(|r| r.flags.iter().any(|f| f == "--accept-license"));
    c.push(format!("mlxport package . --out package{}", if accept { " --accept-license" } else { "" }));
    c
}

/// Bench receipts in one line each: label, metric, median with CI, hardware.
pub fn bench_lines(p: &PortDir) -> Vec<String> {
    let mut out = Vec::new();
    for (file, r) in &p.bench {
        let hw = hardware(&r.environment);
        for b in &r.benchmarks {
            let s = &b.stats;
            out.push(format!(
                "{} {} ({}): {} median {} {} (95% CI {}–{}, n={}) on {}",
                r.workload.name,
                role(b),
                file,
                b.metric.name,
                num(Some(s.median)),
                b.metric.unit,
                num(Some(s.median_ci.low)),
                num(Some(s.median_ci.high)),
                s.n,
                hw
            ));
        }
        if let Some(c) = &r.comparison {
            out.push(format!("comparison ({file}): {}", c.verdict.as_str()));
        }
    }
    out
}

/// The machine a receipt names.
pub fn hardware(e: &mlxport_bench::env::Environment) -> String {
    let chip = e.apple.as_ref().and_then(|a| a.chip.clone()).or_else(|| e.cpu_model.clone()).unwrap_or_else(|| "unnamed CPU".into());
    format!("{chip}, {} logical cores, {} {}", e.logical_cores, e.os, e.arch)
}

/// Known limitations: blockers and warnings of the inspection, the plan's
/// uncertainties, the port's remediation, failing parity rungs, the smoke
/// test when it did not pass.
pub fn limitations(p: &PortDir, smoke: Option<&Smoke>) -> Vec<String> {
    let mut out = Vec::new();
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string).or_else(|| x["message"].as_str().map(str::to_string))).collect())
            .unwrap_or_default()
    };
    out.extend(strs(p.inspection.get("blockers")).into_iter().map(|s| format!("blocker: {s}")));
    out.extend(strs(p.inspection.get("warnings")));
    out.extend(strs(p.plan.as_ref().and_then(|x| x.get("uncertainties"))));
    if p.port.status != PortStatus::Complete {
        out.push(format!("the port is {}{}", p.port.status, p.port.stopped_at.map(|s| format!(" at step {s}")).unwrap_or_default()));
    }
    out.extend(p.port.remediation.iter().cloned());
    match &p.parity {
        None => out.push("parity was not measured".into()),
        Some(par) => {
            for r in rungs(par).iter().filter(|r| r.status != "pass") {
                out.push(format!("parity rung {} {}", r.name, r.status));
            }
        }
    }
    if let Some(s) = smoke {
        if !s.python.starts_with("passed") {
            out.push(format!("Python smoke test {}", s.python));
        }
    }
    if p.scaffold.is_some() {
        let weights = if p.publishes_quantized() { "quantized weights (MLX quantized layers)" } else { "float weights" };
        out.push(format!("the generated package runs {weights} at batch one, without compilation or custom kernels"));
    }
    out.dedup();
    out
}

/// Everything the card needs beyond the PORT_DIR.
pub struct CardInput<'a> {
    pub license: &'a License,
    pub smoke: &'a Smoke,
    /// Written files and their SHA-256 (README.md itself excluded).
    pub files: &'a [(String, String, u64)],
    /// The scaffold package's directory name, if any.
    pub package: Option<&'a str>,
    pub quantization: Option<Value>,
}

pub fn render(p: &PortDir, c: &CardInput) -> String {
    let name = source_name(p);
    let (repo, revision) = base_model(p);
    let family = p.family().unwrap_or("unknown");
    let model_type = p.port.model_type.as_deref().or_else(|| p.inspection.pointer("/facts/model_type").and_then(Value::as_str)).unwrap_or("unknown");
    let target = p.target();
    let mut s = String::from("---\nlibrary_name: mlx\n");
    match c.license.id.as_deref() {
        Some(id) => {
            let _ = writeln!(s, "license: {}", yaml_str(id));
            if id == "other" {
                if let Some(n) = &c.license.name {
                    let _ = writeln!(s, "license_name: {}", yaml_str(n));
                }
            }
        }
        None => s.push_str("license: unknown\n"),
    }
    if let Some(r) = &repo {
        let _ = writeln!(s, "base_model: {}", yaml_str(r));
        if let Some(rev) = &revision {
            let _ = writeln!(s, "base_model_revision: {}", yaml_str(rev));
        }
    }
    let _ = writeln!(s, "pipeline_tag: {}", pipeline_tag(p));
    s.push_str("tags:\n- mlx\n- mlxport\n");
    for t in [family, model_type] {
        if t != "unknown" {
            let _ = writeln!(s, "- {}", yaml_str(t));
        }
    }
    if let Some(q) = &c.quantization {
        s.push_str("quantization:\n");
        for (k, v) in q.as_object().into_iter().flatten() {
            let v = v.as_str().map(yaml_str).unwrap_or_else(|| v.to_string());
            let _ = writeln!(s, "  {}: {v}", yaml_str(k));
        }
    }
    s.push_str("---\n\n");

    let _ = writeln!(s, "# {name} (MLX)\n");
    let _ = writeln!(
        s,
        "An MLX port of `{name}` ({family} family, model type `{model_type}`), converted and checked against the source with mlxport. Target: {}.\n",
        match target {
            Target::Scaffold => "a generated MLX Python package",
            Target::MlxVlm => "mlx-vlm",
            Target::MlxLm => "mlx-lm",
        }
    );

    s.push_str("## Usage\n\n");
    s.push_str(&usage(p, c));
    s.push_str("## License\n\n");
    let _ = writeln!(
        s,
        "- license: {}{}",
        c.license.id.as_deref().unwrap_or("none found"),
        c.license.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
    );
    let _ = writeln!(s, "- class: {}, redistribution of converted weights: {}", c.license.class, c.license.redistribution);
    if !c.license.reason.is_empty() {
        let _ = writeln!(s, "- verdict: {}", c.license.reason);
    }
    if c.license.accepted {
        s.push_str("- these terms were accepted explicitly by the publisher (`--accept-license`); anyone using this folder is bound by them:\n");
    } else if !c.license.conditions.is_empty() {
        s.push_str("- conditions:\n");
    }
    for cond in &c.license.conditions {
        let _ = writeln!(s, "  - {cond}");
    }
    s.push('\n');

    s.push_str("## Provenance\n\n");
    let _ = writeln!(
        s,
        "- source: `{name}`{}",
        repo.as_ref()
            .map(|r| format!(" (Hugging Face `{r}`{})", revision.as_ref().map(|v| format!(" at revision `{v}`")).unwrap_or_default()))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "- pinned: `{}`{}", pinned(p), pin_origin(p));
    let _ = writeln!(s, "- source fingerprint (SHA-256 over every file): `{}`", p.fingerprint().unwrap_or("not recorded"));
    if let Some(cv) = &p.conversion {
        let t = &cv["target"];
        let _ = writeln!(
            s,
            "- conversion: layout {}, dtype {}, {} tensors, {} parameters; weight map `{}` ({} rules)",
            t["layout"].as_str().unwrap_or("?"),
            t["dtype"].as_str().unwrap_or("?"),
            t["tensors"],
            t["parameters"],
            cv.pointer("/map/sha256").and_then(Value::as_str).unwrap_or("?"),
            cv.pointer("/map/rules").map(|v| v.to_string()).unwrap_or_default()
        );
        for ch in cv["config_changes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let _ = writeln!(s, "  - config: {ch}");
        }
    }
    let done: Vec<String> = p.port.steps.iter().map(|st| format!("{} {}", st.name, st.status)).collect();
    if !done.is_empty() {
        let _ = writeln!(s, "- steps: {}", done.join(", "));
    }
    if let Some(st) = p.port.steps.last() {
        let _ = writeln!(s, "- last step finished at {}", st.finished_at);
    }
    s.push_str("- tool and library versions:\n");
    for (k, v) in versions(p) {
        let _ = writeln!(s, "  - {k}: {v}");
    }
    let files = source_files(p);
    if !files.is_empty() {
        s.push_str("\nSource files, as inspected:\n\n| source file | bytes | SHA-256 |\n|---|---:|---|\n");
        for (f, h, b) in &files {
            let _ = writeln!(s, "| {} | {b} | `{h}` |", cell(f));
        }
    }
    s.push_str("\nReproduce the whole port in a fresh directory (the flags port.json records):\n\n```sh\n");
    let _ = writeln!(s, "{}", port_command(p));
    s.push_str("```\n\n");
    s.push_str(&model_note(p));
    s.push_str("Or step by step, in the port directory:\n\n```sh\n");
    for cmd in commands(p) {
        let _ = writeln!(s, "{cmd}");
    }
    s.push_str("```\n\n");

    s.push_str("## Parity\n\n");
    match &p.parity {
        None => s.push_str("Not measured.\n\n"),
        Some(par) => {
            let _ = writeln!(s, "MLX against the source ({}), {}.\n", implementation(p), parity_line(par));
            s.push_str("| rung | status | max abs error | max rel error | cosine |\n|---|---|---:|---:|---:|\n");
            for r in rungs(par) {
                let _ = writeln!(s, "| {} | {} | {} | {} | {} |", cell(&r.label()), r.status, num(r.max_abs), num(r.max_rel), cos(r.cosine));
            }
            s.push('\n');
        }
    }

    s.push_str("## Quality\n\n");
    match &p.quality {
        None => s.push_str("No quality evaluation was run.\n\n"),
        Some(q) => {
            let _ = writeln!(s, "The {} quality gate of `{}` against `{}` (mlxport quality): **{}**.\n", q.kind, q.candidate, q.reference, q.verdict);
            s.push_str("| check | value | limit | result |\n|---|---:|---|---|\n");
            for c in &q.checks {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} {} | {} |",
                    cell(&c.name),
                    num(finite(c.value)),
                    c.op,
                    num(finite(c.limit)),
                    if c.pass { "pass" } else { "fail" }
                );
            }
            s.push('\n');
        }
    }

    s.push_str("## Benchmarks\n\n");
    let bl = bench_lines(p);
    if bl.is_empty() {
        s.push_str("No benchmark receipts were recorded.\n\n");
    } else {
        for l in bl {
            let _ = writeln!(s, "- {l}");
        }
        s.push('\n');
    }

    s.push_str("## Smoke test\n\n");
    let _ = writeln!(s, "Run on this folder after packaging: {}.\n", c.smoke.status);
    for ch in &c.smoke.checks {
        let _ = writeln!(s, "- {ch}");
    }
    let _ = writeln!(s, "- Python: {}\n", c.smoke.python);

    s.push_str("## Known limitations\n\n");
    let lim = limitations(p, Some(c.smoke));
    if lim.is_empty() {
        s.push_str("None recorded.\n\n");
    }
    for l in lim {
        let _ = writeln!(s, "- {l}");
    }
    if !s.ends_with("\n\n") {
        s.push('\n');
    }

    if let Some(text) = &p.source_card {
        s.push_str(&crate::source_card::render(&crate::source_card::SourceCard::parse(text)));
    }

    s.push_str("## Files\n\n| file | bytes | SHA-256 |\n|---|---:|---|\n");
    for (f, h, b) in c.files {
        let _ = writeln!(s, "| {} | {b} | `{h}` |", cell(f));
    }
    s
}

/// Where the pins came from, for the provenance line.
fn pin_origin(p: &PortDir) -> String {
    let Some(pv) = p.port.provenance.as_ref() else { return String::new() };
    let name = |o: Option<mlxport_contract::PinOrigin>| match o {
        Some(mlxport_contract::PinOrigin::Flag) => "a flag of mlxport port",
        Some(mlxport_contract::PinOrigin::HubCacheLayout) => "the hub cache path",
        None => "",
    };
    match (name(pv.repo_origin), name(pv.revision_origin)) {
        ("", "") => String::new(),
        (a, b) if a == b || b.is_empty() => format!(" (from {a})"),
        ("", b) => format!(" (from {b})"),
        (a, b) => format!(" (repository from {a}, revision from {b})"),
    }
}

/// What `MODEL` stands for in the reproducing commands.
pub fn model_note(p: &PortDir) -> String {
    let (repo, revision) = base_model(p);
    match (&repo, p.port.source.model.starts_with("example:")) {
        (_, true) => "The step-by-step commands name the example's files `MODEL`.\n\n".to_string(),
        (Some(r), false) => format!(
            "`MODEL` is the source checkpoint: a download of `{r}`{}.\n\n",
            revision.map(|v| format!(" at revision `{v}`")).unwrap_or_else(|| " (revision not recorded)".into())
        ),
        (None, false) => {
            "`MODEL` is the source checkpoint (its repository and revision were not recorded: pass --repo and --revision to mlxport port).\n\n".to_string()
        }
    }
}

/// A runnable example of the package's own API, by family: an encoder
/// embeds sentences and compares them, a decoder continues a prompt, an
/// encoder-decoder generates from an input; an mlx-lm target uses mlx-lm's
/// `load` and `generate`. Run in the package folder.
pub fn usage(p: &PortDir, c: &CardInput) -> String {
    let family = p.family().unwrap_or("");
    let model_type = p.port.model_type.as_deref().unwrap_or("");
    let mut s = String::new();
    if p.target() == Target::MlxVlm {
        s.push_str("With mlx-vlm (`pip install mlx-vlm`), in this folder:\n\n```python\nfrom mlx_vlm import generate, load\nfrom mlx_vlm.prompt_utils import apply_chat_template\n\n\
model, processor = load(\".\")\nprompt = apply_chat_template(processor, model.config, \"What is shown in this image?\", num_images=1)\n\
print(generate(model, processor, prompt, image=[\"photo.jpg\"], max_tokens=32, temperature=0.0))\n```\n\n");
        return s;
    }
    let Some(pkg) = c.package.filter(|_| p.target() == Target::Scaffold) else {
        s.push_str("With mlx-lm (`pip install mlx-lm`), in this folder:\n\n```python\nfrom mlx_lm import load, generate\n\nmodel, tokenizer = load(\".\")\nprint(generate(model, tokenizer, prompt=\"The capital of France is\", max_tokens=24))\n```\n\n");
        s.push_str("Or from the shell: `python -m mlx_lm generate --model . --prompt \"Hello\"`.\n\n");
        return s;
    };
    let fast = c.files.iter().any(|(f, _, _)| f == "tokenizer.json");
    let (needs, tok, encode, decode) = if fast {
        ("mlx and tokenizers", "from tokenizers import Tokenizer\n", "tok.encode(text).ids", "tok.decode(new)")
    } else {
        (
            "mlx and transformers (for the tokenizer)",
            "from transformers import AutoTokenizer\n",
            "tok.encode(text)",
            "tok.decode(new, skip_special_tokens=True)",
        )
    };
    // A tokenizer.json may pad every input to a fixed length: one
    // sentence at a time needs none.
    let load_tok = if fast { "tok = Tokenizer.from_file(\"tokenizer.json\")\ntok.no_padding()" } else { "tok = AutoTokenizer.from_pretrained(\".\")" };
    let _ = writeln!(s, "The implementation is the Python package `{pkg}/` in this folder. Run in this folder (needs {needs}):\n");
    s.push_str("```python\n");
    match family {
        "encoder" => {
            let _ = write!(
                s,
                "import mlx.core as mx\n{tok}from {pkg} import load\n\nmodel, args = load(\".\")\n{load_tok}\n\n\
def embed(text):\n    return model.sentence_embedding(mx.array([{encode}]))[0]\n\n\
def cosine(a, b):\n    return (mx.sum(a * b) / (mx.linalg.norm(a) * mx.linalg.norm(b))).item()\n\n\
query = embed(\"A man is eating food.\")\n\
print(\"similar:  \", round(cosine(query, embed(\"A man is eating a piece of bread.\")), 3))\n\
print(\"unrelated:\", round(cosine(query, embed(\"The stock market fell sharply today.\")), 3))\n"
            );
        }
        "vision" => {
            let _ = write!(
                s,
                "import mlx.core as mx\nfrom {pkg} import ImageProcessor, load, load_image\n\nmodel, args = load(\".\")\n\
processor = ImageProcessor.from_dir(\".\")  # this folder's preprocessing, as transformers' processor\n\
out = model(mx.array(processor([load_image(\"photo.jpg\")])))\n\
print({{name: value.shape for name, value in out.items()}})\n"
            );
        }
        "vision-language" => {
            let token = if fast { "tok.id_to_token(settings.image_token_id)" } else { "tok.convert_ids_to_tokens(settings.image_token_id)" };
            let _ = write!(
                s,
                "import mlx.core as mx\n{tok}from {pkg} import Processor, greedy, load, load_image\n\nmodel, settings = load(\".\")\n{load_tok}\n\
processor = Processor.from_dir(\".\", settings)  # images and image tokens, as transformers' processor\n\n\
text = f\"USER: {{{token}}}\\nWhat is shown in this image? ASSISTANT:\"\n\
pixel_values, ids = processor([load_image(\"photo.jpg\")], {encode})\n\
new, _ = greedy(model, ids, mx.array(pixel_values), 32)\nprint({decode})\n"
            );
        }
        "encoder-decoder" => {
            let input = if model_type.starts_with("t5") || model_type.contains("t5") {
                "translate English to German: The house is wonderful."
            } else {
                "The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest structure in Paris."
            };
            let _ = write!(
                s,
                "{tok}from {pkg} import load, greedy\n\nmodel, args = load(\".\")\n{load_tok}\n\n\
text = \"{input}\"\nnew, _ = greedy(model, {encode}, 32)\nprint({decode})\n"
            );
        }
        _ => {
            let _ = write!(
                s,
                "{tok}from {pkg} import load, greedy\n\nmodel, args = load(\".\")\n{load_tok}\n\n\
text = \"The capital of France is\"\nnew, _ = greedy(model, {encode}, 24)\nprint(text + {decode})\n"
            );
        }
    }
    s.push_str("```\n\n");
    s
}

/// Which MLX implementation the capture ran.
pub fn implementation(p: &PortDir) -> String {
    let cap = p.capture.as_ref().and_then(|c| c["implementation"].as_str()).unwrap_or(match p.target() {
        Target::Scaffold => "generated package",
        Target::MlxVlm => "mlx-vlm",
        Target::MlxLm => "mlx-lm",
    });
    let orc = p.oracle.as_ref().and_then(|c| c["implementation"].as_str()).unwrap_or("transformers");
    format!("{cap} against {orc}")
}

/// baseline, candidate or single, as the receipt names it.
pub fn role(b: &mlxport_bench::receipt::Benchmark) -> String {
    serde_json::to_value(b.role).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// A figure as the reports print it: a non-finite one (written `null`) as
/// not recorded.
pub(crate) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}
