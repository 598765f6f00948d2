# AWS's Lambda runtime interface client (awslambdaric) in a python3.13 virtualenv, .venv-runtime:
# the package tests and the cold-start benchmark run the built package under it, as Lambda does.
RUNTIME_VENV := .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed

.PHONY: runtime-client

# Without python3.13 (pyenv's, named next to the current version as for sam build) the package
# tests skip and say why; nothing else fails here.
$(RUNTIME_STAMP): infra/runtime-requirements.txt
	@if test -x $(RUNTIME_VENV)/bin/python || $(SAM_BUILD_ENV) python3.13 -m venv $(RUNTIME_VENV); then \
		$(RUNTIME_VENV)/bin/python -m pip install --quiet -r infra/runtime-requirements.txt && touch $(RUNTIME_STAMP); \
	else \
		echo "warning: python3.13 is not available: the package tests will be skipped"; \
	fi

## runtime-client: AWS's runtime interface client in .venv-runtime (the package tests use it)
runtime-client: $(RUNTIME_STAMP)

test: $(RUNTIME_STAMP)
