"""Benchmark: `mlxport tensors --stats` against numpy computing the same
statistics over the same page-cached safetensors file.

    .venv/bin/python bench/tensors_stats.py [--gib 2.0] [--runs 5] [--dir bench/out]

Builds nothing: run `cargo build --release -p mlxport` first. Generates a
float32 safetensors file of the given size once (kept in --dir), warms the
page cache, then runs the two tools interleaved (A B A B ...) and reports
the median wall time, throughput and ratio, plus a check that both computed
the same statistics.
"""
import argparse, json, os, platform, struct, subprocess, sys, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_file(path: Path, gib: float):
    n_total = int(gib * (1 << 30)) // 4
    shapes = []
    per = 1 << 27  # 128M floats = 512 MiB per tensor
    while n_total > 0:
        k = min(per, n_total)
        shapes.append(k)
        n_total -= k
    header, off = {}, 0
    for i, k in enumerate(shapes):
        header[f"layer.{i}.weight"] = {"dtype": "F32", "shape": [k // 1024, 1024], "data_offsets": [off, off + (k // 1024) * 4096]}
        off += (k // 1024) * 4096
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, e in header.items():
            n = e["shape"][0] * e["shape"][1]
            for s in range(0, n, 1 << 24):
                m = min(1 << 24, n - s)
                f.write((rng.standard_normal(m, dtype=np.float32) * 0.02).tobytes())


NUMPY_STATS = r'''
import json, struct, sys, numpy as np
path = sys.argv[1]
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
base = 8 + n
out = {}
for name, e in header.items():
    if name == "__metadata__":
        continue
    b, end = e["data_offsets"]
    a = np.memmap(path, dtype="<f4", mode="r", offset=base + b, shape=((end - b) // 4,))
    finite = np.isfinite(a)
    allf = bool(finite.all())
    v = a if allf else a[finite]
    out[name] = dict(min=float(v.min()), max=float(v.max()), mean=float(v.mean(dtype=np.float64)),
                     std=float(v.std(dtype=np.float64)), nan=int(np.isnan(a).sum()), inf=int(np.isinf(a).sum()))
print(json.dumps(out))
'''


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {r.stderr}")
    return dt, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default=str(ROOT / "bench" / "out"))
    a = ap.parse_args()
    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"stats-{a.gib:g}gib.safetensors"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        make_file(path, a.gib)
    size = path.stat().st_size
    with open(path, "rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    exe = ROOT / "target" / "release" / "mlxport"
    ours = [str(exe), "tensors", "--stats", "--json", str(path)]
    theirs = [sys.executable, "-c", NUMPY_STATS, str(path)]
    t_ours, t_np = [], []
    for _ in range(a.runs):
        dt, o = timed(ours); t_ours.append(dt)
        dt, n = timed(theirs); t_np.append(dt)
    # Same answers?
    mine = {t["name"]: t["stats"] for t in json.loads(o)["tensors"]}
    ref = json.loads(n)
    worst = 0.0
    for k, r in ref.items():
        m = mine[k]
        assert (m["nan"], m["inf"]) == (r["nan"], r["inf"]), k
        assert m["min"] == r["min"] and m["max"] == r["max"], k
        for f in ("mean", "std"):
            worst = max(worst, abs(m[f] - r[f]) / max(abs(r[f]), 1e-30))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    gb = size / 1e9
    res = {
        "file_bytes": size,
        "runs": a.runs,
        "mlxport_median_s": med(t_ours), "numpy_median_s": med(t_np),
        "mlxport_gb_per_s": gb / med(t_ours), "numpy_gb_per_s": gb / med(t_np),
        "speedup_vs_numpy": med(t_np) / med(t_ours),
        "max_rel_diff_mean_std": worst,
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(), "numpy": np.__version__, "python": platform.python_version(),
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
