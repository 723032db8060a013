# Two commands for a fresh machine: `make synth` and `make test`. Install steps are file targets, so once
# set up nothing here touches the network until a requirements or lock file changes.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
ML_VENV := .venv-ml

# The CDK CLI and Node.js 22 from package.json come first: jsii then runs on a supported Node (no banner).
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: synth test lint test-infra test-ml snapshots bench bench-synth local-run clean
.DEFAULT_GOAL := synth

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

$(ML_VENV)/.installed: ml_code/requirements.txt ml_code/requirements-dev.txt
	$(PYTHON) -m venv $(ML_VENV)
	$(ML_VENV)/bin/pip install --quiet -r ml_code/requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: synthesize every environment into cdk.out/ (`make synth ENV=dev` for one)
synth: $(VENV)/.installed node_modules/.installed
	cdk synth --quiet $(if $(ENV),-c env=$(ENV) '$(ENV)/*','**')

## test: lint, then the CDK app's tests and ml_code's tests, each in its own environment, side by side
# The two suites share nothing, so they run at once on two cores; each one's output is printed whole.
test: lint
	$(MAKE) --no-print-directory --output-sync=target -j2 test-infra test-ml

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-infra: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python -m pytest tests/infra

test-ml: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python -m pytest tests/ml

## snapshots: rewrite the template and pipeline-definition snapshots after an intended change; commit them
snapshots: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python -m pytest tests/infra --snapshot-update -q

## local-run: preprocess -> train -> evaluate on this machine (DATA=file.csv TARGET=col POSITIVE_LABEL=value)
LOCAL_RUN_ARGS = $(if $(DATA),--data "$(DATA)") $(if $(TARGET),--target-column "$(TARGET)") \
	$(if $(POSITIVE_LABEL),--positive-label "$(POSITIVE_LABEL)")
local-run: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python ml_code/local_run.py $(strip $(LOCAL_RUN_ARGS))

## bench: ml_code's benchmarks (train, preprocess, inference), printed as JSON
bench: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python benchmarks/ml_bench.py

## bench-synth: synthesis time of all environments beside a one-bucket app, printed as JSON
bench-synth: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python benchmarks/synth_bench.py

clean:
	rm -rf cdk.out $(VENV) $(ML_VENV) node_modules
