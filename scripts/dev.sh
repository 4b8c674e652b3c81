#!/usr/bin/env bash
# Runs the whole product locally: installs what is missing, starts MongoDB, Redis, S3 and
# SMTP with persistent data under .data/, builds and runs the api and the worker, and prints
# the URLs. Ctrl-C stops everything it started. No secrets needed.
#
# Ports: API_PORT (8080), WORKER_HEALTH_PORT (8081); the services pick free ports unless
# MONGO_PORT, REDIS_PORT, S3_PORT, SMTP_PORT or SMTP_HTTP_PORT are set.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="$ROOT/.data"
mkdir -p "$DATA"

scripts/stack.sh install
cargo build --workspace --bins

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/stack.sh stop "$DATA/stack"
}
trap cleanup EXIT INT TERM

scripts/stack.sh stop "$DATA/stack" # leftovers of an earlier run that was killed
scripts/stack.sh start "$DATA/stack" --persist

# A development JWT secret, generated once and kept with the data.
if [[ ! -s "$DATA/jwt_secret" ]]; then
  head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$DATA/jwt_secret"
  chmod 600 "$DATA/jwt_secret"
fi

set -a
# shellcheck disable=SC1091
source "$DATA/stack/stack.env"
JWT_SECRET="$(cat "$DATA/jwt_secret")"
LOG_FORMAT="${LOG_FORMAT:-pretty}"
HOST=127.0.0.1
PORT="${API_PORT:-8080}"
WORKER_HEALTH_HOST=127.0.0.1
WORKER_HEALTH_PORT="${WORKER_HEALTH_PORT:-8081}"
MONGODB_DATABASE="${MONGODB_DATABASE:-interview_prep_dev}"
set +a

target/debug/api &
PIDS+=($!)
target/debug/worker &
PIDS+=($!)

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done

cat <<EOF2

  API       http://127.0.0.1:$PORT/api/v1
  Docs      http://127.0.0.1:$PORT/docs
  OpenAPI   http://127.0.0.1:$PORT/openapi.json
  Metrics   http://127.0.0.1:$PORT/metrics  (worker: http://127.0.0.1:$WORKER_HEALTH_PORT/metrics)
  Ready     http://127.0.0.1:$PORT/health/ready
  Mail UI   $MAILTUTAN_URL  (password-reset emails land here)

  Data is kept in .data/. Ctrl-C stops everything.

EOF2
wait -n "${PIDS[@]}"
