# The two set-up commands of the README: `make demo` and `make test`. Each installs what it needs
# into .venv (CPU torch pinned through constraints.txt), then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[cpu,dev]" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import huracan_ray, ray, deltalake, torch, xgboost, moto" 
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/huracan demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not gpu" --durations=15

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done
