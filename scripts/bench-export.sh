#!/usr/bin/env bash
# Benchmarks export rendering in release mode: time per run and peak memory (max RSS of the
# whole process, fonts included). Usage: scripts/bench-export.sh [format] [rows] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
format="${1:-xlsx}" rows="${2:-10000}" runs="${3:-5}"
cargo build --release --locked -p worker --bin worker >&2
log="$(mktemp)"
/usr/bin/time -v target/release/worker bench export "$format" "$rows" "$runs" 2>"$log"
grep -E "Maximum resident set size" "$log" | sed 's/^\s*/peak /'
rm -f "$log"
