"""Benchmark: `mlxport convert -q` and `mlxport quantize` against
`mlx_lm.convert -q`, side by side in one run, 4-bit group 64 in bf16.

    cargo build --release -p mlxport
    .venv/bin/python bench/quantize_bench.py [--runs 3] [--big-runs 1] [--skip-big]

Checkpoints (the same as bench/convert_bench.py, whose generator is
reused): SmolLM2-135M-Instruct in its Hugging Face form (f32), and a
generated llama-shaped checkpoint of 1.24 B parameters (f32, 4.9 GB).

Two tasks, each timed for both tools, interleaved, into fresh directories:
- `hf`: Hugging Face f32 -> quantized MLX: `mlxport convert --dtype bf16 -q
  --bits 4 --group-size 64` against `mlx_lm.convert --dtype bfloat16 -q
  --q-bits 4 --q-group-size 64`;
- `mlx`: a bf16 MLX checkpoint (written once by `mlxport convert`) ->
  quantized: `mlxport quantize --bits 4 --group-size 64` against
  `mlx_lm.convert -q` of the same directory; `mlxport quantize` finds the
  SHA-256 of its inputs in the digest cache (`mlxport convert` recorded
  them as it wrote the directory), and is timed with `--no-cache` too
  (every input hashed again).
Wall time and the process's peak RSS (GNU time) are recorded, medians
reported. Page cache warm. Every output pair is compared tensor by tensor,
bit for bit (`mx.load`). Results go to stdout and
bench/out/quantize_bench.json.
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import convert_bench as cb  # noqa: E402

OUT = cb.OUT


def bench(name, model, runs, mlxport, work):
    cb.warm(model)
    mp = work / f"{name}.map.json"
    mp.unlink(missing_ok=True)
    cb.run([mlxport, "map", "draft", str(model), "-o", str(mp)])
    floatdir = work / f"{name}-bf16"
    shutil.rmtree(floatdir, ignore_errors=True)
    cb.run([mlxport, "convert", str(model), "--map", str(mp), "--out", str(floatdir), "--dtype", "bf16"])
    cb.warm(floatdir)
    q = ["--bits", "4", "--group-size", "64"]
    cmds = {
        ("hf", "ours"): lambda out: [mlxport, "convert", str(model), "--map", str(mp), "--out", str(out), "--dtype", "bf16", "-q", *q],
        ("hf", "mlx_lm"): lambda out: [sys.executable, "-m", "mlx_lm", "convert", "--hf-path", str(model), "--mlx-path", str(out), "--dtype", "bfloat16", "-q", "--q-bits", "4", "--q-group-size", "64"],
        ("mlx", "ours"): lambda out: [mlxport, "quantize", str(floatdir), "--out", str(out), *q],
        ("mlx", "mlx_lm"): lambda out: [sys.executable, "-m", "mlx_lm", "convert", "--hf-path", str(floatdir), "--mlx-path", str(out), "-q", "--q-bits", "4", "--q-group-size", "64"],
        # The same without the digest cache: every input hashed again.
        ("mlx", "ours_no_cache"): lambda out: [mlxport, "quantize", str(floatdir), "--out", str(out), *q, "--no-cache"],
    }
    times = {k: [] for k in cmds}
    for r in range(runs):
        for k, make in cmds.items():
            out = work / f"{name}-{k[0]}-{k[1]}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            times[k].append(cb.run(make(out)))
    res = {"model": name, "runs": runs}
    for task in ("hf", "mlx"):
        a, b = work / f"{name}-{task}-ours-0", work / f"{name}-{task}-mlx_lm-0"
        check = subprocess.run([sys.executable, "-c", cb.COMPARE, str(a), str(b)], capture_output=True, text=True)
        if check.returncode != 0:
            sys.exit(f"{name} {task}: outputs differ:\n{check.stderr}")
        tensors, _ = map(int, check.stdout.split())
        same = all((work / f"{name}-{task}-ours-{r}" / f).read_bytes() == (a / f).read_bytes() for r in range(1, runs) for f in os.listdir(a) if (a / f).is_file())
        med = lambda xs, i: statistics.median(x[i] for x in xs)
        ours, theirs = times[(task, "ours")], times[(task, "mlx_lm")]
        t = {
            "tensors": tensors,
            "ours": {"wall_s": round(med(ours, 0), 3), "peak_rss_mb": round(med(ours, 1) / 2**20, 1), "all": ours},
            "mlx_lm": {"wall_s": round(med(theirs, 0), 3), "peak_rss_mb": round(med(theirs, 1) / 2**20, 1), "all": theirs},
            "identical_tensors": True, "ours_byte_identical_across_runs": same,
        }
        t["speedup"] = round(t["mlx_lm"]["wall_s"] / t["ours"]["wall_s"], 2)
        t["memory_ratio"] = round(t["ours"]["peak_rss_mb"] / t["mlx_lm"]["peak_rss_mb"], 3)
        if (task, "ours_no_cache") in times:
            nc = times[(task, "ours_no_cache")]
            t["ours_no_cache"] = {"wall_s": round(med(nc, 0), 3), "peak_rss_mb": round(med(nc, 1) / 2**20, 1), "all": nc}
            t["speedup_no_cache"] = round(t["mlx_lm"]["wall_s"] / t["ours_no_cache"]["wall_s"], 2)
        idx = json.loads((a / "model.safetensors.index.json").read_text())["metadata"]
        t["parameters"] = idx["total_parameters"]
        res[task] = t
    for r in range(runs):
        for k in cmds:
            shutil.rmtree(work / f"{name}-{k[0]}-{k[1]}-{r}", ignore_errors=True)
    shutil.rmtree(floatdir, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-runs", type=int, default=1)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--mlxport", default=str(cb.ROOT / "target" / "release" / "mlxport"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "quantize"
    work.mkdir(exist_ok=True)
    import mlx.core as mx, mlx_lm
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    results = {
        "hardware": {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1), "system": platform.platform()},
        "versions": {"mlx": mx.__version__, "mlx_lm": mlx_lm.__version__},
        "note": "4-bit group 64 bf16; wall time and peak RSS of each process, medians; page cache warm; outputs compared bit for bit",
        "results": [bench("smollm2-135m", cb.smollm2(), args.runs, args.mlxport, work)],
    }
    if not args.skip_big:
        results["results"].append(bench("llama-1.24b", cb.big_llama(), args.big_runs, args.mlxport, work))
    print(f"{results['hardware']['cpu']}, {results['hardware']['cores']} cores; mlx {results['versions']['mlx']}, mlx-lm {results['versions']['mlx_lm']}")
    print(f"{'model':<14}{'task':<6}{'params':>8}{'ours s':>9}{'mlx-lm s':>10}{'speedup':>9}{'ours MB':>9}{'mlx-lm MB':>11}{'mem ratio':>10}  identical")
    for r in results["results"]:
        for task in ("hf", "mlx"):
            t = r[task]
            print(f"{r['model']:<14}{task:<6}{t['parameters'] / 1e9:>7.2f}B{t['ours']['wall_s']:>9.2f}{t['mlx_lm']['wall_s']:>10.2f}{t['speedup']:>8.2f}x"
                  f"{t['ours']['peak_rss_mb']:>9.0f}{t['mlx_lm']['peak_rss_mb']:>11.0f}{t['memory_ratio']:>10.2f}  {t['identical_tensors'] and t['ours_byte_identical_across_runs']}")
            if "ours_no_cache" in t:
                nc = t["ours_no_cache"]
                print(f"{'':<14}{'':<6}{'--no-cache':>8}{nc['wall_s']:>9.2f}{t['mlx_lm']['wall_s']:>10.2f}{t['speedup_no_cache']:>8.2f}x{nc['peak_rss_mb']:>9.0f}")
    (OUT / "quantize_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
