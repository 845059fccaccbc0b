#!/usr/bin/env bash
# Run every fuzz target for a while (default 60 s each) from the seed corpus.
#   bash fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
../.venv/bin/python make_seeds.py
for t in safetensors npy npz gguf pytorch; do
    echo "== $t"
    cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=1024 -max_len=65536 2>&1 | tail -3
done
