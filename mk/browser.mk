# A real browser for the page tests: Debian's `chromium`, run headless by tests/browser to render
# the run report and the compare page and check that every image loads (genlab/report.py).
# Included by the top-level Makefile.
#
#   make browser   install Debian's `chromium` package (no recommends) unless a chromium is on PATH
#
# `make test` depends on it. Elsewhere, put a Chromium or Chrome binary on PATH or point
# GENLAB_CHROMIUM at one.

CHROMIUM_PACKAGE ?= chromium

.PHONY: browser

browser:
	@if [ -n "$$GENLAB_CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "error: no apt-get: install Chromium and put it on PATH (or set GENLAB_CHROMIUM)" >&2; exit 1; fi; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "installing $(CHROMIUM_PACKAGE) with apt-get"; \
	$$SUDO apt-get install -y -q --no-install-recommends $(CHROMIUM_PACKAGE) >/dev/null 2>&1 || \
	{ $$SUDO apt-get update -q >/dev/null && \
	  $$SUDO apt-get install -y -q --no-install-recommends $(CHROMIUM_PACKAGE) >/dev/null; } || \
	{ echo "error: could not install $(CHROMIUM_PACKAGE) with apt-get" >&2; exit 1; }

TEST_DEPS += browser
