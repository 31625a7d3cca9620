#!/usr/bin/env bash
# `make test`: every check, against real PostgreSQL and Redis (started here if none answers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mastery}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/9}"
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key-not-for-production-0123456789abcdef}"
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-false}"

step() { echo; echo "== $*"; }

step "ruff"
$PY/ruff check .
$PY/ruff format --check .
step "mypy"
$PY/mypy
step "djlint"
$PY/djlint templates --lint
step "bandit (high severity fails)"
$PY/bandit -q -c pyproject.toml -r config common learners standards evidence mastery reports audit privacy notifications badges portal -lll
step "django check (embedded and PostgreSQL configurations)"
env -u DATABASE_URL -u REDIS_URL -u SECRET_KEY -u SECURE_SSL_REDIRECT $PY/python manage.py check
$PY/python manage.py check
[ "${1:-}" = "--lint-only" ] && exit 0

step "services"
$PY/python scripts/ensure_services.py
scripts/ensure_chromium.sh
step "static files and translations"
$PY/python manage.py collectstatic --noinput -v 0
scripts/compile_messages.sh
step "pytest"
if [ $# -gt 0 ]; then
  $PY/pytest "$@"
  exit
fi
# One process per core (pytest-xdist), a test file kept in one process. Schemathesis runs in a
# process of its own: under xdist its per-operation tests collapse into one (8 cases, not 584).
SERIAL=tests/security/test_schemathesis.py
$PY/pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile --ignore "$SERIAL"
$PY/pytest "$SERIAL"
