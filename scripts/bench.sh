#!/usr/bin/env bash
# The benchmark suite: builds release binaries, starts the local stack and the services,
# seeds data, runs every benchmark several times and rewrites docs/BENCHMARKS.md with
# min / median / max of each figure, with the whole run's duration and the release build's
# share of it (the api and the worker, whose `worker bench` runs the benchmark tools: about
# 15 minutes from cold on two cores, a few when only the api or worker changed).
#
#   scripts/bench.sh              everything, 3 runs each
#   BENCH_RUNS=5 scripts/bench.sh
#
# Load comes from oha (crates.io, installed once per machine next to the stack's tools)
# at a fixed request rate with latency measured from each request's scheduled send time
# (--latency-correction: no coordinated omission).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OHA_VERSION="1.16.0"

scripts/stack.sh install
eval "$(scripts/stack.sh env)"
OHA="$TOOLS_DIR/oha-$OHA_VERSION/bin/oha"
if [[ ! -x "$OHA" ]]; then
  echo "[bench] building oha $OHA_VERSION (once per machine)" >&2
  cargo install oha --version "$OHA_VERSION" --locked --quiet --root "$TOOLS_DIR/oha-$OHA_VERSION"
fi

BENCH_STARTED="$(date +%s)"
export BENCH_STARTED
echo "[bench] release build" >&2
cargo build --release --locked -p api -p worker --bins
BENCH_BUILD_SECONDS="$(($(date +%s) - BENCH_STARTED))"
export BENCH_BUILD_SECONDS

STACK_DIR="$(mktemp -d -t interview-prep-bench.XXXXXX)"
cleanup() {
  scripts/stack.sh stop "$STACK_DIR" >/dev/null 2>&1 || true
  rm -rf "$STACK_DIR"
}
trap cleanup EXIT INT TERM
scripts/stack.sh start "$STACK_DIR"
set -a
# shellcheck disable=SC1091
source "$STACK_DIR/stack.env"
set +a

OHA="$OHA" python3 scripts/bench/run.py "$STACK_DIR" docs/BENCHMARKS.md
