# Two commands do all set-up on a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo stop-demo test lint bench lock clean-services venv

venv: $(STAMP)

$(STAMP): requirements.in requirements-dev.in requirements.lock package.json package-lock.json
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m pip install --quiet -r requirements.in -r requirements-dev.in -c requirements.lock \
		2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import django, celery, psycopg, rest_framework, numpy" # fail loudly if install failed
	npm ci --no-audit --no-fund --loglevel=error # pinned front-end and test tools (package-lock.json)
	@touch $(STAMP)

# The embedded default: its own PostgreSQL under data/postgres, seeded, served until Ctrl-C or
# `make stop-demo` (scripts/demo.sh).
demo: venv
	scripts/compile_messages.sh
	scripts/demo.sh

stop-demo:
	scripts/demo.sh stop

test: venv
	scripts/test.sh

lint: venv
	scripts/test.sh --lint-only

# Every benchmark at its default (state) size, one after the other (they share the bench broker
# database and must not overlap); each prints a summary block. Figures: docs/performance.md.
BENCHES := engine recompute latency http_load chaos report import grid

bench: venv
	@for name in $(BENCHES); do echo "== bench/$$name.py"; $(PY) "bench/$$name.py" || exit 1; done

# Regenerate requirements.lock from the .in files (run after changing a pin).
lock:
	rm -rf /tmp/mastery-lock-venv && "$$(scripts/find-python)" -m venv /tmp/mastery-lock-venv
	/tmp/mastery-lock-venv/bin/pip install --quiet -r requirements.in -r requirements-dev.in 2>&1 | grep -v "^WARNING: Location" || true
	/tmp/mastery-lock-venv/bin/pip freeze --exclude-editable | sort -f > requirements.lock

# Stops the throwaway PostgreSQL and Redis that `make test` started when none answered (only those).
clean-services: venv
	$(PY) scripts/ensure_services.py --stop
