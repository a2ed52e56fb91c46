# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint fuzz

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

## make run: set up, migrate, load the demo world on first run, print the login, serve on :8000 with the worker
## (and the sample site at /demo-site/)
run: $(INSTALLED)
	DEBUG=1 $(BIN)/leadflow migrate --verbosity 0
	DEBUG=1 $(BIN)/leadflow demo --if-empty
	@echo; echo "Log in at http://127.0.0.1:8000/ with:"; cat var/demo-login.txt; echo
	@echo "The sample site, whose forms post into the demo world: http://127.0.0.1:8000/demo-site/"; echo
	DEBUG=1 $(BIN)/leadflow serve --with-worker --host 127.0.0.1 --port 8000

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

## make test: lint, type-check and run the test suite on DATABASE_URL (SQLite by default)
test: lint
	$(BIN)/pytest -n auto --dist loadfile -q

## make fuzz: serve a demo world and fuzz the API with schemathesis (schemathesis.toml; ARGS="--seed 9" to vary)
fuzz: $(INSTALLED)
	scripts/fuzz $(ARGS)
