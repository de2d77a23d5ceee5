# The README's commands. `make train` and `make test` each do the whole set-up on a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
TF      ?= cpu
RECIPE  ?= recipes/detect.yaml
JOBS    ?= 2
STAMP   := $(VENV)/.installed-$(TF)
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: setup train test bench docs docs-build clean

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

# --dist loadgroup: the tests sharing tiny trained heads run on one worker (tests/conftest.py);
# --durations: the log names the slowest tests (CI keeps the suite well under 30 minutes)
test: setup
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/quick.py

# The documentation site (mkdocs.yml): `make docs` serves it on http://127.0.0.1:8000 and reloads on
# edits; `make docs-build` builds site/ as CI does (--strict: a broken link or reference fails).
docs docs-build: export NO_MKDOCS_2_WARNING := 1

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs serve

docs-build: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

clean:
	rm -rf $(VENV) runs .pytest_cache site
