"""Benchmark: `mlxport convert` against `mlx_lm.convert`, side by side, on
the same Hugging Face checkpoints, to bf16.

    cargo build --release -p mlxport
    .venv/bin/python bench/convert_bench.py [--runs 3] [--big-runs 1] [--skip-big]

Checkpoints:
- SmolLM2-135M-Instruct in its Hugging Face form (538 MB f32), built from the
  GGUF of the reference environment by python/fixtures.py;
- a generated llama-shaped checkpoint of 1.24 B parameters (the shape of
  Llama-3.2-1B: hidden 2048, 16 layers, MLP 8192, 32 heads, 8 KV heads,
  vocab 128256, tied embeddings), f32 in two safetensors shards with an
  index (4.9 GB), written once with numpy under bench/out/.

For each, the weight map is drafted once (`mlxport map draft`, timed
separately), then the converters run interleaved into fresh directories:
ours (input SHA-256s from the digest cache it shares with `mlxport
inspect`, filled by the first run), ours with `--no-cache` (every input
hashed again), mlx_lm.convert; wall time and the child's peak RSS
(GNU time's %M) are recorded and the medians reported. The page
cache is warm for both (the source is read once before the runs). Every
output is checked: tensor names, dtypes, shapes and raw bits equal
(`mx.load` of both, compared as unsigned integers).

Results go to stdout and bench/out/convert_bench.json.
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

COMPARE = r'''
import glob, sys
import mlx.core as mx
def load(d):
    out = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        out.update(mx.load(f))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == sorted(b), sorted(set(a) ^ set(b))[:10]
bits = {1: mx.uint8, 2: mx.uint16, 4: mx.uint32, 8: mx.uint64}
n = 0
for k in sorted(a):
    x, y = a[k], b[k]
    assert x.dtype == y.dtype and x.shape == y.shape, (k, x.dtype, y.dtype, x.shape, y.shape)
    u = bits[x.itemsize]
    assert mx.array_equal(x.view(u), y.view(u)).item(), k
    n += x.size
print(len(a), n)
'''

BIG = dict(hidden=2048, layers=16, inter=8192, heads=32, kv_heads=8, vocab=128256)


def run(cmd):
    """Run a command under GNU time; returns (wall seconds, peak RSS in
    bytes). (`ru_maxrss` of a child forked from this Python process would
    include this process's own RSS at the fork: Linux carries the old
    mm's high-water mark across exec.)"""
    stats = OUT / "time.txt"
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", str(stats), *map(str, cmd)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr.decode(errors='replace')}")
    _, kb = stats.read_text().split()[-2:]
    return wall, int(kb) * 1024


def warm(d: Path):
    for f in sorted(d.iterdir()):
        if f.is_file():
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def smollm2():
    d = ROOT / "target" / "fixtures" / "smollm2-hf"
    subprocess.run([sys.executable, str(ROOT / "python" / "fixtures.py"), "smollm2-hf", str(d)], check=True, stdout=subprocess.DEVNULL)
    return d


def big_llama():
    d = OUT / "llama-1b-f32"
    if (d / ".complete").exists():
        return d
    from safetensors.numpy import save_file

    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    c = BIG
    head = c["hidden"] // c["heads"]
    shapes = {"model.embed_tokens.weight": (c["vocab"], c["hidden"])}
    for i in range(c["layers"]):
        p = f"model.layers.{i}"
        shapes.update({
            f"{p}.input_layernorm.weight": (c["hidden"],),
            f"{p}.post_attention_layernorm.weight": (c["hidden"],),
            f"{p}.self_attn.q_proj.weight": (c["heads"] * head, c["hidden"]),
            f"{p}.self_attn.k_proj.weight": (c["kv_heads"] * head, c["hidden"]),
            f"{p}.self_attn.v_proj.weight": (c["kv_heads"] * head, c["hidden"]),
            f"{p}.self_attn.o_proj.weight": (c["hidden"], c["heads"] * head),
            f"{p}.mlp.gate_proj.weight": (c["inter"], c["hidden"]),
            f"{p}.mlp.up_proj.weight": (c["inter"], c["hidden"]),
            f"{p}.mlp.down_proj.weight": (c["hidden"], c["inter"]),
        })
    shapes["model.norm.weight"] = (c["hidden"],)
    rng = np.random.default_rng(0)
    base = (rng.standard_normal(1 << 24, dtype=np.float32) * 0.02).astype(np.float32)
    names = list(shapes)
    half = len(names) // 2
    weight_map, total = {}, 0
    for k, part in enumerate([names[:half], names[half:]]):
        fname = f"model-{k + 1:05d}-of-00002.safetensors"
        tensors = {}
        for j, n in enumerate(part):
            size = int(np.prod(shapes[n]))
            off = (j * 7919) % (1 << 20)
            tensors[n] = np.resize(base[off:], size).reshape(shapes[n]) if "norm" not in n else np.ones(shapes[n], np.float32)
            weight_map[n] = fname
            total += size * 4
        save_file(tensors, str(d / fname), metadata={"format": "pt"})
        del tensors
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c["hidden"],
        "intermediate_size": c["inter"], "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
        "num_key_value_heads": c["kv_heads"], "head_dim": head, "vocab_size": c["vocab"], "rms_norm_eps": 1e-5,
        "max_position_embeddings": 131072, "tie_word_embeddings": True, "hidden_act": "silu",
        "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}, "dtype": "float32",
        "bos_token_id": 1, "eos_token_id": 2,
    }
    (d / "config.json").write_text(json.dumps(config, indent=2))
    # mlx_lm.convert loads a tokenizer: borrow SmolLM2's.
    src = smollm2()
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(src / f, d / f)
    (d / ".complete").write_text("llama-1b-f32\n")
    return d


def bench(name, model, runs, mlxport, work):
    warm(model)
    mp = work / f"{name}.map.json"
    mp.unlink(missing_ok=True)
    t_draft, _ = run([mlxport, "map", "draft", str(model), "-o", str(mp)])
    ours, cold, theirs = [], [], []
    for r in range(runs):
        for who in ("ours", "cold", "theirs"):
            out = work / f"{name}-{who}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            if who == "ours":
                ours.append(run([mlxport, "convert", str(model), "--map", str(mp), "--out", str(out), "--dtype", "bf16"]))
            elif who == "cold":
                cold.append(run([mlxport, "convert", str(model), "--map", str(mp), "--out", str(out), "--dtype", "bf16", "--no-cache"]))
            else:
                theirs.append(run([sys.executable, "-m", "mlx_lm", "convert", "--hf-path", str(model), "--mlx-path", str(out), "--dtype", "bfloat16"]))
    a, b = work / f"{name}-ours-0", work / f"{name}-theirs-0"
    check = subprocess.run([sys.executable, "-c", COMPARE, str(a), str(b)], capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"{name}: outputs differ:\n{check.stderr}")
    tensors, params = map(int, check.stdout.split())
    # Byte-identical across our runs.
    same = all(
        (work / f"{name}-ours-{r}" / f).read_bytes() == (a / f).read_bytes()
        for r in range(1, runs) for f in os.listdir(a)
    )
    for r in range(runs):
        for who in ("ours", "cold", "theirs"):
            shutil.rmtree(work / f"{name}-{who}-{r}", ignore_errors=True)
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    res = {
        "model": name, "source_bytes": sum(f.stat().st_size for f in model.iterdir() if f.is_file()),
        "tensors": tensors, "parameters": params, "runs": runs, "map_draft_s": round(t_draft, 3),
        "ours": {"wall_s": round(med(ours, 0), 3), "peak_rss_mb": round(med(ours, 1) / 2**20, 1), "all": ours},
        "ours_no_digest_cache": {"wall_s": round(med(cold, 0), 3), "peak_rss_mb": round(med(cold, 1) / 2**20, 1), "all": cold},
        "mlx_lm": {"wall_s": round(med(theirs, 0), 3), "peak_rss_mb": round(med(theirs, 1) / 2**20, 1), "all": theirs},
        "identical_tensors": True, "ours_byte_identical_across_runs": same,
    }
    res["speedup"] = round(res["mlx_lm"]["wall_s"] / res["ours"]["wall_s"], 2)
    res["speedup_no_digest_cache"] = round(res["mlx_lm"]["wall_s"] / res["ours_no_digest_cache"]["wall_s"], 2)
    res["memory_ratio"] = round(res["ours"]["peak_rss_mb"] / res["mlx_lm"]["peak_rss_mb"], 3)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-runs", type=int, default=1)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--mlxport", default=str(ROOT / "target" / "release" / "mlxport"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "convert"
    work.mkdir(exist_ok=True)
    import mlx.core as mx, mlx_lm
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    results = {
        "hardware": {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1), "system": platform.platform()},
        "versions": {"mlx": mx.__version__, "mlx_lm": mlx_lm.__version__},
        "note": "wall time and peak RSS of each converter process, medians; page cache warm; outputs compared bit for bit",
        "results": [bench("smollm2-135m", smollm2(), args.runs, args.mlxport, work)],
    }
    if not args.skip_big:
        results["results"].append(bench("llama-1.24b", big_llama(), args.big_runs, args.mlxport, work))
    print(f"{results['hardware']['cpu']}, {results['hardware']['cores']} cores; mlx {results['versions']['mlx']}, mlx-lm {results['versions']['mlx_lm']}")
    print(f"{'model':<14}{'params':>8}{'ours s':>9}{'(no cache)':>11}{'mlx-lm s':>10}{'speedup':>9}{'(no cache)':>11}{'ours MB':>9}{'mlx-lm MB':>11}{'mem ratio':>10}  identical")
    for r in results["results"]:
        print(f"{r['model']:<14}{r['parameters'] / 1e9:>7.2f}B{r['ours']['wall_s']:>9.2f}{r['ours_no_digest_cache']['wall_s']:>11.2f}{r['mlx_lm']['wall_s']:>10.2f}{r['speedup']:>8.2f}x{r['speedup_no_digest_cache']:>10.2f}x"
              f"{r['ours']['peak_rss_mb']:>9.0f}{r['mlx_lm']['peak_rss_mb']:>11.0f}{r['memory_ratio']:>10.2f}  {r['identical_tensors'] and r['ours_byte_identical_across_runs']}")
    (OUT / "convert_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
