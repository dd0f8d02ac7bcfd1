# The two entry points of the README: `make run` and `make test`. Both build .venv first.
# `make test` also builds the documentation (docs/, mkdocs.yml) strictly and runs its code blocks.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup run test lint docs bench clean fashion-mnist dvl

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[test,images,tabular,docs]"
	touch $(STAMP)

# Fashion-MNIST (scenarios fashion and spurious) is the Debian package dataset-fashion-mnist (30 MB):
# installed here when missing and we are root; otherwise say how, and go on.
fashion-mnist:
	@test -f $(FASHION_MNIST) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "note: the fashion and spurious scenarios need Fashion-MNIST: sudo apt-get install dataset-fashion-mnist"; \
	  fi; }

setup: $(STAMP) fashion-mnist

# The extra dvl beside the pinned stack: pyDVL 0.10.0 declares numpy<2 but runs on the pinned numpy 2,
# so it goes in without its dependencies, which come from constraints.txt
dvl: $(STAMP)
	$(BIN)/pip install -q --no-deps -c constraints.txt pydvl
	$(BIN)/pip install -q -c constraints.txt pyDeprecate more-itertools cvxpy psutil tqdm numcodecs

run: $(STAMP)
	$(BIN)/mycroft-fl simulate simulations/digits.toml --out runs/digits

# ruff (pinned in constraints.txt) keeps the code formatted and linted; then the suite.
lint: $(STAMP)
	$(BIN)/ruff format --check mycroft_fl tests benchmarks conftest.py docs/hooks.py
	$(BIN)/ruff check mycroft_fl tests benchmarks conftest.py docs/hooks.py

# The documentation site, into site/: strict, so a broken link, page or API reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The suite: tests/, and every Python block of README.md and docs/ as written (pyproject's addopts and
# testpaths; see docs/development.md), with pyDVL in (make dvl) so its baselines are tested too.
test: lint docs fashion-mnist dvl
	$(BIN)/python -m pytest -q

# The benchmark suite (benchmarks/; hours on 2 cores): each benchmark of BENCH with its defaults, its
# results kept in benchmarks/results/, then BENCHMARKS.md rendered from every results file.
# `make bench BENCH="selection simulate"` runs those only; see docs/development.md.
BENCH ?= $(shell $(BIN)/python -c 'from benchmarks import BENCHMARKS; print(*BENCHMARKS)')

bench: $(STAMP)
	for name in $(BENCH); do $(BIN)/python -m benchmarks run $$name || exit 1; done
	$(BIN)/python -m benchmarks render

clean:
	rm -rf $(VENV) runs site
