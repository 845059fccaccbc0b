#!/usr/bin/env bash
# Run the whole test suite: creates or refreshes the pinned Python reference
# environment (tests compare against it), then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh .venv
export MLXPORT_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace --locked --no-fail-fast "$@"
