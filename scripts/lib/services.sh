# Sourced by scripts that need a live api + worker on the stack described by the
# environment (stack.env). Defines start_services DIR [VAR=value ...]: starts the debug
# binaries on free ports with a private database and key prefix, waits until both are
# ready, exports API_URL, and stops both when the calling script exits.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fs "$1" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "$1 did not answer within $2 s" >&2
      return 1
    fi
    sleep 0.2
  done
}

SERVICE_PIDS=()
stop_services() {
  for pid in "${SERVICE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVICE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SERVICE_PIDS=()
}

start_services() { # dir [VAR=value ...]
  local dir="$1" root
  shift
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  : "${MONGODB_URI:?run inside the stack environment (source stack.env)}"
  local api_port worker_port
  api_port="$(free_port)"
  worker_port="$(free_port)"
  export HOST=127.0.0.1 PORT="$api_port" WORKER_HEALTH_HOST=127.0.0.1 WORKER_HEALTH_PORT="$worker_port"
  export JWT_SECRET="test-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export MONGODB_DATABASE="t_$(basename "$dir" | tr -c 'a-zA-Z0-9\n' '_')_$$" REDIS_KEY_PREFIX="t$$:"
  export LOG_FORMAT=json AI_API_KEY=
  local assignment
  for assignment in "$@"; do export "${assignment?}"; done
  trap stop_services EXIT
  "$root/target/debug/api" >"$dir/api.log" 2>&1 &
  SERVICE_PIDS+=($!)
  "$root/target/debug/worker" >"$dir/worker.log" 2>&1 &
  SERVICE_PIDS+=($!)
  if ! wait_ready "http://127.0.0.1:$api_port/health/ready" 60 ||
    ! wait_ready "http://127.0.0.1:$worker_port/health/ready" 60; then
    tail -20 "$dir/api.log" "$dir/worker.log" >&2
    return 1
  fi
  export API_URL="http://127.0.0.1:$api_port"
}
