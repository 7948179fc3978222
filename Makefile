# The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT
# `make run` is a local evaluation: plain HTTP, debug pages on. Production sets DEBUG=false.
RUN_DEBUG ?= true

.PHONY: help run test test-fast lint format venv uv messages

help:
	@echo "make run    start web, worker and beat on http://$(HOST):$(PORT)/ (embedded SQLite by default)"
	@echo "make test   run the tests on a throwaway PostgreSQL and Redis"
	@echo "make test-fast  the same without the browser (e2e) and real-worker tests: a few minutes"
	@echo "make lint   ruff, ruff format --check, makemigrations --check, mypy, the import contracts, bandit"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv with pip"; python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv; }

venv: uv
	@$(UV) sync --frozen --quiet

# Compile the translation catalogues (locale/<lang>/LC_MESSAGES/django.po -> .mo) with Babel,
# which needs no GNU gettext on the machine.
messages: venv
	@if ls locale/*/LC_MESSAGES/django.po >/dev/null 2>&1; then \
		.venv/bin/pybabel -q compile -d locale -D django; fi

# Links in emails point at the address `make run` serves, unless SITE_URL says otherwise.
run: export SITE_URL ?= http://$(HOST):$(PORT)
# The demo keeps Clopos's POS in a database of its own (a SQLite file under var/; relative to
# the project). Production names its own: a PostgreSQL or MariaDB URL.
run: export CLOPOS_POS_DATABASE_URL ?= sqlite:///var/clopos-pos.sqlite3
# The demo's newsletter tool, reached over HTTP: the reference webhook receiver
# (tests/systems/receiver.py, docs/webhooks.md) on a loopback port, with a secret for the demo only.
DEMO_RECEIVER_PORT ?= 8765
run: export DEMO_RECEIVER_URL ?= http://127.0.0.1:$(DEMO_RECEIVER_PORT)/hook
run: export DEMO_WEBHOOK_SECRET ?= demo-only-webhook-secret-change-me-0123456789
run: messages
	@mkdir -p var
	@DEBUG=$${DEBUG:-$(RUN_DEBUG)} $(PY) manage.py migrate --noinput -v 0
	@DEBUG=$${DEBUG:-$(RUN_DEBUG)} $(PY) manage.py collectstatic --noinput -v 0
	@DEBUG=$${DEBUG:-$(RUN_DEBUG)} $(PY) manage.py bootstrap_demo
	@echo "DSR Tracker: http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/, Ctrl-C stops web, worker, beat and the demo webhook receiver)"
	@$(PY) -m tests.systems.receiver --port $(DEMO_RECEIVER_PORT) --secret-env DEMO_WEBHOOK_SECRET \
		--answer callback & receiver=$$!; trap 'kill $$receiver 2>/dev/null' EXIT; \
		DEBUG=$${DEBUG:-$(RUN_DEBUG)} .venv/bin/honcho start --no-colour --port $(PORT)

test: messages
	@$(PY) -m tests.servers -- $(PY) -m pytest $(PYTEST_ARGS)

test-fast: messages
	@$(PY) -m tests.servers -- $(PY) -m pytest -m "not e2e and not worker" $(PYTEST_ARGS)

# Bandit's findings are reviewed: each one that is no flaw is suppressed on its line with the
# reason (`# nosec B608`, tests/ and bench/ excluded in pyproject.toml). Its "nosec encountered
# (B608), but no failed test" on an f-string a nosec does cover is a known false warning
# (PyCQA/bandit#1204), so that one line is dropped from its output.
lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	.venv/bin/mypy .
	.venv/bin/lint-imports
	.venv/bin/bandit -q -c pyproject.toml -r . 2> >(grep -v "nosec encountered (B608), but no failed test" >&2)

format: venv
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
