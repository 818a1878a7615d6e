# Trellis: `make run` starts everything with embedded defaults; `make test` runs the whole suite.
# Both install what they need first (virtualenv, Python and npm packages, the frontend build).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

FRONTEND_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json -type f 2>/dev/null)

.PHONY: install frontend run test test-python test-postgres test-frontend test-browser bench clean

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

frontend: frontend/dist/index.html
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@
frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SRC)
	cd frontend && npm run build

run: install frontend
	$(PY) manage.py bootstrap --check-ports
	honcho start -f Procfile

test: install frontend test-frontend test-python test-postgres

test-frontend: frontend/node_modules/.installed
	cd frontend && npm test

test-python: install frontend
	$(PY) -m pytest

# The Django-backed tests again, on a real PostgreSQL 15 that the test harness starts.
test-postgres: install frontend
	TRELLIS_TEST_DB=postgres $(PY) -m pytest tests --ignore=tests/core -m "not browser"

bench: install frontend
	$(PY) -m tests.benchmarks

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist var
