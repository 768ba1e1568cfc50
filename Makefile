# Two commands do everything on a fresh machine:
#   make run    set up, get the data, execute every notebook (full mode), render build/site/
#               (resumable: finished notebooks are cached in build/cache/; a failed one costs only its page)
#   make test   set up, get the data, unit tests, then every notebook in smoke mode under nbval
# Others: make site (render the committed outputs, no execution) | make lab | make lab-student | make bench
#         | make student-copy | make answer-key | make slides | make teacher | make lm-teacher | make notebooks | make clean-cache | make clean

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)
FMNIST_RAW := data/FashionMNIST/raw/train-images-idx3-ubyte
DEBIAN_GZ  := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup data browser run site test unit nbtest lab lab-student bench teacher lm-teacher notebooks student-copy answer-key slides clean clean-cache help

help:
	@sed -n '1,8p' Makefile

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

# The site from the committed outputs, without executing anything (under a minute).
site: setup
	$(BIN)/python tools/build_site.py --out build --no-execute

# The site test drives a real browser: Debian's chromium, installed here when we are root with
# apt-get. Without one, tests/test_site.py is skipped (or fails under DISTILL_REQUIRE_BROWSER=1, as in CI).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
	    && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's chromium for the site test ..."; \
	  (apt-get update -qq && apt-get install -y -qq chromium) || echo "apt-get failed; the site test will be skipped"; \
	fi

unit: data browser
	$(BIN)/python -m pytest tests

nbtest: data
	DISTILL_SMOKE=1 $(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with tests/sanitize.cfg \
	  -p no:cacheprovider notebooks

test: unit nbtest

# LAB_ARGS passes options to JupyterLab, e.g. make lab LAB_ARGS="--port 8899 --no-browser"
# (as root, e.g. in a container, JupyterLab refuses to start without --allow-root)
# JupyterLab opens on START_HERE.md (as a page), without the news pop-up or update checks (tools/lab/overrides.json).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB := $(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --LabApp.default_url=/lab/tree/START_HERE.md

$(LAB_SETTINGS): tools/lab/overrides.json | $(STAMP)
	mkdir -p $(dir $@) && cp tools/lab/overrides.json $@

lab: data $(LAB_SETTINGS)
	$(LAB) $(LAB_ARGS) notebooks

# The same on the students' copy (no solutions), written to build/student/ first.
lab-student: data student-copy $(LAB_SETTINGS)
	$(LAB) $(LAB_ARGS) build/student

# Benchmarks (never part of `make test`): a table, and bench/results.json. About 35 minutes:
# it runs every notebook in smoke and full mode. BENCH_QUICK=1 make bench: every ratio in about a minute.
bench: data
	$(BIN)/python bench/run.py

# Retrain the committed teacher (about 4 minutes on a 2-core CPU).
teacher: data
	DISTILL_THREADS=$$(nproc) $(BIN)/python -m distill teacher --out data/teacher

# Retrain the committed language-model teachers (under a minute each on a 2-core CPU): answers
# alone, and answers preceded by the working (carries).
lm-teacher: setup
	$(BIN)/python -m distill lm-teacher --out data/lm_teacher
	$(BIN)/python -m distill lm-teacher --working --out data/lm_teacher_working

# Re-execute the notebooks in full mode and commit-ready: outputs kept, counts stripped.
notebooks: data
	$(BIN)/python tools/build_site.py --inplace

# The students' copy: every notebook without its solution cells, in build/student/.
student-copy: setup
	$(BIN)/python tools/student_copy.py --out build/student

# Slides for class: a reveal.js deck per notebook from its committed outputs, offline, in build/slides/.
slides: setup
	$(BIN)/python tools/slides.py --out build/slides

# The instructors' answer key: notebooks and pages with solutions, and model answers, in build/answer-key/.
answer-key: setup
	$(BIN)/python tools/answer_key.py --out build/answer-key

# Teacher outputs and executed notebooks are cached; this shows their size and removes them.
clean-cache:
	@du -sh data/cache build/cache 2>/dev/null || true
	rm -rf data/cache build/cache

clean:
	rm -rf build data/cache
