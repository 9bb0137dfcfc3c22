# One entry point for users and CI. Every target creates (once) and reuses the project's own virtual
# environment in .venv, installed from the pinned, tested set in constraints.txt.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ARGS    ?=

.PHONY: setup browser train test export clean-nbs docs readme bench help

help:
	@echo "make train ARGS='...'   set up .venv and run the recipe (eva-fastai train ARGS)"
	@echo "make test               set up .venv and run the whole test suite (notebooks + CLI)"
	@echo "make docs               build the docs site into _site/ (nbdev + mkdocs, no Quarto) and README.md"
	@echo "make readme             regenerate README.md from nbs/index.ipynb"
	@echo "make bench              run the benchmarks in bench/"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)
	$(BIN)/eva-fastai train $(ARGS)

# The docs browser tests drive Debian's Chromium; `make test` installs it when it is missing (with sudo unless root).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "make: installing Debian's chromium and chromium-driver (the docs browser tests need them)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest $(ARGS)

export: $(STAMP)
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean

# tools/docs.py: nbdev processes the notebooks (the ones with figures run first), mkdocs renders them (mkdocs.yml).
docs: readme
	$(BIN)/python tools/docs.py $(ARGS)

readme: $(STAMP)
	$(BIN)/python tools/docs.py --readme

bench: $(STAMP)
	$(BIN)/python bench/augment.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/epoch.py
	$(BIN)/python bench/distributed.py
	$(BIN)/python bench/airbench.py
