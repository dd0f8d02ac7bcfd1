# The two entry points of the README: `make run` and `make test`. Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[test,images]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/mycroft-fl simulate simulations/digits.toml --out runs/digits

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python scripts/bench_selection.py

clean:
	rm -rf $(VENV) runs
