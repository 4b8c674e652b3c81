#!/usr/bin/env bash
# The TypeScript SDK (sdk/typescript): generated from docs/openapi.json, checked and tested.
#
#   scripts/sdk.sh install    npm ci (only when package-lock.json changed since the last one)
#   scripts/sdk.sh generate   regenerate src/schema.ts from docs/openapi.json
#   scripts/sdk.sh check      fail when regenerating would change the committed src/schema.ts,
#                             or when a second generator's client (@hey-api/openapi-ts)
#                             does not type-check
#   scripts/sdk.sh test       type-check, build, and run the tests; the journey test runs against
#                             a live api + worker started here on the stack described by the
#                             environment (MONGODB_URI, REDIS_URL, S3_*, SMTP_*: stack.env)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDK="$ROOT/sdk/typescript"
cd "$SDK"

install() {
  local stamp="node_modules/.lock-stamp"
  if [[ -f "$stamp" ]] && cmp -s package-lock.json "$stamp"; then return; fi
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
}

generate_to() {
  npx --no-install openapi-typescript "$ROOT/docs/openapi.json" --default-non-nullable false \
    --output "$1" >/dev/null 2>&1
}

# shellcheck source=scripts/lib/services.sh
source "$ROOT/scripts/lib/services.sh"

case "${1:-}" in
install)
  install
  ;;
generate)
  install
  generate_to src/schema.ts
  echo "sdk/typescript/src/schema.ts regenerated from docs/openapi.json"
  ;;
check)
  install
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  generate_to "$tmp/schema.ts"
  if ! diff -u src/schema.ts "$tmp/schema.ts" >"$tmp/diff"; then
    head -40 "$tmp/diff" >&2
    echo "sdk: sdk/typescript/src/schema.ts is stale. Regenerate it with: scripts/sdk.sh generate" >&2
    exit 1
  fi
  echo "sdk: generated code matches docs/openapi.json"
  # A second, independent generator must read the document too, and its client must
  # type-check: a contract that only one tool understands is not a contract.
  npx --no-install openapi-ts -i "$ROOT/docs/openapi.json" -o "$tmp/second/client" >"$tmp/second.log" 2>&1 || {
    cat "$tmp/second.log" >&2
    echo "sdk: @hey-api/openapi-ts could not generate a client from docs/openapi.json" >&2
    exit 1
  }
  cat >"$tmp/second/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022", "DOM", "DOM.Iterable"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": true,
    "noEmit": true
  },
  "include": ["client"]
}
JSON
  npx --no-install tsc -p "$tmp/second/tsconfig.json" || {
    echo "sdk: the client @hey-api/openapi-ts generated from docs/openapi.json does not type-check" >&2
    exit 1
  }
  echo "sdk: a second generator (@hey-api/openapi-ts) reads the document and its client type-checks"
  ;;
test)
  install
  work="$(mktemp -d -t sdk-test.XXXXXX)"
  start_services "$work"

  npm run --silent typecheck
  npm run --silent build
  status=0
  NO_COLOR=1 SDK_API_URL="$API_URL" npx --no-install vitest run || status=$?
  if ((status != 0)); then
    echo "--- api log (tail)" >&2
    tail -20 "$work/api.log" >&2
    echo "--- worker log (tail)" >&2
    tail -20 "$work/worker.log" >&2
  fi
  stop_services
  rm -rf "$work"
  exit "$status"
  ;;
*)
  sed -n '2,10p' "${BASH_SOURCE[0]}" >&2
  exit 2
  ;;
esac
