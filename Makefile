# medbridge: `make run` (the main job) and `make test` (every test). Both install first.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
EXTRAS := all

.PHONY: install run test lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

# The main job: the PACS with embedded defaults (DIMSE port 11112, AE MEDBRIDGE, SQLite
# index and files under ./var/). Ctrl-C stops it cleanly; ARGS passes options through.
run: install
	$(VENV)/bin/medbridge serve $(ARGS)

test: install
	$(VENV)/bin/python -m pytest -n 2 $(PYTEST_ARGS)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache
