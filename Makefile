# The two entry points of the README: `make run` and `make test`. Both build .venv first.
# `make test` also builds the documentation (docs/, mkdocs.yml) strictly and runs its code blocks.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup run test lint docs bench clean fashion-mnist dvl test-lowest

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

# The lower bounds of pyproject.toml: a second venv, .venv-lowest, with the lowest releases of the
# runtime dependencies that install together (constraints-lowest.txt; torch stays 2.13.0, see
# docs/development.md), the test tools as pinned in constraints.txt (both files at once: a test tool
# that moved a runtime pin would stop the install), then the fast tests of the engine, owners, trainer,
# scenarios, Flower apps and command line, and one simulation on Flower's engine.
# Not part of `make test`; 12 minutes on 2 busy cores, set-up included.
PY_LOWEST ?= python3.11
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed
LOWEST_TESTS := tests/test_data.py tests/test_scenario.py tests/test_real_scenarios.py \
	tests/test_selection.py tests/test_ranking.py tests/test_hard.py tests/test_harm.py tests/test_replies.py \
	tests/test_commitment.py tests/test_intake.py tests/test_owner_streaming.py tests/test_retrieval.py \
	tests/test_uncertainty.py tests/test_models.py tests/test_gradmatch.py tests/test_engine.py \
	tests/test_strategy.py tests/test_client_app.py tests/test_private.py tests/test_report.py \
	tests/test_report_schema.py tests/test_progress.py tests/test_cli.py tests/test_presets.py \
	tests/test_trainer_config.py tests/test_valuation_baselines.py tests/test_compare.py \
	tests/test_standardise.py tests/test_ensemble.py tests/test_batched.py tests/test_device.py \
	tests/test_ecoval.py tests/test_datavaluation.py tests/test_fuzz.py
LOWEST_SIMULATION := tests/test_cli.py::test_simulate_leave_one_out_over_flower_values_every_owner_on_all_its_data

$(LOWEST_STAMP): pyproject.toml constraints-lowest.txt constraints.txt
	$(PY_LOWEST) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install -q --upgrade pip
	$(LOWEST)/bin/pip install -q -c constraints-lowest.txt -e ".[images,tabular]"
	$(LOWEST)/bin/pip install -q -c constraints.txt -c constraints-lowest.txt \
	  pytest pytest-timeout pytest-markdown-docs hypothesis
	$(LOWEST)/bin/pip check
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP) fashion-mnist
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider -m "not slow" $(LOWEST_TESTS)
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider $(LOWEST_SIMULATION)

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
	rm -rf $(VENV) $(LOWEST) runs site
