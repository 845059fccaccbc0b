//! The steps of `mlxport port`, in order, each over the library crates:
//! intake (inspect), kb (plan), harness (oracle, scaffold, capture),
//! convert (map draft, map validate, convert) and parity (the ladder).

use std::path::Path;

use crate::error::{Context, Result};
use serde_json::{json, Value};

use mlxport_convert::plan::DtypePolicy;
use mlxport_convert::WeightMap;
use mlxport_harness::jobs::{CaptureRequest, Harness, Inputs, OracleRequest, Settings, Target as MlxSide};
use mlxport_harness::scaffold;

use super::{Ctx, Flow, Outcome};
use mlxport_contract::{Family, PortStatus, Step, StepStatus, Target};
use mlxport_util::human::{bytes as human_bytes, count as human_count};

/// Sentences the oracle embeds for encoders: short and long, punctuation,
/// accents, non-Latin scripts, code.
const SENTENCES: &[&str] = &[
    "A man is eating food.",
    "The girl is carrying a baby.",
    "Two men pushed carts through the woods.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
    "¿Dónde está la biblioteca?",
    "東京は日本の首都です。",
    "print(sum(range(10)))  # a line of Python",
    "OK",
];

/// Prompts the oracle continues greedily for decoders.
const PROMPTS: &[&str] =
    &["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village by the sea,", "Water boils at a temperature of"];

/// Run every step; stops early (Ok) when a step blocks or fails a check.
pub fn all(ctx: &mut Ctx) -> Result<()> {
    macro_rules! go {
        ($e:expr) => {
            if $e? == Flow::Stop {
                return Ok(());
            }
        };
    }
    go!(inspect(ctx));
    go!(plan(ctx));
    // The weight map is static and cheap: checked before the oracle runs
    // the source model, so an unresolvable map stops the port at once.
    go!(map_draft(ctx));
    go!(map_validate(ctx));
    go!(oracle(ctx));
    go!(convert(ctx));
    go!(scaffold(ctx));
    go!(capture(ctx));
    go!(parity(ctx));
    if ctx.req.optimize {
        super::optional::not_requested(ctx, "--optimize gates and benchmarks every candidate itself (optimize/)")?;
        go!(super::optimize::optimize(ctx));
    } else {
        if super::optional::wanted(ctx.req) {
            go!(super::optional::quantize(ctx));
            go!(super::optional::quality(ctx));
            go!(super::optional::bench(ctx));
        } else {
            super::optional::not_requested(ctx, "not requested (-q/--quantize, --bits, --recipe or --target-bpw run it)")?;
        }
        super::optimize::not_requested(ctx)?;
    }
    // `report` and `package` read port.json: it says complete before they run.
    ctx.refresh_provenance();
    ctx.state.status = PortStatus::Complete;
    ctx.state.stopped_at = None;
    ctx.state.remediation.clear();
    ctx.save()?;
    go!(report(ctx));
    go!(package(ctx));
    Ok(())
}

/// Every artifact up to the parity ladder, and the optional steps after it:
/// every step before `report` and `package`.
fn ported() -> &'static [Step] {
    &Step::RUN_ORDER[..Step::RUN_ORDER.len() - 2]
}

fn report(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"upstream": ctx.upstream(ported()), "provenance": ctx.state.provenance, "request": ctx.state.request});
    ctx.step(Step::Report, inputs, &["report"], |ctx, st| {
        let out = st.join("report");
        match mlxport_publish::report::write(&ctx.dir, &out) {
            Ok(_) => Ok(Outcome::Done("report/report.md, report.json, report.html".into())),
            Err(mlxport_publish::Error::Refused(why)) => Ok(Outcome::Blocked { summary: "report refused".into(), remediation: vec![why] }),
            Err(e) => Err(e.into()),
        }
    })
}

fn package(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({
        "upstream": ctx.upstream(ported()), "accept_license": ctx.req.accept_license,
        "provenance": ctx.state.provenance, "request": ctx.state.request,
    });
    ctx.step(Step::Package, inputs, &["package"], |ctx, st| {
        let opts = mlxport_publish::package::Options { accept_license: ctx.req.accept_license, no_python_smoke: false };
        // Absolute paths: the smoke test runs Python in another directory.
        let (dir, out) = (std::fs::canonicalize(&ctx.dir)?, std::fs::canonicalize(st)?.join("package"));
        match mlxport_publish::package::package(&dir, &out, &opts) {
            Ok(p) => Ok(Outcome::Done(format!(
                "{} files, license {} ({}), smoke test {}",
                p.manifest.files.len(),
                p.license.id.as_deref().unwrap_or("none found"),
                p.license.class,
                p.smoke.status
            ))),
            Err(mlxport_publish::Error::Refused(why)) => {
                let license = why.contains("license");
                let mut remediation = vec![why];
                if !ctx.req.accept_license && license {
                    remediation.push("read the license terms (inspection.md); if you accept them, re-run with --accept-license".into());
                }
                Ok(Outcome::Blocked { summary: "package refused".into(), remediation })
            }
            Err(e) => Err(e.into()),
        }
    })
}

fn fingerprint(ctx: &Ctx) -> Value {
    ctx.insp["model"]["fingerprint"].clone()
}

fn inspect(ctx: &mut Ctx) -> Result<Flow> {
    let mut opts = mlxport_intake::Options { absolute_paths: ctx.req.show_paths, ..Default::default() };
    if let Some(t) = &ctx.req.target_memory {
        opts.target_memory = Some(mlxport_intake::fit::parse_size(t).context("--target-memory")?);
    }
    let report = mlxport_intake::inspect(&ctx.model.path, &opts)?;
    // A PORT_DIR holding the port of another model is replaced only when asked.
    if let Some(old) = ctx.old.as_ref().and_then(|o| o.source.fingerprint.clone()).filter(|f| *f != report.model.fingerprint) {
        let was = ctx.old.as_ref().map(|o| o.source.model.clone()).unwrap_or_default();
        if !ctx.req.yes {
            return Err(crate::error::Error::Refused(format!(
                "{} holds the port of another model ({was}, fingerprint {}); choose another --out, or pass --yes to replace it",
                ctx.dir.display(),
                &old[..12.min(old.len())]
            )));
        }
        let stale: Vec<String> = ctx
            .old
            .as_ref()
            .map(|o| o.steps.iter().flat_map(|s| s.artifacts.iter().map(|a| a.path.split('/').next().unwrap_or("").to_string())).collect())
            .unwrap_or_default();
        for top in stale.iter().filter(|t| !t.is_empty() && !t.starts_with('.')) {
            let p = ctx.dir.join(top);
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
        eprintln!("replacing the port of {was} in {} (--yes)", ctx.dir.display());
        ctx.old = None;
    }
    ctx.insp = serde_json::to_value(&report)?;
    ctx.state.source.fingerprint = Some(report.model.fingerprint.clone());
    ctx.state.family = report.routing.family.as_deref().map(str::parse::<Family>).transpose().context("the inspection's family")?;
    ctx.state.model_type = report.facts.model_type.clone();
    let inputs = json!({"fingerprint": report.model.fingerprint, "context": opts.context, "target_memory": opts.target_memory,
        "absolute_paths": opts.absolute_paths, "source_card": true});
    // The source's own model card, kept for the package (UTF-8, at most 1 MiB).
    let card = std::fs::metadata(ctx.model.path.join("README.md"))
        .ok()
        .filter(|m| m.is_file() && m.len() <= 1 << 20)
        .and_then(|_| std::fs::read_to_string(ctx.model.path.join("README.md")).ok());
    ctx.step(Step::Inspect, inputs, &["inspection.json", "inspection.md", "source"], |_, st| {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        std::fs::write(st.join("inspection.json"), text)?;
        if let Some(card) = card {
            std::fs::create_dir_all(st.join("source"))?;
            std::fs::write(st.join(mlxport_publish::source_card::PORT_PATH), card)?;
        }
        std::fs::write(st.join("inspection.md"), mlxport_intake::markdown::to_markdown(&report))?;
        let family = report.routing.family.as_deref().unwrap_or("unknown family");
        let summary = format!(
            "{family}, {} parameters, {} tensors, {} blockers, {} warnings",
            human_count(report.tensors.parameters),
            report.tensors.tensors,
            report.blockers.len(),
            report.warnings.len()
        );
        if report.blockers.is_empty() {
            return Ok(Outcome::Done(summary));
        }
        let remediation = report
            .blockers
            .iter()
            .map(|b| {
                format!(
                    "{}{}: {}{}",
                    b.id,
                    b.path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default(),
                    b.message,
                    b.remediation.as_ref().map(|r| format!(" -- fix: {r}")).unwrap_or_default()
                )
            })
            .collect();
        Ok(Outcome::Blocked { summary: format!("{summary}: {}", report.blockers.iter().map(|b| b.id.as_str()).collect::<Vec<_>>().join(", ")), remediation })
    })
}

fn plan(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"inspection": ctx.upstream(&[Step::Inspect]), "accept_license": ctx.req.accept_license});
    let flow = ctx.step(Step::Plan, inputs, &["plan.json", "plan.md"], |ctx, st| {
        let view = mlxport_kb::view::InspectionView::parse(&ctx.insp.to_string(), "inspection.json")?;
        let opts = mlxport_kb::plan::PlanOptions { target: mlxport_kb::budget::Target::FromInspection, objective: None, verification: None };
        let p = mlxport_kb::plan::plan(mlxport_kb::kb(), &view, &opts);
        let mut text = serde_json::to_string_pretty(&p)?;
        text.push('\n');
        std::fs::write(st.join("plan.json"), text)?;
        std::fs::write(st.join("plan.md"), mlxport_kb::plan::to_markdown(&p))?;
        let summary = format!("{} plan ({})", p.status, p.family.as_ref().map(|f| f.id.as_str()).unwrap_or("no family"));
        if p.status != "ready" {
            let rem = p
                .remediations
                .iter()
                .map(|r| format!("{}{}: {} -- {}", r.blocker, r.path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default(), r.problem, r.remediation))
                .collect();
            return Ok(Outcome::Blocked { summary, remediation: rem });
        }
        let lic = &ctx.insp["license"];
        if lic["class"] == "restricted" && !ctx.req.accept_license {
            return Ok(Outcome::Blocked {
                summary: format!("{summary}; license {} is restricted", lic["spdx"].as_str().unwrap_or("(custom)")),
                remediation: vec![
                    format!("the license restricts use: {}", lic["reason"].as_str().unwrap_or("")),
                    "read the terms (see inspection.md); if you accept them, re-run with --accept-license".into(),
                ],
            });
        }
        Ok(Outcome::Done(summary))
    })?;
    if flow == Flow::Continue {
        let mlx_lm = ctx.insp["routing"]["references"]["mlx_lm"].as_str().map(str::to_string);
        // mlx-lm's module for a vision-language type runs its decoder alone.
        let text_only = ctx.state.family == Some(Family::VisionLanguage);
        if text_only && ctx.req.target == Some(Target::MlxLm) {
            return Err(crate::error::Error::Refused(format!(
                "--target mlx-lm: mlx-lm{} runs only the language model of a vision-language model (its image tower and projector are dropped); use --target scaffold or --target mlx-vlm",
                mlx_lm.as_deref().map(|m| format!("'s {m}")).unwrap_or_default()
            )));
        }
        if ctx.req.target == Some(Target::MlxVlm) {
            let mlx_vlm = ctx.insp["routing"]["references"]["mlx_vlm"].as_str();
            let mt = ctx.state.model_type.clone().unwrap_or_default();
            if !text_only || mlx_vlm.is_none() || !mlxport_contract::vlm::PORTABLE.contains(&mt.as_str()) {
                return Err(crate::error::Error::Refused(format!(
                    "--target mlx-vlm: proven for the vision-language types {} that mlx-vlm implements; this model is a {} {mt}{}",
                    mlxport_contract::vlm::PORTABLE.join(", "),
                    ctx.state.family.map(|f| f.as_str()).unwrap_or("model of no known family"),
                    if mlx_vlm.is_none() { " (mlx-vlm has no module for it)" } else { "" }
                )));
            }
            if super::optional::wanted(ctx.req) || ctx.req.optimize {
                return Err(crate::error::Error::Refused(
                    "--target mlx-vlm proves mlx-vlm's implementation; quantization (-q, --bits, --recipe, --target-bpw) and --optimize are gated and benchmarked through the generated package: use --target scaffold for them".into(),
                ));
            }
        }
        ctx.target = ctx.req.target.unwrap_or(if mlx_lm.is_some() && !text_only { Target::MlxLm } else { Target::Scaffold });
        ctx.state.target = Some(ctx.target);
        eprintln!(
            "         target       {} ({})",
            ctx.target,
            match (&mlx_lm, ctx.req.target) {
                (Some(m), None) if text_only => format!("mlx-lm's {m} runs the language model alone: a generated package"),
                (Some(m), None) => format!("mlx-lm implements it: {m}"),
                (None, None) => "mlx-lm has no implementation of this model type: a generated package".into(),
                _ => "as asked".into(),
            }
        );
    }
    Ok(flow)
}

pub(super) fn settings(ctx: &Ctx) -> Settings {
    ctx.req.harness.clone()
}

/// Whether the model generates tokens (greedy decoding, cached decoding).
fn decoder(ctx: &Ctx) -> bool {
    !matches!(ctx.state.family, Some(Family::Encoder | Family::Vision))
}

fn oracle_inputs(ctx: &Ctx) -> Result<Inputs> {
    let decoder = decoder(ctx);
    let vision = matches!(ctx.state.family, Some(Family::Vision | Family::VisionLanguage));
    let mut i = match &ctx.req.inputs {
        Some(p) => Inputs::read(p)?,
        // Image and vision-language models: the given images, else the
        // built-in photographs (a vision-language model's prompts: the
        // given texts, else the oracle's question).
        None if vision => {
            Inputs { images: Some(ctx.req.images.clone()), texts: (!ctx.req.text.is_empty()).then(|| ctx.req.text.clone()), ..Default::default() }
        }
        None if !ctx.req.text.is_empty() => Inputs { texts: Some(ctx.req.text.clone()), ..Default::default() },
        None => Inputs { texts: Some(if decoder { PROMPTS } else { SENTENCES }.iter().map(|s| s.to_string()).collect()), ..Default::default() },
    };
    if decoder && i.generate.is_none() {
        i.generate = Some(ctx.req.generate);
    }
    i.validate()?;
    Ok(i)
}

fn oracle(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = oracle_inputs(ctx)?;
    let images = image_digests(&inputs)?;
    let h = json!({"fingerprint": fingerprint(ctx), "inputs": serde_json::to_value(&inputs)?, "images": images, "dtype": "float32", "seed": 0});
    ctx.step(Step::Oracle, h, &["oracle"], |ctx, st| {
        let harness = Harness::new(settings(ctx))?;
        let out = st.join("oracle");
        std::fs::create_dir_all(&out)?;
        // The inputs as given to the oracle, for `mlxport oracle --inputs`.
        std::fs::write(out.join("inputs.json"), serde_json::to_string_pretty(&inputs)? + "\n")?;
        let m = harness.oracle(&OracleRequest { model: ctx.model.path.clone(), inputs, out: out.join("oracle.npz"), dtype: "float32".into(), seed: 0 })?;
        std::fs::rename(out.join("oracle.manifest.json"), out.join("manifest.json"))?;
        Ok(Outcome::Done(format!(
            "{} tensors from {} (transformers {})",
            m.tensors.len(),
            m.model["class"].as_str().unwrap_or("?"),
            m.libraries["transformers"].as_str().unwrap_or("?")
        )))
    })
}

/// The SHA-256 of every image file the inputs name (folders listed), so
/// that an edited image runs the oracle again.
fn image_digests(inputs: &Inputs) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for p in inputs.images.iter().flatten() {
        if p.is_dir() {
            let mut found: Vec<_> =
                std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            found.sort();
            files.extend(found.into_iter().filter(|f| f.is_file()));
        } else {
            files.push(p.clone());
        }
    }
    files
        .iter()
        .map(|f| {
            let digest = mlxport_util::hash::sha256_file(f).with_context(|| format!("reading {}", f.display()))?.sha256;
            Ok(format!("{}  {}", digest, f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()))
        })
        .collect()
}

fn policy(ctx: &Ctx) -> Option<DtypePolicy> {
    DtypePolicy::parse(ctx.req.dtype.as_str())
}

fn map_draft(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"fingerprint": fingerprint(ctx), "target": ctx.target});
    // A map edited by hand after drafting (to resolve what the drafter
    // could not) is the user's decision: kept while the source and target
    // are the ones it was drafted for.
    let h = super::state::inputs_hash(Step::MapDraft, &inputs);
    if let Some(prev) =
        ctx.old.as_ref().and_then(|o| o.step(Step::MapDraft)).filter(|p| p.inputs_sha256.as_deref() == Some(&h) && p.status == StepStatus::Done).cloned()
    {
        let path = ctx.dir.join("weight_map.json");
        if path.is_file() && !super::state::artifacts_intact(&ctx.dir, &prev.artifacts) {
            WeightMap::load(&path)?;
            let mut rec = prev;
            rec.artifacts = super::state::artifacts(&ctx.dir, "weight_map.json")?;
            rec.finished_at = mlxport_util::time::now_rfc3339_millis();
            rec.summary = "weight_map.json edited after drafting: kept".into();
            eprintln!("[{:>2}/{}] map-draft    kept         weight_map.json was edited after drafting", Step::MapDraft.number(), Step::ALL.len());
            ctx.state.put(rec);
            ctx.kept.push(Step::MapDraft);
            return Ok(Flow::Continue);
        }
    }
    let flow = ctx.step(Step::MapDraft, inputs, &["weight_map.json"], |ctx, st| {
        let src = mlxport_tensor::open(&ctx.model.path)?;
        let d = crate::weights::draft_from(src.as_ref(), &ctx.model.path, None, Some(ctx.target.to_string()))?;
        std::fs::write(st.join("weight_map.json"), d.map.to_json())?;
        Ok(Outcome::Done(format!(
            "{} rules for {} tensors ({} family, target {}), {} unresolved",
            d.map.rules.len(),
            src.tensors().len(),
            d.family,
            d.target,
            d.map.unresolved.len()
        )))
    })?;
    // A GGUF has no config.json: its model type is the map's.
    if ctx.state.model_type.is_none() {
        if let Ok(m) = WeightMap::load(&ctx.dir.join("weight_map.json")) {
            ctx.state.model_type = m.target.model_type.clone();
        }
    }
    Ok(flow)
}

fn map_validate(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"map": ctx.upstream(&[Step::MapDraft]), "fingerprint": fingerprint(ctx), "dtype": ctx.req.dtype, "target": ctx.target});
    ctx.step(Step::MapValidate, inputs, &["map-validation.json"], |ctx, st| {
        let map = WeightMap::load(&ctx.dir.join("weight_map.json"))?;
        let src = mlxport_tensor::open(&ctx.model.path)?;
        let mut v = crate::weights::validate(&map, src.as_ref(), policy(ctx));
        // Against the target's own parameters too, once the map holds
        // against the source: a name the target does not load stops the
        // port here, not at capture.
        let mut note = String::new();
        if v.report.ok {
            let harness = Harness::new(settings(ctx))?;
            if let crate::weights::ImplementationCheck::NotChecked(why) =
                crate::weights::check_implementation(&mut v, &map, &ctx.model.path, src.as_ref(), &harness, &ctx.insp)?
            {
                note = format!(" (the target's parameters not checked: {why})");
            }
        }
        let r = &v.report;
        let mut text = serde_json::to_string_pretty(r)?;
        text.push('\n');
        std::fs::write(st.join("map-validation.json"), text)?;
        let s = &r.summary;
        let checked = r.summary.implementation_checked.as_ref().map(|t| format!(", checked against {t}'s parameters")).unwrap_or(note);
        let summary = format!("{} source tensors -> {} targets, {} errors, {} warnings{checked}", s.source_tensors, s.target_tensors, s.errors, s.warnings);
        if r.ok {
            return Ok(Outcome::Done(summary));
        }
        let mut remediation: Vec<String> = map.unresolved.iter().map(|u| format!("unresolved: {} ({})", u.source, u.reason)).collect();
        remediation.extend(v.errors(20, false));
        remediation.push(
            "map or categorize these tensors in weight_map.json (format: docs/weight-map.md), then re-run the same command: the edited map is kept".into(),
        );
        Ok(Outcome::Blocked { summary: format!("{summary}, {} unresolved", map.unresolved.len()), remediation })
    })
}

fn convert(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"map": ctx.upstream(&[Step::MapDraft]), "fingerprint": fingerprint(ctx), "dtype": ctx.req.dtype});
    ctx.step(Step::Convert, inputs, &["weights"], |ctx, st| {
        let map = WeightMap::load(&ctx.dir.join("weight_map.json"))?;
        let command = vec!["mlxport".into(), "port".into(), "--dtype".into(), ctx.req.dtype.to_string()];
        let opts = mlxport_convert::convert::ConvertOptions {
            dtype: policy(ctx),
            command,
            digest_cache: mlxport_intake::digest::DigestCache::default_path(),
            ..Default::default()
        };
        let done = mlxport_convert::convert::convert(&ctx.model.path, &map, &st.join("weights"), &opts)?;
        let m = &done.manifest;
        let mut s =
            format!("{} tensors, {} parameters, {} ({})", m.target.tensors, human_count(m.target.parameters), human_bytes(m.target.total_size), m.target.dtype);
        if !m.config_changes.is_empty() {
            s.push_str(&format!("; config: {}", m.config_changes.join("; ")));
        }
        Ok(Outcome::Done(s))
    })
}

/// The generated package's Python name: the model's name as an identifier.
fn package_name(name: &str) -> String {
    let mut s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "m_");
    }
    s.push_str("_mlx");
    s
}

fn scaffold(ctx: &mut Ctx) -> Result<Flow> {
    if ctx.target != Target::Scaffold {
        // A package from an earlier run with another target is stale.
        let stale = ctx.dir.join("scaffold");
        if stale.is_dir() {
            std::fs::remove_dir_all(&stale).with_context(|| format!("removing {}", stale.display()))?;
        }
        ctx.skip(Step::Scaffold, &format!("target {}: its own implementation is captured", ctx.target))?;
        return Ok(Flow::Continue);
    }
    let inputs = json!({"inspection": ctx.upstream(&[Step::Inspect]), "package": package_name(&ctx.model.name)});
    ctx.step(Step::Scaffold, inputs, &["scaffold"], |ctx, st| {
        let pkg = package_name(&ctx.model.name);
        let plan = match scaffold::plan(&ctx.insp, &pkg, concat!("mlxport ", env!("CARGO_PKG_VERSION"))) {
            Ok(p) => p,
            Err(e @ mlxport_harness::Error::Unsupported(_)) => {
                return Ok(Outcome::Blocked {
                    summary: format!("{e}"),
                    remediation: vec![format!("{e}"), "port these parts by hand, or use --target mlx-lm when mlx-lm implements the model type".into()],
                })
            }
            Err(e) => return Err(e.into()),
        };
        // PORT_DIR/scaffold is the package (its name in mlxport_scaffold.json).
        scaffold::write(&plan, &st.join("scaffold"))?;
        Ok(Outcome::Done(format!("package {pkg} ({} {}), {} files", plan.model_type, plan.family.name(), plan.files.len())))
    })
}

/// The MLX side: the generated package with the converted weights, or
/// mlx-lm's implementation of the converted checkpoint.
fn target(ctx: &Ctx) -> MlxSide {
    let weights = ctx.dir.join("weights");
    match ctx.target {
        Target::Scaffold => MlxSide::Package { package: ctx.dir.join("scaffold"), weights },
        Target::MlxLm => MlxSide::MlxLm { model: weights },
        Target::MlxVlm => MlxSide::MlxVlm { model: weights },
    }
}

/// A hard link (nothing copied), or a copy where links cannot be made.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ())).with_context(|| format!("linking {}", from.display()))
}

fn capture(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"upstream": ctx.upstream(&[Step::Oracle, Step::Convert, Step::Scaffold]), "target": ctx.target});
    ctx.step(Step::Capture, inputs, &["capture"], |ctx, st| {
        let mut harness = Harness::new(settings(ctx))?;
        harness.verify_blas()?;
        // The harness reads the oracle's manifest as NAME.manifest.json
        // beside NAME.npz (whose block inputs feed the isolated rung).
        let input = st.join("oracle-input");
        std::fs::create_dir_all(&input)?;
        std::fs::copy(ctx.dir.join("oracle/manifest.json"), input.join("oracle.manifest.json"))?;
        link_or_copy(&ctx.dir.join("oracle/oracle.npz"), &input.join("oracle.npz"))?;
        let target = target(ctx);
        let out = st.join("capture");
        std::fs::create_dir_all(&out)?;
        let generate = decoder(ctx);
        let m = harness.capture(&CaptureRequest { target, oracle: input.join("oracle.npz"), out: out.join("capture.npz"), generate })?;
        std::fs::rename(out.join("capture.manifest.json"), out.join("manifest.json"))?;
        let tok = match m.checks["tokenizer_matches"].as_bool() {
            Some(false) => "; the target's tokenizer encodes the texts differently",
            _ => "",
        };
        Ok(Outcome::Done(format!("{} tensors from {} (mlx {}){tok}", m.tensors.len(), m.implementation, m.libraries["mlx"].as_str().unwrap_or("?"))))
    })
}

fn parity(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"upstream": ctx.upstream(&[Step::Oracle, Step::Convert, Step::Scaffold, Step::Capture]), "target": ctx.target});
    ctx.step(Step::Parity, inputs, &["parity"], |ctx, st| {
        use crate::parity::{markdown_of, pipeline, ParityRequest};
        // The oracle and the capture of this port, as NAME.npz with
        // NAME.manifest.json beside (hard links: nothing is copied).
        let input = st.join("input");
        std::fs::create_dir_all(&input)?;
        for side in ["oracle", "capture"] {
            link_or_copy(&ctx.dir.join(side).join(format!("{side}.npz")), &input.join(format!("{side}.npz")))?;
            link_or_copy(&ctx.dir.join(side).join("manifest.json"), &input.join(format!("{side}.manifest.json")))?;
        }
        let out = st.join("parity");
        let mut req = ParityRequest::new(ctx.model.path.clone(), target(ctx), oracle_inputs(ctx)?, out.clone());
        req.oracle = Some(input.join("oracle.npz"));
        req.capture = Some(input.join("capture.npz"));
        req.harness = settings(ctx);
        let mut o = pipeline(&req)?;
        // The report names PORT_DIR's files, not this machine's paths.
        let r = &mut o.report;
        r.source = ctx.model.label.clone();
        r.target.weights = "weights".into();
        if r.target.package.is_some() {
            r.target.package = Some("scaffold".into());
        }
        r.oracle = r.oracle.as_ref().map(|_| "oracle/oracle.npz".into());
        r.capture = r.capture.as_ref().map(|_| "capture/capture.npz".into());
        if let Some(c) = r.compare.as_mut() {
            c.a.path = "capture/capture.npz".into();
            c.b.path = "oracle/oracle.npz".into();
        }
        std::fs::write(&o.json, o.report.to_json())?;
        std::fs::write(&o.markdown, markdown_of(&o.report))?;
        let l = &o.report.ladder;
        if o.passed() {
            let tensors: usize = l.rungs.iter().map(|r| r.tensors.len()).sum();
            return Ok(Outcome::Done(format!("ladder passed: {} rungs (config, weights, {} tensors, cache vs full) within tolerance", l.rungs.len(), tensors)));
        }
        let (summary, mut rem) = match &l.first_divergence {
            Some(f) => (
                format!("first divergence at rung {} '{}' ({})", f.rung, f.name, f.stage),
                vec![format!("first divergence at '{}' ({}): {}", f.name, f.stage, f.hint)],
            ),
            None => ("the ladder failed".to_string(), Vec::new()),
        };
        if let Some(h) = l.first_divergence.as_ref().and_then(|f| l.rungs.get(f.rung)).and_then(|r| r.hint.as_ref()) {
            rem.extend(h.causes.iter().map(|c| format!("likely cause: {c}")));
        }
        rem.push("see parity/parity.md for every rung".into());
        Ok(Outcome::Failed { summary, remediation: rem })
    })
}
