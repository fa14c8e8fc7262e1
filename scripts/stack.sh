#!/usr/bin/env bash
# The whole stack on one machine: a Prefect server, the `records` process work pool, the
# deployments of prefect.yaml, and N process workers, all for one installation.
#
#   scripts/stack.sh start [--workers N] [--limit L]   start it (defaults: 2 workers, 2 runs each)
#   scripts/stack.sh status                            what runs, the server's health, the intake queue
#   scripts/stack.sh stop                              stop the workers, then the server
#
# The installation comes from the environment, as for every `records` command:
#   RECORDS_HOME          (default ./records-data; `records init` it first)
#   RECORDS_DATABASE_URL  PostgreSQL for several workers: postgresql+psycopg://user@host/db
#   RECORDS_KEYSTORE, RECORDS_STORE_URL   (optional, as in the README)
# and the stack's own:
#   RECORDS_PREFECT_PORT  the server's port (default 4200)
#   RECORDS_EXTRACT_WORKERS, RECORDS_LANES, RECORDS_TASK_RUNNER   passed on to the workers
#
# Prefect keeps its state under $RECORDS_HOME/prefect (PREFECT_HOME); logs and pid files
# under $RECORDS_HOME/prefect/stack/. Telemetry is off (DO_NOT_TRACK, no analytics).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RECORDS_VENV:-$ROOT/.venv}/bin

export RECORDS_HOME=$(cd "${RECORDS_HOME:-records-data}" 2>/dev/null && pwd || echo "${RECORDS_HOME:-records-data}")
export PREFECT_HOME=${PREFECT_HOME:-$RECORDS_HOME/prefect}
PORT=${RECORDS_PREFECT_PORT:-4200}
export PREFECT_API_URL=http://127.0.0.1:$PORT/api
export DO_NOT_TRACK=1
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_WORKER_QUERY_SECONDS=${PREFECT_WORKER_QUERY_SECONDS:-2}
export OMP_THREAD_LIMIT=1
export RECORDS_PROJECT_DIR=$ROOT
POOL=records
RUN=$PREFECT_HOME/stack

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for_server() {
  local deadline=$((SECONDS + ${RECORDS_STACK_TIMEOUT:-180}))
  until "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$PREFECT_API_URL" 2>/dev/null; do
    if ! alive "$RUN/server.pid"; then
      echo "stack: the Prefect server stopped; see $RUN/server.log" >&2; tail -20 "$RUN/server.log" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "stack: the Prefect server did not answer at $PREFECT_API_URL; see $RUN/server.log" >&2; exit 1
    fi
    sleep 1
  done
}

# A port another process holds would be answered by *its* server: the deployments and the
# flow runs would go there and no worker of ours would ever see them (bench/scale.py once
# waited 600 s for lanes that way). Refuse it before starting ours.
port_is_free() {
  "$BIN/python" -c "import socket, sys
s = socket.socket()
try:
    s.bind(('127.0.0.1', int(sys.argv[1])))
except OSError:
    sys.exit(1)" "$PORT"
}

start() {
  local workers=2 limit=2
  while [ $# -gt 0 ]; do
    case "$1" in
      --workers) workers=$2; shift 2 ;;
      --limit) limit=$2; shift 2 ;;
      *) echo "stack: unknown option $1" >&2; exit 2 ;;
    esac
  done
  if [ -z "${RECORDS_DATABASE_URL:-}" ] || [[ "$RECORDS_DATABASE_URL" == sqlite* ]]; then
    echo "stack: RECORDS_DATABASE_URL is not PostgreSQL; SQLite serves one writer at a time (workers will queue behind it)" >&2
  fi
  mkdir -p "$RUN"
  chmod 700 "$PREFECT_HOME"
  if alive "$RUN/server.pid"; then
    echo "stack: the Prefect server runs already (pid $(cat "$RUN/server.pid"))"
  else
    if ! port_is_free; then
      echo "stack: port $PORT is taken by another process (another Prefect server?): choose another with RECORDS_PREFECT_PORT" >&2; exit 1
    fi
    setsid "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$RUN/server.log" 2>&1 &
    echo $! >"$RUN/server.pid"
  fi
  wait_for_server
  if ! alive "$RUN/server.pid"; then
    echo "stack: the Prefect server stopped (another process answers at $PREFECT_API_URL?); see $RUN/server.log" >&2; tail -20 "$RUN/server.log" >&2; exit 1
  fi
  cd "$ROOT"
  if ! "$BIN/prefect" work-pool inspect "$POOL" >/dev/null 2>&1; then
    "$BIN/prefect" work-pool create "$POOL" --type process >"$RUN/deploy.log" 2>&1 || { echo "stack: creating the work pool $POOL failed; see $RUN/deploy.log" >&2; tail -20 "$RUN/deploy.log" >&2; exit 1; }
  fi
  "$BIN/prefect" --no-prompt deploy --all >>"$RUN/deploy.log" 2>&1 || { echo "stack: deploying failed; see $RUN/deploy.log" >&2; tail -20 "$RUN/deploy.log" >&2; exit 1; }
  for n in $(seq 1 "$workers"); do
    if alive "$RUN/worker-$n.pid"; then continue; fi
    setsid "$BIN/prefect" worker start --pool "$POOL" --type process --name "records-worker-$n" --limit "$limit" >"$RUN/worker-$n.log" 2>&1 &
    echo $! >"$RUN/worker-$n.pid"
  done
  echo "stack: server $PREFECT_API_URL, pool $POOL, $workers worker(s); logs in $RUN"
  echo "export PREFECT_API_URL=$PREFECT_API_URL"
}

# Each process was started in a session of its own (setsid) and goes with its group. A
# process worker starts each flow run in a session of its own too: those groups (the flow
# run, its lanes, its extraction processes) are stopped with their worker.
stop_group() {
  local files=("$@") pids=() deadline child
  for file in "${files[@]}"; do
    if alive "$file"; then
      pids+=("$(cat "$file")")
      for child in $(ps -o pid= --ppid "$(cat "$file")"); do
        pids+=("$child"); kill -INT -- "-$child" 2>/dev/null || true
      done
      kill -INT -- "-$(cat "$file")" 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + 20))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done  # the group is gone
  done
  rm -f "${files[@]}"
}

stop() {
  # Workers first (prefect-notes.md): a worker without its server logs errors in a loop.
  local workers=("$RUN"/worker-*.pid)
  [ -e "${workers[0]}" ] && stop_group "${workers[@]}"
  [ -e "$RUN/server.pid" ] && stop_group "$RUN/server.pid"
  echo "stack: stopped"
}

status() {
  local code=0
  if alive "$RUN/server.pid"; then echo "server: running (pid $(cat "$RUN/server.pid")) at $PREFECT_API_URL"; else echo "server: stopped"; code=3; fi
  for file in "$RUN"/worker-*.pid; do
    [ -e "$file" ] || continue
    local name
    name=$(basename "$file" .pid)
    if alive "$file"; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: stopped"; code=3; fi
  done
  "$BIN/python" - <<'EOF' || true
from records.storage.installation import open_installation
from records.storage import intake_queue

installation = open_installation(None)
with installation.catalog.reading() as session:
    print("intake queue:", ", ".join(f"{state} {n}" for state, n in intake_queue.counts(session).items()))
    print("lanes polling:", intake_queue.lanes_polling(session))
EOF
  return $code
}

command=${1:-status}
[ $# -gt 0 ] && shift
case "$command" in
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: scripts/stack.sh start [--workers N] [--limit L] | status | stop" >&2; exit 2 ;;
esac
