# Two entry points, each installing what it needs on a fresh machine:
#   make up    - PostgreSQL + TimescaleDB, Python deps, then `spantally up` (embedded database)
#   make test  - the same installs plus test tooling, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: up test test-fast install-database install-browser venv install-server install-dev openlit-venv generate vendor-dashboard bench clean

up: install-database install-server
	$(BIN)/spantally up

# The suite twice: its servers in the cluster's own storage mode (timescale or apache), then
# on plain tables (postgres), so that every answer is checked in both ways of keeping aggregates.
# The second run leaves out the tests marked `above_store` (the API's contract, the dashboard,
# the instrumentations' conventions, the CLI): the storage mode changes nothing they check.
test: install-database install-browser install-dev openlit-venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	SPANTALLY_TEST_STORAGE_MODE=postgres $(BIN)/python -m pytest -m "not above_store" $(PYTEST_ARGS)

# Everything but the tests marked slow (fault injection): for quick local iterations.
test-fast: install-database install-browser install-dev openlit-venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

install-database:
	bash scripts/install-database.sh

# Debian's Chromium, for the dashboard tests (Playwright drives it).
install-browser:
	bash scripts/install-browser.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { bash scripts/install-python-venv.sh && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python

# Regular (not editable) installs: the tests run against the package as users install it.
install-server: venv
	$(BIN)/python -m pip install --quiet '.[server]'

install-dev: venv
	$(BIN)/python -m pip install --quiet '.[dev]'

# OpenLIT's pins conflict with the dev extra's clients: its golden test runs it from here.
openlit-venv: .venv-openlit/installed

.venv-openlit/installed: tests/openlit-requirements.txt
	$(PYTHON) -m venv .venv-openlit
	.venv-openlit/bin/python -m pip install --quiet -r tests/openlit-requirements.txt
	touch $@

# After changing the charting library's pinned version (scripts/vendor-dashboard/package.json):
# installs it from the npm registry and copies its built files into the package (committed).
vendor-dashboard:
	bash scripts/vendor-dashboard.sh

# After changing server/api/spec.py: the files written from it (the .proto, the clients'
# methods, docs/api-parameters.md), from the spec as installed, then the package again so
# that it carries the new .proto compiled.
generate: venv
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall .
	$(BIN)/python -m spantally.server.api.generate .
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall .

bench: install-database venv
	$(BIN)/python -m pip install --quiet '.[bench]'
	$(BIN)/python bench/sdk_overhead.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/write_path.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/percentiles.py
	$(BIN)/python bench/compat.py

clean:
	rm -rf $(VENV) .venv-openlit build *.egg-info
