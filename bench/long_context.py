"""Benchmark: rung 8's long input at a decoder's full context, prefilled in
chunks against prefilled in one pass, on the SmolLM2 example (real weights,
8192 positions).

    cargo build --release -p mlxport
    .venv/bin/python bench/long_context.py [--chunk 512] [--tokens 8192] [--one-pass] [--keep DIR]

The test suite keeps the long input at 1024 tokens (a 2-core machine runs
it in seconds); this script runs it near the configuration's maximum: the
port of `--example smollm2` with `long_tokens` raised, so the long input is
8192 - 2 - 4 = 8186 tokens, prefilled into the KV cache `--chunk` tokens per
call on both sides (transformers' DynamicCache, the package's KVCache), then
4 greedy tokens decoded with the cache. It reports

- the `edge long` rung: pass or fail, its worst normwise error and cosine,
  and whether the greedy tokens after the long prompt agree;
- the oracle's and the capture's wall time (from `port.json`);
- the peak resident memory of the oracle and capture processes
  (getrusage of the children of each step, read by running each port in a
  child process of its own).

With `--one-pass` it runs the same port a second time with the chunk set to
the whole input (one call), the baseline that chunking bounds: the peak
memory ratio chunked / one pass is printed. Everything else in the port
(the other rungs) is the same in both runs.
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ["The capital of France is", "Once upon a time, in a small village by the sea,"]


def binary():
    for p in (ROOT / "target/release/mlxport", ROOT / "target/debug/mlxport"):
        if p.is_file():
            return str(p)
    sys.exit("build mlxport first: cargo build --release -p mlxport")


def one(args):
    """Run one port (in this process's children) and print its figures."""
    work = Path(args.work)
    inputs = work / "inputs.json"
    inputs.write_text(json.dumps({"texts": PROMPTS, "generate": 8, "long_tokens": args.tokens, "long_chunk": args.chunk}))
    out = work / "port"
    env = dict(os.environ, MLXPORT_PYTHON=os.environ.get("MLXPORT_PYTHON", str(ROOT / ".venv/bin/python")))
    t = time.perf_counter()
    # A parity failure (exit 1) is a result to report; anything else is not.
    code = subprocess.run([binary(), "port", "--example", "smollm2", "--inputs", str(inputs), "--out", str(out)], env=env).returncode
    if code not in (0, 1) or not (out / "parity/parity.json").is_file():
        sys.exit(f"the port stopped before parity (exit {code}); see {out}")
    wall = time.perf_counter() - t
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record = json.loads((out / "port.json").read_text())
    parity = json.loads((out / "parity/parity.json").read_text())
    oracle = json.loads((out / "oracle/manifest.json").read_text())
    steps = {s["name"]: s["seconds"] for s in record["steps"]}
    rung = next(r for r in parity["ladder"]["rungs"] if r["name"] == "edge long")
    long = oracle["inputs"]["edges"]["long"]
    print(
        json.dumps(
            {
                "long_tokens": len(long["token_ids"][0]),
                "chunk": long["chunk"],
                "edge_long": {k: rung.get(k) for k in ("status", "max_abs", "max_rel", "cosine", "failures")},
                "parity": parity["status"],
                "oracle_s": steps.get("oracle"),
                "capture_s": steps.get("capture"),
                "port_wall_s": round(wall, 1),
                "peak_rss_mib": round(peak_mib),
            }
        )
    )


def run(tokens, chunk, keep):
    def go(d):
        cmd = [sys.executable, __file__, "--_one", "--work", d, "--tokens", str(tokens), "--chunk", str(chunk)]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout

    if keep:
        d = Path(keep) / f"chunk-{chunk}"
        d.mkdir(parents=True, exist_ok=True)
        out = go(str(d))
    else:
        with tempfile.TemporaryDirectory() as d:
            out = go(d)
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=8192, help="long_tokens: the cap on the long input (default: SmolLM2's 8192 positions)")
    ap.add_argument("--chunk", type=int, default=512, help="prefill chunk, in tokens")
    ap.add_argument("--one-pass", action="store_true", help="also run the long input prefilled in one call (the baseline)")
    ap.add_argument("--keep", metavar="DIR", help="keep the ports (and their parity reports) under DIR")
    ap.add_argument("--_one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._one:
        return one(args)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}", file=sys.stderr)
    chunked = run(args.tokens, args.chunk, args.keep)
    print(json.dumps({"chunked": chunked}, indent=1))
    if args.one_pass:
        whole = run(args.tokens, args.tokens, args.keep)
        print(json.dumps({"one_pass": whole}, indent=1))
        print(f"peak memory, chunked / one pass: {chunked['peak_rss_mib'] / whole['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
