# Text corpus for the text-generation presets (char_lstm_fortunes, transformer_fortunes).
# Included by the top-level Makefile.
#
#   make text-corpus   install Debian's `fortunes` package (fortune cookies, ~2.6 MB of English
#                      text in /usr/share/games/fortunes), the default corpus of data.dataset: text
#
# `make test` depends on it: the presets' smoke tests read that corpus. Elsewhere, point
# data.source at a UTF-8 text file, a folder of .txt files, an https:// URL or a gs:// object.

TEXT_CORPUS_DIR ?= /usr/share/games/fortunes
TEXT_CORPUS_PACKAGE ?= fortunes

.PHONY: text-corpus

text-corpus:
	@if [ -f $(TEXT_CORPUS_DIR)/computers ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "error: no apt-get: install the '$(TEXT_CORPUS_PACKAGE)' fortune files into $(TEXT_CORPUS_DIR)," \
	       "or set data.source to your own UTF-8 text" >&2; exit 1; fi; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	echo "installing $(TEXT_CORPUS_PACKAGE) with apt-get"; \
	$$SUDO apt-get install -y -q --no-install-recommends $(TEXT_CORPUS_PACKAGE) >/dev/null 2>&1 || \
	{ $$SUDO apt-get update -q >/dev/null && \
	  $$SUDO apt-get install -y -q --no-install-recommends $(TEXT_CORPUS_PACKAGE) >/dev/null; } || \
	{ echo "error: could not install $(TEXT_CORPUS_PACKAGE) with apt-get" >&2; exit 1; }

TEST_DEPS += text-corpus
