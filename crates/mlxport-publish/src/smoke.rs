//! The smoke test run on a written package.
//!
//! Always: `config.json` parses as an object and every safetensors header
//! (and the shard index) validates, with the tensors counted. When the
//! project's Python environment is found: mlx-lm targets are loaded with
//! `mlx_lm.load` and generate a few greedy tokens, mlx-vlm targets with
//! mlx-vlm's `load_model` and run on an image; scaffold targets are
//! loaded strictly through the generated package's own `load` entry and
//! run on one input (an image model's through its own image processor, a
//! vision-language model's with an image in its prompt). The result is
//! recorded in the package manifest and the card; it holds no timings, so
//! it is as deterministic as the model.

use std::path::Path;
use std::time::Duration;

use mlxport_contract::Target;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Smoke {
    /// `passed`, `failed`.
    pub status: String,
    /// What was checked, one line each.
    pub checks: Vec<String>,
    /// `passed`, `failed: ...` or `skipped: ...`.
    pub python: String,
}

/// Check the folder statically, then in Python when possible.
/// `package` is the scaffold package directory name, if any.
pub fn run(dir: &Path, target: Target, package: Option<&str>, with_python: bool) -> Result<Smoke> {
    let mut checks = Vec::new();
    let cfg = crate::portdir::read_json(&dir.join("config.json"))?;
    if !cfg.is_object() {
        return Err(Error::invalid(dir, "config.json is not a JSON object"));
    }
    checks.push(format!("config.json parses (model_type {})", cfg["model_type"].as_str().unwrap_or("not set")));
    let src = mlxport_tensor::open(dir).map_err(|source| Error::Weights { path: dir.to_path_buf(), source })?;
    let tensors = src.tensors();
    if tensors.is_empty() {
        return Err(Error::invalid(dir, "no tensors"));
    }
    let params: u64 = tensors.iter().map(|t| t.shape.iter().product::<u64>()).sum();
    checks.push(format!("safetensors headers valid: {} tensors, {} elements", tensors.len(), params));
    let python = if !with_python {
        "skipped: --no-python-smoke".to_string()
    } else {
        match mlxport_harness::env::PythonEnv::locate() {
            Err(e) => format!("skipped: {e}"),
            Ok(env) => match python_check(&env, dir, target, package) {
                Ok(line) => {
                    checks.push(line);
                    "passed".into()
                }
                Err(e) => format!("failed: {}", mlxport_util::error::chain(&e)),
            },
        }
    };
    let status = if python.starts_with("failed") { "failed" } else { "passed" };
    Ok(Smoke { status: status.into(), checks, python })
}

const MLX_LM: &str = r#"
import os, sys, mlx_lm
from mlx_lm.sample_utils import make_sampler
path = sys.argv[1]
if not any(os.path.isfile(os.path.join(path, f)) for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
    # A checkpoint without a tokenizer: the model alone, on token ids.
    from pathlib import Path
    import mlx.core as mx
    from mlx_lm.generate import generate_step
    from mlx_lm.utils import load_model
    model, _ = load_model(Path(path))
    ids = [t for (t, _), _ in zip(generate_step(mx.array([1, 2, 3, 4]), model, sampler=make_sampler(temp=0.0)), range(8))]
    print(f"mlx_lm load_model and greedy generation on token ids: {len(ids)} tokens")
    sys.exit(0)
model, tok = mlx_lm.load(path)
prompt = "The capital of France is"
if getattr(tok, "chat_template", None):
    prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False)
ids = list(mlx_lm.stream_generate(model, tok, prompt, max_tokens=8, sampler=make_sampler(temp=0.0)))
print(f"mlx_lm.load and greedy generation: {len(ids)} tokens")
"#;

const MLX_VLM: &str = r#"
import sys
from pathlib import Path
import numpy as np
import mlx.core as mx
from PIL import Image
from mlx_vlm.utils import load_model, load_processor
path = sys.argv[1]
model = load_model(Path(path))
processor = load_processor(path, add_detokenizer=False)
token = processor.tokenizer.convert_ids_to_tokens(model.config.image_token_index)
pixels = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
o = processor(images=[Image.fromarray(pixels)], text=f"{token}\nWhat is this?", return_tensors="np")
ids = np.array(o["input_ids"]).tolist()[0]
logits = model(mx.array([ids]), mx.array(np.array(o["pixel_values"])), mask=None).logits
if not bool(mx.all(mx.isfinite(logits)).item()):
    raise SystemExit("non-finite output")
print(f"mlx_vlm load_model (strict) and one forward pass on an image through transformers' processor: {len(ids)} tokens")
"#;

const SCAFFOLD: &str = r#"
import sys, importlib
import mlx.core as mx
sys.path.insert(0, sys.argv[1])
name = sys.argv[2]
load = importlib.import_module(name + ".load")
try:
    family = getattr(importlib.import_module(name + ".capture"), "FAMILY", "unknown")
except ModuleNotFoundError:
    family = "unknown"
model, args = load.load(sys.argv[1])
ids = mx.array([[1, 2, 3, 4]], dtype=mx.int32)
if family == "encoder-decoder":
    tokens, out = importlib.import_module(name + ".generate").greedy(model, [1, 2, 3, 4], 4)
    what = f"and greedy decoding of {len(tokens)} tokens"
elif family == "vision":
    import numpy as np
    from PIL import Image
    processor = importlib.import_module(name + ".image").ImageProcessor.from_dir(sys.argv[1])
    pixels = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    out = model(mx.array(processor([Image.fromarray(pixels)])))
    what = "and one forward pass on an image through its own image processor"
elif family == "vision-language":
    import numpy as np
    from PIL import Image
    pkg = importlib.import_module(name)
    processor = pkg.Processor.from_dir(sys.argv[1], args)
    pixels = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    pv, prompt = processor([Image.fromarray(pixels)], [1, args.image_token_id, 2])
    tokens, out = pkg.greedy(model, prompt, mx.array(pv), 4)
    what = f"and greedy decoding of {len(tokens)} tokens after an image through its own processor"
else:
    try:
        out = model(ids, attention_mask=mx.ones_like(ids))
    except TypeError:
        out = model(ids)
    what = "and one forward pass"
leaves = out if isinstance(out, (list, tuple)) else (out.values() if isinstance(out, dict) else [out])
for v in leaves:
    if isinstance(v, mx.array):
        mx.eval(v)
        if not bool(mx.all(mx.isfinite(v.astype(mx.float32))).item()):
            raise SystemExit("non-finite output")
print(f"{name}.load.load (strict) {what}")
"#;

fn python_check(env: &mlxport_harness::env::PythonEnv, dir: &Path, target: Target, package: Option<&str>) -> Result<String, mlxport_harness::Error> {
    // Python runs inside the package: name it absolutely, or a relative
    // `dir` would be resolved against itself.
    let dir = &std::path::absolute(dir).map_err(|e| mlxport_harness::Error::io(dir, "resolving", e))?;
    let mut job = mlxport_harness::runner::Job::new(env.python()).timeout(Duration::from_secs(900)).threads(2).output_limit(1 << 16).cwd(dir);
    if let Some(lib) = mlxport_harness::blas::Blas::detect().path() {
        job = job.preload(lib);
    }
    let job = match (target, package) {
        (Target::Scaffold, Some(pkg)) => job.arg("-c").arg(SCAFFOLD).arg(dir).arg(pkg),
        (Target::Scaffold, None) => return Err(mlxport_harness::Error::invalid("a scaffold target without its package")),
        (Target::MlxVlm, _) => job.arg("-c").arg(MLX_VLM).arg(dir),
        _ => job.arg("-c").arg(MLX_LM).arg(dir),
    };
    let out = job.run()?;
    out.check("the Python smoke test")?;
    Ok(out.stdout.text().trim().lines().last().unwrap_or("").to_string())
}
