# Two commands do everything on a fresh machine with Python 3.10+ and make:
#   make sweep   the main job: the seed-002 two-moons architecture sweep, printing its table
#   make test    the whole test suite
# Each creates .venv and installs mlplab into it when missing or out of date.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run sweep test lint clean reproduce

install: $(STAMP)

# torch first, with the range that takes the local CPU wheel (a bare `torch`
# would pull a multi-GB CUDA build); then mlplab itself, editable, with extras.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "torch>=2.4,<2.14"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev,all]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mlplab-run dataset=two_moons model.hidden='[16,16]' model.activation=gelu optimizer=sgd optimizer.lr=0.1

sweep: $(STAMP)
	$(BIN)/mlplab-run -m experiment=two_moons_arch

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The seed course: every experiment of ../shared/REFERENCE.md run from scratch on stacked
# sweeps, docs/seeds.md and docs/figures/ written anew (about 10 minutes on 2 cores).
reproduce: $(STAMP)
	$(BIN)/python scripts/reproduce.py --fresh

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
