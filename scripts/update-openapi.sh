#!/usr/bin/env bash
# Rewrites docs/openapi.json from the code (the committed contract), then regenerates the
# TypeScript SDK's types from it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --quiet -p api --bin openapi > docs/openapi.json.tmp
mv docs/openapi.json.tmp docs/openapi.json
echo "docs/openapi.json updated"
scripts/sdk.sh generate
