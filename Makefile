# Two commands do everything on a fresh machine:
#   make run    set up, get the data, execute every notebook (full mode), render build/site/
#   make test   set up, get the data, unit tests, then every notebook in smoke mode under nbval
# Others: make lab | make teacher | make lm-teacher | make notebooks | make clean

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)
FMNIST_RAW := data/FashionMNIST/raw/train-images-idx3-ubyte
DEBIAN_GZ  := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup data run test unit nbtest lab teacher lm-teacher notebooks student-copy clean help

help:
	@sed -n '1,6p' Makefile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependency list changes. torch and torchvision are left unpinned
# so pip resolves a matching pair from the same registry.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

setup: $(STAMP)

# Fashion-MNIST offline: use data/FashionMNIST/raw/ if present, else Debian's package
# (installed here when we are root and apt-get exists), else torchvision's download.
data: setup
	@if [ ! -f $(FMNIST_RAW) ] && [ ! -f $(DEBIAN_GZ) ] && command -v apt-get >/dev/null 2>&1 \
	    && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's dataset-fashion-mnist ..."; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "apt-get failed; falling back to torchvision's download"; \
	fi
	$(BIN)/python -m distill data

run: data
	$(BIN)/python tools/build_site.py --out build

unit: data
	$(BIN)/python -m pytest tests

nbtest: data
	DISTILL_SMOKE=1 $(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with tests/sanitize.cfg \
	  -p no:cacheprovider notebooks

test: unit nbtest

lab: data
	$(BIN)/jupyter lab notebooks

# Retrain the committed teacher (about 4 minutes on a 2-core CPU).
teacher: data
	$(BIN)/python -m distill teacher --out data/teacher

# Retrain the committed language-model teacher (under a minute on a 2-core CPU).
lm-teacher: setup
	$(BIN)/python -m distill lm-teacher --out data/lm_teacher

# Re-execute the notebooks in full mode and commit-ready: outputs kept, counts stripped.
notebooks: data
	$(BIN)/python tools/build_site.py --inplace

clean:
	rm -rf build data/cache
