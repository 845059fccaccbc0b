//! The profile of a port's decoder as served: load time, first-call cost,
//! prefill tokens/s by prompt length, decode tokens/s by context length,
//! peak memory and the share of each decode step spent in Python building
//! the graph (`mlxport profile PORT_DIR`). The harness measures
//! (`profile_serving.py`); this module picks what the port serves (its package
//! with the converted weights, or mlx-lm on them), checks the result and
//! writes it as `PORT_DIR/profile/profile.json` (schema [`SCHEMA`]).

use std::path::{Path, PathBuf};

use crate::error::{bail, Context, Result};
use mlxport_harness::jobs::{Harness, ProfileRequest as HarnessProfile, Settings as HarnessSettings, Target};
use serde::{Deserialize, Serialize};

/// Schema of the profile document.
pub const SCHEMA: &str = "mlxport.profile/v1";

/// What to profile and how.
#[derive(Clone, Debug)]
pub struct ProfileRequest {
    /// A port directory (`mlxport port`'s PORT_DIR).
    pub port_dir: PathBuf,
    /// A package's serving options (JSON; `None`: its defaults).
    pub options: Option<String>,
    pub prompt_tokens: Vec<u32>,
    pub contexts: Vec<u32>,
    pub gen_tokens: u32,
    pub runs: u32,
    pub seed: u64,
    pub harness: HarnessSettings,
}

/// The profile, as `profile_serving.py` writes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub schema: String,
    pub implementation: String,
    pub options: Option<serde_json::Value>,
    pub device: String,
    pub mlx: Option<String>,
    pub load_s: f64,
    pub first_call: FirstCall,
    pub prefill: Vec<Prefill>,
    pub decode: Vec<Decode>,
    pub runs: u32,
    pub gen_tokens: u32,
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FirstCall {
    pub tokens: u32,
    pub first_s: f64,
    pub again_s: f64,
    /// `first_s - again_s`, at least 0.
    pub cost_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prefill {
    pub prompt_tokens: u32,
    pub seconds: Vec<f64>,
    pub tokens_per_s: f64,
    pub peak_memory_bytes: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decode {
    pub context_tokens: u32,
    pub tokens_per_s: f64,
    pub runs_tokens_per_s: Vec<f64>,
    pub step_median_s: f64,
    /// Share of each step spent building the graph in Python.
    pub python_share: f64,
    pub peak_memory_bytes: f64,
}

impl Profile {
    /// Parse and check `profile_serving.py`'s output against what was asked.
    pub fn parse(bytes: &[u8], req: &ProfileRequest) -> Result<Profile> {
        let p: Profile = serde_json::from_slice(bytes).context("the profile's output is not mlxport.profile/v1")?;
        if p.schema != SCHEMA {
            bail!("the profile's output has schema `{}`, expected `{SCHEMA}`", p.schema);
        }
        let got: Vec<u32> = p.prefill.iter().map(|x| x.prompt_tokens).collect();
        let ctx: Vec<u32> = p.decode.iter().map(|x| x.context_tokens).collect();
        if got != req.prompt_tokens || ctx != req.contexts {
            bail!("the profile measured prompts {got:?} and contexts {ctx:?}, not the {:?} and {:?} asked", req.prompt_tokens, req.contexts);
        }
        let finite = [p.load_s, p.first_call.first_s, p.first_call.again_s, p.first_call.cost_s]
            .into_iter()
            .chain(p.prefill.iter().flat_map(|x| [x.tokens_per_s, x.peak_memory_bytes]))
            .chain(p.decode.iter().flat_map(|x| [x.tokens_per_s, x.step_median_s, x.python_share, x.peak_memory_bytes]))
            .all(|v| v.is_finite() && v >= 0.0);
        if !finite || p.decode.iter().any(|d| d.python_share > 1.0) {
            bail!("the profile's output holds a negative, non-finite or impossible figure");
        }
        Ok(p)
    }
}

/// What a port serves: its package with the converted weights (target
/// scaffold), or mlx-lm on them.
fn served(port_dir: &Path) -> Result<Target> {
    let weights = port_dir.join("weights");
    if !weights.join("config.json").is_file() {
        bail!("{}: not a port directory with converted weights (no weights/config.json); run `mlxport port` first", port_dir.display());
    }
    let package = port_dir.join("scaffold");
    Ok(if package.join("__init__.py").is_file() { Target::Package { package, weights } } else { Target::MlxLm { model: weights } })
}

/// Measure, check and write `PORT_DIR/profile/profile.json`; returns the
/// profile and the file written.
pub fn run(req: &ProfileRequest) -> Result<(Profile, PathBuf)> {
    if req.prompt_tokens.is_empty() || req.prompt_tokens.contains(&0) || req.contexts.is_empty() || req.contexts.contains(&0) {
        bail!("--prompt-tokens and --contexts: give positive lengths");
    }
    if req.gen_tokens < 2 || req.runs == 0 {
        bail!("--gen-tokens must be at least 2 and --runs at least 1");
    }
    let target = served(&req.port_dir)?;
    if req.options.is_some() && !matches!(target, Target::Package { .. }) {
        bail!("--options are a package's serving options; {} serves mlx-lm", req.port_dir.display());
    }
    let mut h = Harness::new(req.harness.clone())?;
    crate::check_blas(&mut h, "profiling")?;
    let raw = h.profile(&HarnessProfile {
        target,
        options: req.options.clone(),
        prompt_tokens: req.prompt_tokens.clone(),
        contexts: req.contexts.clone(),
        gen_tokens: req.gen_tokens,
        runs: req.runs,
        seed: req.seed,
    })?;
    let profile = Profile::parse(&raw, req)?;
    let out = req.port_dir.join("profile/profile.json");
    std::fs::create_dir_all(out.parent().unwrap_or(Path::new("."))).with_context(|| format!("cannot create {}", out.display()))?;
    mlxport_util::fs::write_atomic(&out, (serde_json::to_string_pretty(&profile)? + "\n").as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok((profile, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ProfileRequest {
        ProfileRequest {
            port_dir: PathBuf::from("p"),
            options: None,
            prompt_tokens: vec![8],
            contexts: vec![16],
            gen_tokens: 4,
            runs: 1,
            seed: 0,
            harness: HarnessSettings::default(),
        }
    }

    fn doc(share: f64) -> serde_json::Value {
        serde_json::json!({
            "schema": SCHEMA, "implementation": "mlx-lm", "options": null, "device": "cpu", "mlx": "0.32.4", "load_s": 0.5,
            "first_call": {"tokens": 16, "first_s": 0.3, "again_s": 0.1, "cost_s": 0.2},
            "prefill": [{"prompt_tokens": 8, "seconds": [0.1], "tokens_per_s": 80.0, "peak_memory_bytes": 1e6}],
            "decode": [{"context_tokens": 16, "tokens_per_s": 10.0, "runs_tokens_per_s": [10.0], "step_median_s": 0.1, "python_share": share, "peak_memory_bytes": 1e6}],
            "runs": 1, "gen_tokens": 4, "seed": 0
        })
    }

    #[test]
    fn parse_checks_lengths_and_figures() {
        assert!(Profile::parse(doc(0.2).to_string().as_bytes(), &req()).is_ok());
        assert!(Profile::parse(doc(1.5).to_string().as_bytes(), &req()).unwrap_err().to_string().contains("impossible"));
        let mut other = req();
        other.contexts = vec![32];
        assert!(Profile::parse(doc(0.2).to_string().as_bytes(), &other).unwrap_err().to_string().contains("not the"));
        let mut bad = doc(0.2);
        bad["schema"] = "x".into();
        assert!(Profile::parse(bad.to_string().as_bytes(), &req()).is_err());
    }
}
