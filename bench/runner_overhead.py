"""Benchmark: the runner's own overhead, `mlxport bench` against hyperfine,
on a trivial command (`true`, no shell) in one run.

    cargo build --release -p mlxport
    apt-get install -y hyperfine        # Debian package
    python3 bench/runner_overhead.py [--runs 300] [--warmup 30] [--rounds 20]

A run of `true` does nothing, so the time each tool reports for it is the
tool's own cost of starting a process, waiting for it and reading its
resource usage. Both tools measure the same command with the same run and
warmup counts, no shell, output discarded (`hyperfine -N`, `mlxport bench
--output null`); `mlxport bench` with its default output capture (pipes read
by a watcher thread) is reported too. Each round runs every tool once,
in a rotating order, so load on a shared machine falls on all of them; many
short rounds interleave better than a few long ones. Per tool:

- reported: the mean time per run of `true` the tool itself reports;
- elapsed: the tool's whole wall time divided by the number of runs
  (spawning, waiting, statistics, environment capture, writing the result).

The ratio is mlxport / hyperfine, computed within each round and summarized
by its median over rounds (and, as the least disturbed figure, the ratio of
the fastest rounds); the target is at most 1.10.
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t, out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--mlxport", default=str(ROOT / "target/release/mlxport"))
    args = ap.parse_args()
    hf = shutil.which("hyperfine")
    if not hf:
        sys.exit("hyperfine is not installed (Debian: apt-get install -y hyperfine)")
    if not Path(args.mlxport).exists():
        sys.exit(f"{args.mlxport} missing: cargo build --release -p mlxport")
    true = shutil.which("true")
    n, w = str(args.runs), str(args.warmup)
    tmp = Path(tempfile.mkdtemp())

    def hyperfine():
        out = tmp / "hf.json"
        elapsed, _ = timed([hf, "-N", "--style", "none", "--runs", n, "--warmup", w, "--export-json", str(out), true])
        return json.loads(out.read_text())["results"][0]["mean"], elapsed

    def ours(output):
        elapsed, stdout = timed([args.mlxport, "bench", "--output", output, "--runs", n, "--warmup", w, "--json", "--", true])
        return json.loads(stdout)["benchmarks"][0]["stats"]["mean"], elapsed

    tools = {"hyperfine -N": hyperfine, "mlxport bench --output null": lambda: ours("null"), "mlxport bench (capture)": lambda: ours("capture")}
    results = {k: {"reported": [], "elapsed": []} for k in tools}
    names = list(tools)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            rep, el = tools[k]()
            results[k]["reported"].append(rep)
            results[k]["elapsed"].append(el / args.runs)

    hv = subprocess.run([hf, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{hv}; mlxport {args.mlxport}; command: {true} (no shell); {args.runs} runs + {args.warmup} warmup per tool and round, {args.rounds} rounds")
    print()
    hf_key = "hyperfine -N"
    print(f"{'tool':30} {'reported/run':>13} {'ratio':>6} {'best':>6} {'elapsed/run':>13} {'ratio':>6}")
    summary = {}
    for k in names:
        res, base = results[k], results[hf_key]
        rep = statistics.median(res["reported"])
        el = statistics.median(res["elapsed"])
        rep_ratio = statistics.median(a / b for a, b in zip(res["reported"], base["reported"]))
        best_ratio = min(res["reported"]) / min(base["reported"])
        el_ratio = statistics.median(a / b for a, b in zip(res["elapsed"], base["elapsed"]))
        summary[k] = {"reported_s": rep, "elapsed_s": el, "reported_ratio": rep_ratio, "best_round_ratio": best_ratio, "elapsed_ratio": el_ratio}
        print(f"{k:30} {rep*1e6:10.1f} µs {rep_ratio:6.3f} {best_ratio:6.3f} {el*1e6:10.1f} µs {el_ratio:6.3f}")
    main_ratio = summary["mlxport bench --output null"]["reported_ratio"]
    print()
    print(f"runner overhead, mlxport / hyperfine (median of per-round ratios): {main_ratio:.3f} ({'within' if main_ratio <= 1.10 else 'OVER'} the 10% target)")
    (ROOT / "bench/out").mkdir(exist_ok=True)
    (ROOT / "bench/out/runner_overhead.json").write_text(json.dumps({"runs": args.runs, "warmup": args.warmup, "rounds": args.rounds, "raw": results, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
