"""Benchmark: `mlxport inspect` on a large sharded checkpoint, cold (no
digest cache) and warm (digest cache filled), against a Python baseline that
walks the same files, hashes every one with hashlib and parses every
safetensors header.

    cargo build --release -p mlxport
    .venv/bin/python bench/inspect_bench.py [--shards 200] [--tensors 50000] [--gib 1.0] [--runs 5]

The checkpoint is generated once under bench/out/. A third command
times the floor of any cold run here: SHA-256 of every file on every core
and nothing else (`hash_floor_median_s`; `speedup_cold_ceiling` is the
baseline over it). The page cache is warm
for both tools (the benchmark reads every file first). Runs interleave
(ours cold, ours warm, baseline) and the medians are reported, of wall
time and of CPU time (user + system; steadier on a busy machine), with the
load average.
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

BASELINE = r'''
import hashlib, json, os, struct, sys
root = sys.argv[1]
files, params, tensors = [], 0, 0
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        p = os.path.join(dirpath, name)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
        files.append((os.path.relpath(p, root), os.path.getsize(p), h.hexdigest()))
        if name.endswith(".safetensors"):
            with open(p, "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                header = json.loads(f.read(n))
            for k, v in header.items():
                if k == "__metadata__":
                    continue
                tensors += 1
                c = 1
                for d in v["shape"]:
                    c *= d
                params += c
        elif name.endswith(".json"):
            with open(p, "rb") as f:
                json.load(f)
tree = hashlib.sha256("".join(f"{a}\t{b}\t{c}\n" for a, b, c in files).encode()).hexdigest()
print(json.dumps({"files": len(files), "tensors": tensors, "parameters": params, "fingerprint": tree}))
'''

# The floor of any cold inspection on this machine: SHA-256 of every byte
# and nothing else, one file per thread on every core (hashlib releases
# the GIL while it hashes; it uses the same SHA instructions as mlxport).
FLOOR = r'''
import hashlib, os, sys
from concurrent.futures import ThreadPoolExecutor
root = sys.argv[1]
paths = sorted((os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns), key=os.path.getsize, reverse=True)
def digest(p):
    h = hashlib.sha256()
    buf = bytearray(1 << 18)
    view = memoryview(buf)
    with open(p, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()
with ThreadPoolExecutor(os.cpu_count()) as ex:
    print(len(list(ex.map(digest, paths))))
'''


def make_checkpoint(d: Path, shards: int, tensors: int, gib: float):
    d.mkdir(parents=True, exist_ok=True)
    per_shard = tensors // shards
    elems = int(gib * (1 << 30) / 4 / tensors)
    rng = np.random.default_rng(0)
    weight_map, total = {}, 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        header, off = {}, 0
        names = [f"model.layers.{s}.block.{t}.weight" for t in range(per_shard)]
        for n in names:
            header[n] = {"dtype": "F32", "shape": [elems], "data_offsets": [off, off + elems * 4]}
            off += elems * 4
            weight_map[n] = fname
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(d / fname, "wb") as f:
            f.write(len(h).to_bytes(8, "little"))
            f.write(h)
            f.write(rng.standard_normal(elems * per_shard, dtype=np.float32).tobytes())
        total += off
    with open(d / "model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    with open(d / "config.json", "w") as f:
        json.dump({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": shards,
                   "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False}, f)


CPU = {}  # command kind -> CPU seconds (user + system) of each run


def cpu_of_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, env=None, kind=None):
    c = cpu_of_children()
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if kind:
        CPU.setdefault(kind, []).append(cpu_of_children() - c)
    if r.returncode != 0:
        sys.exit(f"{cmd[:2]} failed: {r.stderr[-2000:]}")
    return dt, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=200)
    ap.add_argument("--tensors", type=int, default=50000)
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    d = ROOT / "bench" / "out" / f"inspect-{a.shards}x{a.tensors}-{a.gib:g}gib"
    if not (d / "config.json").exists():
        print(f"generating {d} ...", file=sys.stderr)
        make_checkpoint(d, a.shards, a.tensors, a.gib)
    size = sum(p.stat().st_size for p in d.iterdir())
    for p in d.iterdir():  # warm the page cache
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass
    exe = str(ROOT / "target" / "release" / "mlxport")
    cache = tempfile.mkdtemp()
    env = dict(os.environ, MLXPORT_CACHE=cache)
    cold_cmd = [exe, "inspect", "--json", "--no-cache", str(d)]
    warm_cmd = [exe, "inspect", "--json", str(d)]
    base_cmd = [sys.executable, "-c", BASELINE, str(d)]
    floor_cmd = [sys.executable, "-c", FLOOR, str(d)]
    timed(warm_cmd, env)  # fill the digest cache
    cold, warm, base, floor = [], [], [], []
    for _ in range(a.runs):
        dt, out_cold = timed(cold_cmd, env, "cold"); cold.append(dt)
        dt, out_warm = timed(warm_cmd, env, "warm"); warm.append(dt)
        dt, out_base = timed(base_cmd, None, "python"); base.append(dt)
        dt, _ = timed(floor_cmd, None, "floor"); floor.append(dt)
    ours = json.loads(out_warm)
    ref = json.loads(out_base)
    assert ours["tensors"]["tensors"] == ref["tensors"], (ours["tensors"]["tensors"], ref["tensors"])
    assert ours["tensors"]["parameters"] == ref["parameters"]
    assert ours["model"]["files"] == ref["files"]
    assert json.loads(out_cold)["model"]["fingerprint"] == ours["model"]["fingerprint"]
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(json.dumps({
        "checkpoint": {"files": ref["files"], "tensors": ref["tensors"], "bytes": size},
        "runs": a.runs,
        "mlxport_cold_median_s": med(cold), "mlxport_warm_median_s": med(warm), "python_median_s": med(base),
        "speedup_cold": med(base) / med(cold), "speedup_warm": med(base) / med(warm),
        # Hashing alone on every core: no cold inspection can beat this, so
        # python / floor bounds the cold speedup on this machine.
        "hash_floor_median_s": med(floor), "speedup_cold_ceiling": med(base) / med(floor),
        "cold_over_floor": med(cold) / med(floor),
        # CPU time (user + system) is steadier than wall time on a busy machine.
        "mlxport_cold_cpu_median_s": med(CPU["cold"]), "mlxport_warm_cpu_median_s": med(CPU["warm"]),
        "python_cpu_median_s": med(CPU["python"]),
        "cpu_ratio_cold": med(CPU["python"]) / med(CPU["cold"]), "cpu_ratio_warm": med(CPU["python"]) / med(CPU["warm"]),
        "load_average": os.getloadavg(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(), "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
