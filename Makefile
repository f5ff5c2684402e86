# Set-up and the commands README.md documents. TORCH pins the CPU build this workplace keeps on disk; on your own
# machine `make TORCH=torch test` takes whatever build suits it.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test demo lint bench

$(BIN)/fdpo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/fdpo

install: $(BIN)/fdpo

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

demo: install
	$(BIN)/fdpo demo --output-dir demo-output

lint: install
	$(BIN)/ruff check fdpo tests examples benchmarks
	$(BIN)/ruff format --check fdpo tests examples benchmarks
