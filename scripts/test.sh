#!/usr/bin/env bash
# Run the whole test suite: checks formatting and lints, creates or
# refreshes the pinned Python reference environment (tests compare against
# it), then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
rustfmt --check --edition 2021 fuzz/fuzz_targets/*.rs
cargo clippy --workspace --all-targets --locked -- -D warnings
bash scripts/python-env.sh .venv
export MLXPORT_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace --locked --no-fail-fast "$@"
