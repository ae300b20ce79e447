# Mutation testing of the core (not part of `make test` or CI: it takes hours on 2 cores).
# Included by the top-level Makefile. See docs/testing.md.
#
#   make mutation                              every core module, each with its own fast tests
#   make mutation MODULES="evaluate/metrics"   some of them (names: python mk/mutation.py --help)
#
# mutmut goes into the project's venv (its forked test runs must import genlab and TensorFlow)
# but not into the dev extra, so `make install` and CI stay as they are.

MUTMUT_VERSION ?= 3.8.1
MUTMUT := $(BIN)/mutmut
MODULES ?=
MUTATION_JOBS ?= 2

.PHONY: mutation

$(MUTMUT): $(BIN)/.installed
	$(BIN)/pip install --quiet "mutmut==$(MUTMUT_VERSION)"
	test -x $@ && touch $@

mutation: install data $(MUTMUT)
	MUTATION_JOBS=$(MUTATION_JOBS) nice -n 10 $(BIN)/python mk/mutation.py $(MODULES)
