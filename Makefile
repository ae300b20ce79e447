# genlab: `make demo` runs the main job, `make test` runs the tests. Both install what they need.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
PRESET ?= dcgan_fashion_mnist
WORKERS ?= 2
RUNS ?= runs
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

# Extra prerequisites of `make test`, added by mk/*.mk (e.g. checkov's own venv);
# included before the rules so their additions are seen.
.DEFAULT_GOAL := help
TEST_DEPS :=
-include mk/*.mk

.PHONY: help install data demo test lint compile bench bench-quick clean

help:
	@echo "make demo   - run the $(PRESET) pipeline locally with $(WORKERS) workers and write a report"
	@echo "make test   - run the test suite"
	@echo "make lint | compile | bench | bench-quick | clean"

# The venv is rebuilt when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[cpu,dev]"
	touch $@

install: $(BIN)/.installed

# Fashion-MNIST comes from Debian's package; elsewhere `genlab run` downloads it (sha256-checked).
data:
	@if [ -f $(FASHION_MNIST_DIR)/train-images-idx3-ubyte.gz ]; then exit 0; fi; \
	if command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing dataset-fashion-mnist with apt-get"; \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; } || \
	  echo "warning: could not install dataset-fashion-mnist; genlab will download Fashion-MNIST instead"; \
	else echo "no apt-get: genlab will download Fashion-MNIST"; fi

demo: install data
	$(BIN)/genlab run $(PRESET) --workers $(WORKERS) --runs $(RUNS)

test: install data $(TEST_DEPS)
	$(BIN)/pytest -q --durations=25 tests  # the 25 slowest tests, to keep the suite under 20 minutes

lint: install
	$(BIN)/ruff check genlab components pipelines tests benchmarks
	$(BIN)/ruff format --check genlab components pipelines tests benchmarks

compile: install
	mkdir -p compiled
	for p in $$($(BIN)/genlab presets --names); do $(BIN)/genlab compile $$p -o compiled/$$p.yaml || exit 1; done

bench: install data
	$(BIN)/python -m benchmarks.run

bench-quick: install data
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(RUNS) compiled .pytest_cache

