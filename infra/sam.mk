# The SAM template: the SAM CLI in its own virtualenv (it pins an older boto3 than the function),
# `make validate` (sam validate --lint, cfn-lint) and `make build` (python3.13 / arm64, no Docker).
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
export SAM_CLI_TELEMETRY ?= 0

# sam build without Docker needs the runtime's Python (python3.13) on the PATH; with pyenv, name
# it next to the current version (PYENV_VERSION=3.11.7:3.13.0 on these machines).
SAM_RUNTIME_PYENV := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -E '^3\.13\.[0-9]+$$' | sort -V | tail -1)
SAM_PYENV_VERSION := $(if $(SAM_RUNTIME_PYENV),$(shell pyenv version-name 2>/dev/null):$(SAM_RUNTIME_PYENV))
SAM_BUILD_ENV := $(if $(SAM_PYENV_VERSION),PYENV_VERSION=$(SAM_PYENV_VERSION))

.PHONY: sam validate build

$(SAM_STAMP): infra/sam-requirements.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV) || python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r infra/sam-requirements.txt
	@touch $(SAM_STAMP)

## sam: the SAM CLI in .venv-sam (the template tests use it)
sam: $(SAM_STAMP)

# CI's `make test` runs the template tests: they need the SAM CLI.
test: $(SAM_STAMP)

## validate: sam validate --lint and cfn-lint, offline
validate: $(SAM_STAMP)
	$(SAM) validate --lint --region us-east-1
	$(SAM_VENV)/bin/cfn-lint -- template.yaml

## build: sam build (python3.13 / arm64) into .aws-sam/build, without Docker
build: $(SAM_STAMP)
	$(SAM_BUILD_ENV) $(SAM) build
