# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# litellm needs openai<3 while the default install gets openai 3: its tests run in a venv of their own
LITELLM_VENV := .venv-litellm
PIP_FLAGS ?= --disable-pip-version-check -q

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade "pip>=24"

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e ".[local]"
	touch $@

# the train extra on the CPU build of torch (192 MB, not the GBs of CUDA libraries plain `torch` pulls):
# from the configured package sources when they have it, else from PyTorch's CPU index
TORCH_CPU ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) "$(TORCH_CPU)" || $(BIN)/pip install $(PIP_FLAGS) --index-url $(TORCH_INDEX) "$(TORCH_CPU)"
	$(BIN)/pip install $(PIP_FLAGS) -e ".[test,local,ray,train]"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/casework demo --out demo-out

$(LITELLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install $(PIP_FLAGS) -e ".[test,litellm,local-server]"
	touch $@

test: $(VENV)/.installed-test $(LITELLM_VENV)/.installed
	CASEWORK_LLM_TESTS=1 $(BIN)/python -m pytest
	@echo "--- the litellm provider, and the client on the openai 2.x SDK that litellm requires"
	CASEWORK_LLM_TESTS=1 $(LITELLM_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		tests/llm/test_litellm.py tests/llm/test_client.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: $(VENV)/.installed-test
	$(BIN)/casework bench replay

clean:
	rm -rf $(VENV) $(LITELLM_VENV) demo-out .pytest_cache
