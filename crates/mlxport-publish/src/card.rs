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

/// `(repo, revision)` of the base model when they are known.
pub fn base_model(p: &PortDir) -> (Option<String>, Option<String>) {
    let repo = hub_id(&p.port.source.model).map(str::to_string);
    let revision = {
        let m = &p.inspection["model"];
        let name = m["name"].as_str().unwrap_or("");
        (m["kind"] == "hf-cache-snapshot" && name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())).then(|| name.to_string())
    };
    (repo, revision)
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
        "mlxport map validate --source MODEL --map weight_map.json --json > map-validation.json".to_string(),
    ];
    let dtype = p.conversion.as_ref().and_then(|c| c.pointer("/target/dtype")).and_then(Value::as_str).filter(|d| *d != "keep");
    c.push(format!("mlxport convert MODEL --map weight_map.json --out weights{}", dtype.map(|d| format!(" --dtype {d}")).unwrap_or_default()));
    c.push("mlxport oracle MODEL --inputs inputs.json -o oracle/oracle.npz".into());
    if target == Target::Scaffold {
        c.push("mlxport scaffold inspection.json -o scaffold".into());
        c.push("mlxport capture --package scaffold --weights weights --oracle oracle/oracle.npz -o capture/capture.npz".into());
    } else {
        c.push("mlxport capture --mlx-lm weights --oracle oracle/oracle.npz -o capture/capture.npz".into());
    }
    c.push("mlxport compare capture/capture.npz oracle/oracle.npz --ladder auto --all --json --markdown parity/parity.md --svg parity/parity.svg > parity/parity.json".into());
    let q = crate::portdir::read_json(&p.root.join("quantized/config.json")).ok().and_then(|v| v.get("quantization").filter(|q| q.is_object()).cloned());
    if let Some(q) = q {
        let opt =
            |k: &str, flag: &str| q[k].as_u64().map(|v| format!(" {flag} {v}")).or_else(|| q[k].as_str().map(|v| format!(" {flag} {v}"))).unwrap_or_default();
        c.push(format!("mlxport quantize weights --out quantized{}{}{}", opt("bits", "--bits"), opt("group_size", "--group-size"), opt("mode", "--mode")));
        if p.quality.is_some() {
            c.push("mlxport quality --reference weights --candidate quantized -o quality/quality.json --markdown quality/quality.md".into());
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
    c.push("mlxport package . --out package".into());
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
        if target == Target::Scaffold { "a generated MLX Python package" } else { "mlx-lm" }
    );

    s.push_str("## Usage\n\n");
    if let (true, Some(pkg)) = (target == Target::Scaffold, c.package) {
        let _ = writeln!(s, "The implementation is the Python package `{pkg}/` in this folder (needs `mlx`):\n\n```python\nimport sys; sys.path.insert(0, \".\")\nfrom {pkg}.load import load\nmodel, args = load(\".\")\n```\n");
    } else {
        s.push_str("```sh\npip install mlx-lm\npython -m mlx_lm generate --model . --prompt \"Hello\"\n```\n\n");
    }

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
    s.push_str("\nReproduce (in the port directory, `MODEL` the source checkpoint):\n\n```sh\n");
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

    s.push_str("## Files\n\n| file | bytes | SHA-256 |\n|---|---:|---|\n");
    for (f, h, b) in c.files {
        let _ = writeln!(s, "| {} | {b} | `{h}` |", cell(f));
    }
    s
}

/// Which MLX implementation the capture ran.
pub fn implementation(p: &PortDir) -> String {
    let cap =
        p.capture.as_ref().and_then(|c| c["implementation"].as_str()).unwrap_or(if p.target() == Target::Scaffold { "generated package" } else { "mlx-lm" });
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
