"""Benchmark: the quantization kernels (`mlxport_quant::quantize`) against
`mx.quantize` on MLX's CPU backend, on the same matrices, side by side in
one run.

    cargo build --release -p mlxport-quant --example quantize_kernels
    .venv/bin/python bench/quantize_kernels.py [--rows 4096] [--cols 4096] [--runs 7]

Generates a seeded standard-normal matrix per input dtype, then for each
configuration times mx.quantize (+ mx.eval) in this process and our kernel
in the example binary (which reads the file once and times only the
quantization), with all cores and with one thread (MLX's CPU kernel is
single-threaded), and checks that both produced the same bytes. Reports the
median wall time, throughput in input elements per second, MLX time / our
time, and the process CPU time of both (steadier than wall time when the
machine is shared).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import mlx.core as mx

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / "target/release/examples/quantize_kernels"
CONFIGS = [("F16", "affine", 4, 64), ("F16", "affine", 8, 64), ("F16", "affine", 3, 64), ("BF16", "affine", 4, 64),
           ("F32", "affine", 4, 64), ("F16", "mxfp4", 4, 32), ("F16", "mxfp8", 8, 32), ("F16", "nvfp4", 4, 16)]
MXDT = {"F16": mx.float16, "BF16": mx.bfloat16, "F32": mx.float32}


def raw(a):
    if a.dtype == mx.bfloat16:
        a = a.view(mx.uint16)
    return np.array(a).tobytes()


def ours(path, dt, rows, cols, mode, bits, gs, runs, prefix, threads):
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run([str(EXE), str(path), dt, str(rows), str(cols), mode, str(bits), str(gs), str(runs), str(prefix)],
                         env=env, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return float(np.median(r["seconds"])), float(np.median(r["cpu_seconds"])), r["threads"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not EXE.exists():
        sys.exit(f"missing {EXE}: run `cargo build --release -p mlxport-quant --example quantize_kernels` first")
    mx.set_default_device(mx.cpu)
    n = args.rows * args.cols
    rows = []
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        base = np.random.default_rng(0).standard_normal((args.rows, args.cols), dtype=np.float32) * np.float32(0.02)
        for dt, mode, bits, gs in CONFIGS:
            w = mx.array(base).astype(MXDT[dt])
            mx.eval(w)
            path = td / f"w.{dt}"
            if not path.exists():
                path.write_bytes(raw(w))
            times, cpu = [], []
            for _ in range(args.runs):
                t, c = time.perf_counter(), time.process_time()
                out = mx.quantize(w, group_size=gs, bits=bits, mode=mode)
                mx.eval(out)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            t_mlx, c_mlx = float(np.median(times)), float(np.median(cpu))
            prefix = td / "ours"
            t_all, c_all, threads = ours(path, dt, args.rows, args.cols, mode, bits, gs, args.runs, prefix, None)
            t_one, c_one, _ = ours(path, dt, args.rows, args.cols, mode, bits, gs, args.runs, prefix, 1)
            same = (prefix.with_suffix(".wq").read_bytes() == raw(out[0])
                    and prefix.with_suffix(".scales").read_bytes() == raw(out[1]))
            rows.append(dict(dtype=dt, mode=mode, bits=bits, group_size=gs, mlx_s=t_mlx, ours_s=t_all, ours_1thread_s=t_one,
                             threads=threads, speedup=t_mlx / t_all, speedup_1thread=t_mlx / t_one,
                             mlx_cpu_s=c_mlx, ours_cpu_s=c_all, ours_1thread_cpu_s=c_one, cpu_ratio_1thread=c_mlx / c_one,
                             identical=same))
    print(f"{args.rows}x{args.cols} matrix, median of {args.runs} runs, mx {mx.__version__} (CPU), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'config':24} {'mx.quantize':>12} {'ours':>10} {'ours 1 thr':>11} {'Melem/s ours':>13} {'ratio':>7} {'ratio 1 thr':>12} {'CPU mx/ours 1 thr':>18}  same bytes")
    for r in rows:
        cfg = f"{r['dtype']} {r['mode']} b{r['bits']} g{r['group_size']}"
        print(f"{cfg:24} {r['mlx_s']*1e3:10.1f}ms {r['ours_s']*1e3:8.1f}ms {r['ours_1thread_s']*1e3:9.1f}ms "
              f"{n / r['ours_s'] / 1e6:13.0f} {r['speedup']:6.2f}x {r['speedup_1thread']:11.2f}x "
              f"{r['mlx_cpu_s']*1e3:8.0f}/{r['ours_1thread_cpu_s']*1e3:.0f}ms  {r['identical']}")
    print(json.dumps(rows))
    if not all(r["identical"] for r in rows):
        sys.exit("outputs differ from mx.quantize")


main()
