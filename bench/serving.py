"""Benchmark: the generated decoder package as served, against mlx-lm, on
SmolLM2-135M (real weights, float32), in one run.

    cargo build --release -p mlxport
    .venv/bin/python bench/serving.py [--runs 5] [--gen-tokens 64] [--keep DIR]

It ports `--example smollm2` to both targets (scaffold and mlx-lm; the
mlx-lm conversion is the one mlx-lm reads), then reports:

1. `mlxport bench generate PACKAGE --versus-mlx-lm`: the package's serving
   loop (`stream`, options `SERVE`: step cache, pipelined decoding, fused
   projections, shared rotary tables; all exact) and mlx-lm's own
   `generate_step` on the same weights, measured in one process with the
   runs interleaved, prompts of 128 and 512 tokens; decode and prefill
   ratios package / mlx-lm with paired 95% intervals, and whether the
   greedy tokens agree;
2. speculative decoding in the package: the float32 model drafted by its
   own 4-bit quantization (`mlxport quantize --bits 4`), 2 draft tokens,
   against plain greedy decoding with the same options, on a real prompt:
   identical tokens (asserted), acceptance rate, wall-time speed-up
   (median of `--runs` interleaved pairs);
3. the quality gate of a bfloat16 conversion against its 8-bit and 2-bit
   quantizations, both in one `mlxport quality` run through the package
   (float32 compute, quantized weights dequantized at load): wall time and
   verdicts.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "The capital of France is Paris. The capital of Germany is"
# The package's serving options measured here (every one exact).
SERVE = {"cache": "step", "pipeline": True, "fuse": True, "rope_tables": True}


def binary():
    for p in (ROOT / "target/release/mlxport", ROOT / "target/debug/mlxport"):
        if p.is_file():
            return str(p)
    sys.exit("build mlxport first: cargo build --release -p mlxport")


def mlxport(*args, check=True):
    env = dict(os.environ, MLXPORT_PYTHON=os.environ.get("MLXPORT_PYTHON", str(ROOT / ".venv/bin/python")))
    r = subprocess.run([binary(), *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        sys.exit(f"mlxport {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
    return r


SPECULATIVE = r"""
import importlib, json, os, statistics, sys, time
pkg_dir, weights, draft_dir, tok_path, prompt, runs, n, serve = sys.argv[1:9]
sys.path.insert(0, os.path.dirname(pkg_dir))
pkg = importlib.import_module(os.path.basename(pkg_dir))
from tokenizers import Tokenizer
ids = Tokenizer.from_file(tok_path).encode(prompt).ids
model, _ = pkg.load(weights)
draft, _ = pkg.load(draft_dir)
o = pkg.Options.from_dict(json.loads(serve))
pairs = []
for i in range(int(runs) + 1):
    t0 = time.perf_counter(); base, _ = pkg.greedy(model, ids, int(n), options=o); t1 = time.perf_counter()
    got, stats = pkg.speculative_greedy(model, draft, ids, int(n), 2, options=o); t2 = time.perf_counter()
    assert got == base, "speculative decoding changed the tokens"
    if i:  # the first pair warms up
        pairs.append((t1 - t0, t2 - t1))
speedups = [g / s for g, s in pairs]
print(json.dumps({"prompt_tokens": len(ids), "new_tokens": int(n), "acceptance": stats["acceptance"], "model_calls": stats["model_calls"],
                  "greedy_s": statistics.median(g for g, _ in pairs), "speculative_s": statistics.median(s for _, s in pairs),
                  "speedup_median": statistics.median(speedups), "speedups": speedups, "identical_tokens": True}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--keep", help="work directory to keep")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="mlxport-serving-"))
    work.mkdir(parents=True, exist_ok=True)
    py = os.environ.get("MLXPORT_PYTHON", str(ROOT / ".venv/bin/python"))
    out = {}

    for target in ("scaffold", "mlx-lm"):
        d = work / f"port-{target}"
        if not (d / "port.json").is_file() or json.loads((d / "port.json").read_text())["status"] != "complete":
            mlxport("port", "--example", "smollm2", "--target", target, "--out", d, "--yes")
    pkg = work / "port-scaffold/scaffold"
    weights = work / "port-mlx-lm/weights"

    versus = work / "versus.json"
    t = time.perf_counter()
    r = mlxport("bench", "generate", pkg, "--weights", weights, "--options", json.dumps(SERVE), "--versus-mlx-lm", weights,
                "--prompt-tokens", "128,512", "--gen-tokens", args.gen_tokens, "-r", args.runs, "--resamples", 5000, "-o", versus)
    print(r.stdout)
    v = json.loads(versus.read_text())
    out["versus_mlx_lm"] = {
        "seconds": round(time.perf_counter() - t, 1),
        "rows": [
            {"prompt_tokens": x["prompt_tokens"], "same_tokens": x["same_tokens"],
             **{m: {"ratio": round(x[m]["ratio"], 3), "ci": [round(x[m]["ratio_ci"]["low"], 3), round(x[m]["ratio_ci"]["high"], 3)], "verdict": x[m]["verdict"]}
                for m in ("decode", "prefill")}}
            for x in v["rows"]
        ],
    }

    q4 = work / "q4"
    if not q4.is_dir():
        mlxport("quantize", work / "port-scaffold/weights", "--bits", "4", "-o", q4)
    env = dict(os.environ)
    blas = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3")
    if blas.is_file():  # as the harness runs MLX
        env["LD_PRELOAD"] = str(blas)
    r = subprocess.run([py, "-c", SPECULATIVE, pkg, work / "port-scaffold/weights", q4, work / "port-scaffold/weights/tokenizer.json", PROMPT, str(args.runs), str(args.gen_tokens), json.dumps(SERVE)],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit(f"speculative decoding: {r.stderr}")
    out["speculative"] = json.loads(r.stdout)

    bf16, q8, q2 = work / "bf16", work / "bf16-q8", work / "bf16-q2"
    if not bf16.is_dir():
        mlxport("convert", ROOT / "target/fixtures/smollm2-hf", "--map", work / "port-scaffold/weight_map.json", "--dtype", "bf16", "--out", bf16)
    for d, bits in ((q8, 8), (q2, 2)):
        if not d.is_dir():
            mlxport("quantize", bf16, "--bits", bits, "-o", d)
    t = time.perf_counter()
    r = mlxport("quality", "--reference", bf16, "--candidate", q8, "--candidate", q2, "--package", pkg, "-o", work / "quality.json", check=False)
    wall = time.perf_counter() - t
    reports = json.loads((work / "quality.json").read_text())
    out["quality_gate"] = {
        "wall_s": round(wall, 1),
        "python_s": round(reports[0]["run"]["seconds"], 1),
        "verdicts": {Path(x["candidate"]).name: x["verdict"] for x in reports},
        "kl_mean": {Path(x["candidate"]).name: x["lm"]["kl_mean"] for x in reports},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
