# LocalStack, the second S3 of the tests and of the local stack (BACKEND=localstack), in its own
# virtualenv: localstack-core needs python3.13 (pyenv's here), and pins its own boto3.
LOCALSTACK_VENV := .venv-localstack
LOCALSTACK_STAMP := $(LOCALSTACK_VENV)/.installed
# pyenv's newest 3.13 first, else a python3.13 on the PATH; empty when there is none.
LOCALSTACK_BASE_PYTHON := $(or $(shell command -v pyenv >/dev/null 2>&1 && v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13\.[0-9]+$$' | sort -V | tail -1) && [ -n "$$v" ] && echo "$$(pyenv root)/versions/$$v/bin/python3.13"),$(shell command -v python3.13 2>/dev/null))

.PHONY: localstack test-localstack

# Without python3.13 nothing is installed (and no stamp written): the LocalStack tests then skip,
# saying why, and the next `make` tries again.
$(LOCALSTACK_STAMP): infra/localstack-requirements.txt
	@if [ -z "$(LOCALSTACK_BASE_PYTHON)" ]; then \
		echo "warning: no python3.13 (pyenv install 3.13): LocalStack is not installed, its tests will be skipped"; \
	else \
		set -e; \
		test -x $(LOCALSTACK_VENV)/bin/python || $(LOCALSTACK_BASE_PYTHON) -m venv $(LOCALSTACK_VENV); \
		echo "installing LocalStack into $(LOCALSTACK_VENV) (once)"; \
		$(LOCALSTACK_VENV)/bin/python -m pip install --quiet --upgrade pip; \
		$(LOCALSTACK_VENV)/bin/python -m pip install --quiet -r infra/localstack-requirements.txt; \
		touch $(LOCALSTACK_STAMP); \
	fi

## localstack: LocalStack in .venv-localstack (the tests' second backend; make demo BACKEND=localstack)
localstack: $(LOCALSTACK_STAMP)

# CI's `make test` runs every integration and end-to-end test on moto and on LocalStack.
test: $(LOCALSTACK_STAMP)

## test-localstack: only the tests that run on LocalStack
test-localstack: $(STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/python -m pytest -m localstack
