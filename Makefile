# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= --disable-pip-version-check -q

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade "pip>=24"

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e ".[local]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e ".[test,local]"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/casework demo --out demo-out

test: $(VENV)/.installed-test
	CASEWORK_LLM_TESTS=1 $(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: $(VENV)/.installed-test
	$(BIN)/casework bench replay

clean:
	rm -rf $(VENV) demo-out .pytest_cache
