# Set-up and the commands README.md documents. TORCH pins the torch version the suite is tested with;
# `make TORCH=torch test` takes whatever build pip picks for your machine.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test demo lint bench wheel

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

# dist/fdpo-<version>-py3-none-any.whl, built in a temporary copy of the tracked and unignored files: pip builds in
# the folder it is given and would leave build/ and fdpo.egg-info/ here.
wheel:
	@src=$$(mktemp -d) && trap 'rm -rf "$$src"' EXIT && \
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$$src" && \
	$(PYTHON) -m pip wheel --quiet --no-deps -w dist "$$src" && ls dist/*.whl
