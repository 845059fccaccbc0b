"""Benchmark: `mlxport compare` against numpy computing the same metrics
over the same page-cached pair of float32 tensor files, in safetensors and
in npz (np.savez, stored) form.

    .venv/bin/python bench/compare.py [--gib 2.0] [--runs 3] [--dir bench/out]

Builds nothing: run `cargo build --release -p mlxport` first. Generates the
files once (kept in --dir): A = B + small noise, one float32 tensor of
--gib GiB per file, with a few NaNs. Warms the page cache, then runs the two
tools interleaved (ours, numpy, ours, numpy, ...) and reports the median
wall time, throughput (bytes of both inputs per second) and the ratio, and
checks that both computed the same results.

The numpy side streams the safetensors files through np.memmap in 16 Mi
element chunks (float64 arithmetic, like ours) and loads the npz members
with np.load; it computes the same metrics: max abs error and its index,
mean abs, RMSE, max relative error with the same floor (a pre-pass for the
reference's RMS), cosine, max ULP distance, NaN/Inf counts and allclose
violations.
"""
import argparse, json, os, platform, struct, subprocess, sys, time, zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 24


def gen_chunks(n, seed, noise):
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(1234)
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        x = base.standard_normal(m, dtype=np.float32)
        if noise:
            x += rng.standard_normal(m, dtype=np.float32) * np.float32(1e-6)
            if s == 0:
                x[[10, 1000]] = np.nan
        yield x


def write_safetensors(path, n, seed, noise):
    h = json.dumps({"x": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in gen_chunks(n, seed, noise):
            f.write(c.tobytes())


def write_npz(path, n, seed, noise):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("x.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
            for c in gen_chunks(n, seed, noise):
                f.write(c.tobytes())


NUMPY_COMPARE = r'''
import json, struct, sys, zipfile, math, numpy as np
fmt, pa, pb = sys.argv[1:4]
CH = 1 << 24
def load(p):
    if fmt == "safetensors":
        with open(p, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            e = json.loads(f.read(n))["x"]
        b, end = e["data_offsets"]
        return np.memmap(p, dtype="<f4", mode="r", offset=8 + n + b, shape=((end - b) // 4,))
    return np.load(p)["x"]
A, B = load(pa), load(pb)
N = A.size
# Pre-pass: the reference's RMS gives the scale (floor and default atol).
ss, nf = 0.0, 0
for s in range(0, N, CH):
    b = B[s:s + CH].astype(np.float64)
    f = np.isfinite(b)
    ss += float(np.dot(b[f], b[f])); nf += int(f.sum())
rms = math.sqrt(ss / nf)
m_, e_ = math.frexp(rms)
scale = math.ldexp(1.0, e_ - 1 + (m_ * 2 >= math.sqrt(2)))
rtol = (2.0 ** -23) ** (2.0 / 3.0); atol = rtol * scale
mx, mxi, mr, mri, sabs, ssq, dot, saa, sbb, viol, ulp, fin = -1.0, 0, -1.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0
nan_a = nan_b = inf_a = inf_b = 0
for s in range(0, N, CH):
    a32, b32 = np.asarray(A[s:s + CH]), np.asarray(B[s:s + CH])
    a, b = a32.astype(np.float64), b32.astype(np.float64)
    fa, fb = np.isfinite(a), np.isfinite(b)
    nan_a += int(np.isnan(a).sum()); nan_b += int(np.isnan(b).sum())
    inf_a += int(np.isinf(a).sum()); inf_b += int(np.isinf(b).sum())
    F = fa & fb
    allf = bool(F.all())
    x, y = (a, b) if allf else (a[F], b[F])
    pos = None if allf else np.flatnonzero(F)
    at = (lambda k: s + k) if allf else (lambda k: s + int(pos[k]))
    fin += x.size
    d = x - y; ad = np.abs(d); ay = np.abs(y)
    i = int(np.argmax(ad))
    if ad[i] > mx: mx, mxi = float(ad[i]), at(i)
    rel = ad / np.maximum(ay, scale)
    j = int(np.argmax(rel))
    if rel[j] > mr: mr, mri = float(rel[j]), at(j)
    sabs += float(ad.sum()); ssq += float(np.dot(d, d)); dot += float(np.dot(x, y)); saa += float(np.dot(x, x)); sbb += float(np.dot(y, y))
    viol += int(np.count_nonzero(ad > atol + rtol * ay))
    if not allf:
        nf = ~F
        viol += int(nf.sum() - ((a == b) & nf).sum())
    ia, ib = (a32.view(np.int32), b32.view(np.int32)) if allf else (a32.view(np.int32)[F], b32.view(np.int32)[F])
    oa = np.where(ia < 0, -(ia & 0x7fffffff), ia).astype(np.int64); ob = np.where(ib < 0, -(ib & 0x7fffffff), ib).astype(np.int64)
    ulp = max(ulp, int(np.abs(oa - ob).max()))
print(json.dumps(dict(max_abs=mx, max_abs_at=mxi, mean_abs=sabs / fin, rmse=math.sqrt(ssq / fin), max_rel=mr, max_rel_at=mri,
                      cosine=dot / (math.sqrt(saa) * math.sqrt(sbb)), violations=viol, max_ulp=ulp, nan_a=nan_a, nan_b=nan_b)))
'''


def timed(cmd, ok_codes=(0,)):
    """Wall time, CPU time (user + system) and stdout of one run."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode not in ok_codes:
        sys.exit(f"{cmd[:3]} failed ({r.returncode}): {r.stderr}")
    return dt, cpu, r.stdout


def warm(*paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--formats", default="safetensors,npz")
    a = ap.parse_args()
    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    n = int(a.gib * (1 << 30)) // 4
    exe = ROOT / "target" / "release" / "mlxport"
    results = {}
    for fmt in a.formats.split(","):
        writer = write_safetensors if fmt == "safetensors" else write_npz
        pa, pb = out / f"cmp-{a.gib:g}gib-a.{fmt}", out / f"cmp-{a.gib:g}gib-b.{fmt}"
        for p, seed, noise in ((pa, 1, True), (pb, 2, False)):
            if not p.exists():
                print(f"generating {p} ...", file=sys.stderr)
                writer(p, n, seed, noise)
        warm(pa, pb)
        size = pa.stat().st_size + pb.stat().st_size
        ours = [str(exe), "compare", "--json", str(pa), str(pb)]
        theirs = [sys.executable, "-c", NUMPY_COMPARE, fmt, str(pa), str(pb)]
        t_ours, t_np, c_ours, c_np = [], [], [], []
        for _ in range(a.runs):
            dt, cpu, o = timed(ours, ok_codes=(0, 1)); t_ours.append(dt); c_ours.append(cpu)
            dt, cpu, nres = timed(theirs); t_np.append(dt); c_np.append(cpu)
        mine = json.loads(o)["pairs"][0]["float"]
        ref = json.loads(nres)
        agree = {
            "max_abs": mine["max_abs"] == ref["max_abs"] and mine["max_abs_at"]["flat"] == ref["max_abs_at"],
            "max_rel": mine["max_rel"] == ref["max_rel"] and mine["max_rel_at"]["flat"] == ref["max_rel_at"],
            "violations": mine["allclose"]["violations"] == ref["violations"],
            "max_ulp": mine["max_ulp"] == ref["max_ulp"],
            "nan": (mine["nonfinite_a"]["nan"], mine["nonfinite_b"]["nan"]) == (ref["nan_a"], ref["nan_b"]),
            "mean_abs_rel_diff": abs(mine["mean_abs"] - ref["mean_abs"]) / ref["mean_abs"],
            "rmse_rel_diff": abs(mine["rmse"] - ref["rmse"]) / ref["rmse"],
            "cosine_abs_diff": abs(mine["cosine"] - ref["cosine"]),
        }
        med = lambda xs: sorted(xs)[len(xs) // 2]
        gb = size / 1e9
        results[fmt] = {
            "input_bytes": size, "runs": a.runs,
            "mlxport_median_s": round(med(t_ours), 3), "numpy_median_s": round(med(t_np), 3),
            "mlxport_gb_per_s": round(gb / med(t_ours), 2), "numpy_gb_per_s": round(gb / med(t_np), 3),
            "speedup_vs_numpy": round(med(t_np) / med(t_ours), 1),
            # CPU time (user + system) per run, and the throughput it implies
            # with both cores to ourselves: a check on wall times taken on a
            # machine shared with other work.
            "mlxport_cpu_s": round(med(c_ours), 3), "numpy_cpu_s": round(med(c_np), 3),
            "mlxport_gb_per_cpu_s": round(gb / med(c_ours), 2), "numpy_gb_per_cpu_s": round(gb / med(c_np), 3),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "agreement": agree,
        }
    results["machine"] = {
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(), "numpy": np.__version__, "python": platform.python_version(),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
