#!/usr/bin/env bash
# `make demo`: the embedded default with realistic seeded data, at http://127.0.0.1:${DEMO_PORT:-8000}.
# Starts the embedded PostgreSQL (data/postgres) unless DATABASE_URL names a server, migrates,
# seeds, then serves until stopped: Ctrl-C here, or `make stop-demo` (`scripts/demo.sh stop`)
# from another terminal. On the way out it stops what it started, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUN=data/demo # the running demo's pid file
PORT="${DEMO_PORT:-8000}"
mkdir -p "$RUN"

running() { [ -f "$RUN/demo.pid" ] && kill -0 "$(cat "$RUN/demo.pid")" 2>/dev/null; }
embedded() { [ -z "${DATABASE_URL:-}" ]; }

if [ "${1:-}" = "stop" ]; then
  if running; then
    pid=$(cat "$RUN/demo.pid")
    echo "Stopping the demo (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # A demo killed without its clean-up may have left its database running.
  if embedded; then $PY manage.py embedded_postgres stop; fi
  exit 0
fi

if running; then
  echo "The demo already runs (pid $(cat "$RUN/demo.pid")): \`make stop-demo\` stops it." >&2
  exit 1
fi
echo $$ >"$RUN/demo.pid"
children=()
started_database=no
clean_up() {
  trap - EXIT INT TERM
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_database" = yes ]; then $PY manage.py embedded_postgres stop || true; fi
  rm -f "$RUN/demo.pid"
}
trap clean_up EXIT
trap 'exit 130' INT TERM

if embedded; then
  if ! $PY manage.py embedded_postgres status >/dev/null; then started_database=yes; fi
  $PY manage.py embedded_postgres start
fi
$PY manage.py migrate --noinput
$PY manage.py seed_demo
echo "Serving on http://127.0.0.1:$PORT (embedded default: PostgreSQL in data/postgres," \
  "tasks in-process). Stop with Ctrl-C or \`make stop-demo\`."
$PY manage.py runserver --noreload "127.0.0.1:$PORT" &
children+=($!)
wait "${children[-1]}"
