#!/usr/bin/env bash
# Runs every check on a fresh machine or a warm one: installs what is missing, starts the
# local stack on free ports in a temporary directory, then formatting, lints and every test.
# Stops everything it started, even on failure; the exit code is the verdict.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STACK_DIR="$(mktemp -d -t interview-prep-test.XXXXXX)"
cleanup() {
  local code=$?
  scripts/stack.sh stop "$STACK_DIR" >/dev/null 2>&1 || true
  rm -rf "$STACK_DIR"
  exit "$code"
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "installing what is missing"
scripts/stack.sh install-test-tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "SDK: generated code matches docs/openapi.json"
scripts/sdk.sh check

step "dependency licences and bans (cargo deny, offline)"
eval "$(scripts/stack.sh env)"
cargo fetch --locked --quiet
"$CARGO_DENY" --offline --log-level error check licenses bans

step "unused dependencies (cargo machete)"
"$CARGO_MACHETE" common api worker tests

step "cargo clippy"
cargo clippy --all-targets --workspace --locked -- -D warnings

step "building (binaries and tests, with the features the tests use)"
cargo build --workspace --all-targets --locked

step "starting the local stack"
scripts/stack.sh start "$STACK_DIR"
set -a
# shellcheck disable=SC1091
source "$STACK_DIR/stack.env"
set +a

step "cargo test"
# --all-targets: unit and integration tests (the workspace has no doc tests).
set +e
cargo test --workspace --all-targets --locked "$@" 2>&1 | tee "$STACK_DIR/test.log"
status=${PIPESTATUS[0]}
set -e

step "TypeScript SDK: type-check, build, tests against a live api + worker"
set +e
scripts/sdk.sh test 2>&1 | tee "$STACK_DIR/sdk.log"
sdk_status=${PIPESTATUS[0]}
set -e

step "schema fuzzing of the live api (schemathesis)"
set +e
scripts/fuzz-api.sh 2>&1 | tee "$STACK_DIR/fuzz.log"
fuzz_status=${PIPESTATUS[0]}
set -e
((status == 0)) && status=$sdk_status
((status == 0)) && status=$fuzz_status

# One line for all suites: cargo's "test result:" lines and vitest's "Tests N passed".
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^ *Tests +[0-9]/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nsummary: %d passed, %d failed\n", p, f }' "$STACK_DIR"/*.log
exit "$status"
