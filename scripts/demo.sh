#!/usr/bin/env bash
# `make demo`: the embedded default with realistic seeded data, at http://127.0.0.1:${DEMO_PORT:-8000}.
# Starts the embedded PostgreSQL ($DATA_DIR/postgres, DATA_DIR defaults to data) unless
# DATABASE_URL names a server, migrates, seeds, starts a Celery worker (with beat, for the
# periodic sweep) on the folder broker ($DATA_DIR/broker) unless REDIS_URL names a broker, then
# serves until stopped: Ctrl-C here, or `make stop-demo` (`scripts/demo.sh stop`) from another
# terminal. On the way out it stops what it started, and nothing else.
#   scripts/demo.sh worker   runs just the demo's worker, in the foreground (the tests use it)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA="${DATA_DIR:-data}"
RUN="$DATA/demo" # the running demo's pid file, the worker's log and beat's schedule
PORT="${DEMO_PORT:-8000}"
mkdir -p "$RUN"

running() { [ -f "$RUN/demo.pid" ] && kill -0 "$(cat "$RUN/demo.pid")" 2>/dev/null; }
embedded_database() { [ -z "${DATABASE_URL:-}" ]; }
worker() {
  # Every queue the app declares (config/celery.py QUEUES), two processes, and beat inside it.
  exec $PY -m celery -A config worker -B --schedule "$RUN/celerybeat-schedule" \
    --concurrency 2 --without-gossip --without-mingle --loglevel WARNING "$@"
}

case "${1:-}" in
  worker)
    shift
    worker "$@"
    ;;
  stop)
    if running; then
      pid=$(cat "$RUN/demo.pid")
      echo "Stopping the demo (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    # A demo killed without its clean-up may have left its database running.
    if embedded_database; then $PY manage.py embedded_postgres stop; fi
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: scripts/demo.sh [stop|worker]" >&2
    exit 2
    ;;
esac

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

if embedded_database; then
  if ! $PY manage.py embedded_postgres status >/dev/null; then started_database=yes; fi
  $PY manage.py embedded_postgres start
fi
$PY manage.py migrate --noinput
$PY manage.py seed_demo
if [ -z "${REDIS_URL:-}" ]; then
  worker --logfile "$RUN/worker.log" &
  children+=($!)
  tasks="tasks on a worker (log: $RUN/worker.log)"
else
  tasks="tasks on the workers of $REDIS_URL (start them yourself)"
fi
echo "Serving on http://127.0.0.1:$PORT: PostgreSQL ${DATABASE_URL:-in $DATA/postgres}, $tasks."
echo "Stop with Ctrl-C, or \`make stop-demo\` from another terminal."
$PY manage.py runserver --noreload "127.0.0.1:$PORT" &
children+=($!)
wait "${children[-1]}"
