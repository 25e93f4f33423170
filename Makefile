# Two entry points, each sets up everything it needs first:
#   make run   - create/reuse .venv, install, start the app on the embedded synthetic data
#   make test  - create/reuse .venv, install (plus Ray for the executor test and Debian's chromium for the
#                browser test), lint, run all tests
#   make test-fast - the inner loop: lint, then the tests not marked slow, app or browser (under a minute)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.ray-installed
# UMAP compiled into numba's cache (.cache/numba), the first views' latents (.cache/latents) and maps (.cache/maps)
MAPS_STAMP := .cache/maps/.ready

.PHONY: run test test-fast setup lint bench chromium node

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Ray is optional for users (requirements-ray.txt); the tests install it to check that a local Ray
# stores exactly what serial training stores.
$(RAY_STAMP): $(STAMP) requirements-ray.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-ray.txt
	touch $(RAY_STAMP)

# Before the first server: compile UMAP (a minute or more on a small CPU), train and encode the first views'
# latents and compute the Embeddings page's first maps, so that a class waits for none of them (ui/maps.py).
$(MAPS_STAMP): $(STAMP) $(shell find msmix_core ui -name '*.py')
	$(BIN)/python -m ui.maps
	touch $(MAPS_STAMP)

setup: $(STAMP) $(MAPS_STAMP)

run: $(STAMP) $(MAPS_STAMP)
	$(BIN)/python -m ui.serve

# Debian's chromium for the browser tests; Debian's nodejs for the live controls' JavaScript tests
# (tests/test_live.py fails without node: a missing node is never a silent skip).
chromium: node
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

node:
	@command -v node >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One pytest worker per core (pytest-xdist): the suite waits on subprocesses, servers and browsers as much
# as it computes. Work stealing: a worker that is done takes queued tests from the other, so the long
# browser and training tests do not leave one core idle at the end.
test: $(STAMP) $(RAY_STAMP) chromium lint
	$(BIN)/python -m pytest -n auto --dist worksteal

test-fast: node lint
	$(BIN)/python -m pytest -n auto --dist worksteal -m "not slow and not app and not browser"

bench: $(STAMP)
	$(BIN)/python bench/bench_mixing.py
	$(BIN)/python bench/bench_training.py
