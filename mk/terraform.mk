# Terraform checks (terraform/, tests/terraform/). Included by the top-level Makefile.
#
#   make terraform-check   the offline Terraform checks alone: HCL structure and contracts
#                          (python-hcl2), checkov, terraform fmt (and validate where providers exist)
#   make terraform-fmt     rewrite terraform/ in canonical format (needs a terraform binary)
#
# checkov pins an old `packaging`, so it gets its own virtual environment, apart from $(VENV).

CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: terraform-check terraform-fmt checkov

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet "checkov==$(CHECKOV_VERSION)"
	test -x $@ && touch $@

TEST_DEPS += $(CHECKOV)
# The top-level Makefile expands `test`'s prerequisites when it reads that rule, before this file
# is included, so name checkov as a prerequisite of `test` directly as well.
test: $(CHECKOV)

checkov: $(CHECKOV)
	$(CHECKOV) --config-file terraform/.checkov.yaml

terraform-check: install $(CHECKOV)
	$(BIN)/pytest -q tests/terraform

terraform-fmt:
	terraform fmt -recursive terraform
