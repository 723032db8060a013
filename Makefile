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

.PHONY: help synth diff test lint test-infra test-ml snapshots e2e bench bench-synth local-run monitor draft-contract approver predict serve clean clean-all
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

## help: list these targets
help:
	@sed -n 's/^## \([a-z0-9-]*\): /\1\t/p' $(MAKEFILE_LIST) | awk -F '\t' '{ printf "  %-15s %s\n", $$1, $$2 }'

## synth: synthesize every environment into cdk.out/ (`make synth ENV=dev` for one; all are validated)
# cdk.out starts empty: the CLI leaves earlier assemblies in place, and a stale stg next to a fresh dev misleads.
synth: $(VENV)/.installed node_modules/.installed
	rm -rf cdk.out
	cdk synth --quiet $(if $(ENV),-c env=$(ENV) '$(ENV)/*','**')

## diff: what this change does to every stack vs the merge base with main, offline (BASE=ref, MARKDOWN=path)
diff: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python -m tools.review_diff $(if $(BASE),--base "$(BASE)") $(if $(MARKDOWN),--markdown "$(MARKDOWN)")

## test: lint, then the CDK app's tests and ml_code's tests, each in its own environment, side by side
# The two suites share nothing, so they run at once on two cores; each one's output is printed whole.
test: lint
	$(MAKE) --no-print-directory --output-sync=target -j2 test-infra test-ml

## lint: ruff check and ruff format --check
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## test-infra: the CDK app's tests only (tests/infra, .venv)
# .venv-ml too: the local twin's scenarios (tests/infra/test_twin.py) run the jobs in it, and under `make test` it must
# be complete before they start, not still being installed by test-ml beside them.
test-infra: $(VENV)/.installed $(ML_VENV)/.installed node_modules/.installed
	$(VENV)/bin/python -m pytest tests/infra

## test-ml: ml_code's tests only (tests/ml, .venv-ml)
# Two workers, each taking whole files (module fixtures stay shared) in the order tests/ml/conftest.py sets:
# the multi-host tests mostly wait on late hosts and guards, so the other files run in those waits.
# At nice 3: under `make test` the CDK suite's own process is the longest run of work that cannot be split, and this
# suite (alone, its two workers keep about one core busy: they wait on hosts) has time to spare beside it; at equal
# priority the CDK suite ended 7-9 s after this one, with one core idle meanwhile. Alone, the priority changes nothing.
test-ml: $(ML_VENV)/.installed
	nice -n 3 $(ML_VENV)/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder tests/ml

## snapshots: rewrite the template and pipeline-definition snapshots after an intended change; commit them
snapshots: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python -m pytest tests/infra --snapshot-update -q

## local-run: preprocess -> train -> evaluate here (DATA=file.csv CONTRACT=file TARGET=col POSITIVE_LABEL=value CHAMPION=model.tar.gz)
LOCAL_RUN_ARGS = $(if $(DATA),--data "$(DATA)") $(if $(CONTRACT),--contract "$(CONTRACT)") \
	$(if $(TARGET),--target-column "$(TARGET)") $(if $(POSITIVE_LABEL),--positive-label "$(POSITIVE_LABEL)") \
	$(if $(CHAMPION),--champion "$(CHAMPION)")
local-run: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python ml_code/local/local_run.py $(strip $(LOCAL_RUN_ARGS))

## monitor: replay the latest local run's test split as captured traffic, as is and shifted, and monitor it (RUN=folder SHIFT=feature)
monitor: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python ml_code/local/monitor_replay.py $(if $(RUN),--run "$(RUN)") $(if $(SHIFT),--shift-feature "$(SHIFT)")

## draft-contract: draft a data contract from a sample of your export, to review (DATA=file.csv TARGET=col [POSITIVE_LABEL=value] [OUT=file])
draft-contract: $(ML_VENV)/.installed
	$(if $(and $(DATA),$(TARGET)),,$(error usage: make draft-contract DATA=file.csv TARGET=column))
	$(ML_VENV)/bin/python ml_code/local/draft_contract.py --data "$(DATA)" --target-column "$(TARGET)" \
		$(if $(POSITIVE_LABEL),--positive-label "$(POSITIVE_LABEL)") $(if $(OUT),--output "$(OUT)")

## approver: review and approve models (ARGS="pending dev", "show dev 7", "approve dev 7 --note '...'", "status dev")
approver: $(VENV)/.installed
	$(VENV)/bin/python -m tools.approver $(ARGS)

## predict: score a CSV with the endpoint's entry script, in 6 MB requests (DATA=file.csv [MODEL=latest|run folder|model.tar.gz] [OUT=file] [ACCEPT=application/json])
predict: $(ML_VENV)/.installed
	$(if $(DATA),,$(error usage: make predict DATA=file.csv [MODEL=latest]))
	$(ML_VENV)/bin/python ml_code/local/local_endpoint.py predict --model "$(or $(MODEL),latest)" --data "$(DATA)" \
		$(if $(OUT),--output "$(OUT)") $(if $(ACCEPT),--accept "$(ACCEPT)")

## serve: the endpoint's HTTP contract (GET /ping, POST /invocations) on localhost ([MODEL=latest|run folder|model.tar.gz] [PORT=8080])
serve: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python ml_code/local/local_endpoint.py serve --model "$(or $(MODEL),latest)" $(if $(PORT),--port $(PORT))

## e2e: the whole system offline from cdk.out: upload -> pipeline -> approval -> deploy -> an answer (ENV=dev DATA=file.csv ROWS=N SCENARIO=happy|bad-upload|below-threshold|second-approval|alarm-rollback|all)
# A fresh synth of the one environment first: the twin runs exactly what CloudFormation would deploy (docs/local-twin.md).
e2e: $(VENV)/.installed $(ML_VENV)/.installed node_modules/.installed
	$(MAKE) --no-print-directory synth ENV=$(or $(ENV),dev)
	$(VENV)/bin/python -m twin --env $(or $(ENV),dev) --cdk-out cdk.out $(if $(DATA),--data "$(DATA)") \
		$(if $(ROWS),--rows $(ROWS)) $(if $(SCENARIO),--scenario $(SCENARIO))

## bench: ml_code's benchmarks (train, preprocess, inference), printed as JSON
bench: $(ML_VENV)/.installed
	$(ML_VENV)/bin/python benchmarks/ml_bench.py

## bench-synth: synthesis time of all environments beside a one-bucket app, printed as JSON
bench-synth: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/python benchmarks/synth_bench.py

## clean: remove what synth and builds generate (cdk.out, build); keeps runs/ and the installed environments
clean:
	rm -rf cdk.out build

## clean-all: clean, and also remove runs/ (every local run's models and reports) and the installed environments
clean-all: clean
	rm -rf runs $(VENV) $(ML_VENV) node_modules
