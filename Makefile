# The README's commands. `make train` and `make test` each do the whole set-up on a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
TF      ?= cpu
RECIPE  ?= recipes/detect.yaml
JOBS    ?= 2
STAMP   := $(VENV)/.installed-$(TF)

.PHONY: setup train test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
ifeq ($(TF),gpu)
	$(BIN)/python -m pip uninstall --quiet -y tensorflow-cpu
	$(BIN)/python -m pip install --quiet "tensorflow[and-cuda]>=2.16"
endif
	rm -f $(VENV)/.installed-*
	touch $@

train: setup
	$(BIN)/visiontk train $(RECIPE) $(ARGS)

test: setup
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/quick.py

clean:
	rm -rf $(VENV) runs .pytest_cache
