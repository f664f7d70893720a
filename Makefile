# The two commands of this project are `make build` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_SIZES ?= 1000000,10000000
BENCH_RUNS ?= 3
LANDING ?= $(or $(CES_LANDING_DIR),data/landing)
WAREHOUSE ?= $(or $(CES_WAREHOUSE_DIR),warehouse)
SAMPLE_RESPONSES ?= 200000
SAMPLE_DAYS ?= 365

.PHONY: bench install build test dev docs lint lint-sql format clean postgres chromium spark

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## build: install, write sample landing data if the landing folder is empty, run the whole graph once
build: $(STAMP)
	@if [ -z "$$(find "$(LANDING)" -type f 2>/dev/null | head -n 1)" ]; then \
		echo "Landing folder $(LANDING) is empty: writing sample data"; \
		$(BIN)/ces sample --out "$(LANDING)" --responses $(SAMPLE_RESPONSES) --days $(SAMPLE_DAYS); \
	fi
	$(BIN)/ces build --landing "$(LANDING)"

## test: install and run the whole test suite (PostgreSQL and Spark tests on throwaway local servers)
test: $(STAMP) lint-sql postgres chromium spark
	$(BIN)/ruff check orchestration tests bench
	$(BIN)/python -m pytest

## postgres: install the PostgreSQL server from Debian packages if missing (the tests start it)
postgres:
	@bash scripts/postgres_cluster.sh install \
		|| echo "PostgreSQL is not available: the PostgreSQL tests will skip (under CI they fail)"

## spark: install Java from Debian packages if missing (the tests start Spark from the pyspark wheel)
spark: $(STAMP)
	@bash scripts/spark_cluster.sh install \
		|| echo "Spark cannot run here: the Spark tests will skip (under CI they fail)"

## chromium: install Chromium from Debian packages if missing (the report's browser check)
chromium:
	@bash scripts/chromium.sh install \
		|| echo "Chromium is not available: the report is not checked in a browser, its tests skip (under CI they fail)"

## docs: the dbt docs site of the built warehouse (lineage, every model and column described)
docs: $(STAMP)
	@if [ "$${CES_DBT_TARGET:-duckdb}" = duckdb ] && [ ! -f "$(WAREHOUSE)/ces.duckdb" ]; then \
		echo "No warehouse at $(WAREHOUSE)/ces.duckdb yet: run make build first"; exit 1; fi
	CES_WAREHOUSE_DIR="$(abspath $(WAREHOUSE))" $(BIN)/dbt docs generate --static --quiet \
		--project-dir . --profiles-dir . \
		--target-path "$(abspath $(WAREHOUSE))/dbt_docs" --log-path "$(abspath $(WAREHOUSE))/logs"
	@echo "dbt docs: open $(WAREHOUSE)/dbt_docs/static_index.html (one file, works offline)"

## dev: open the Dagster UI on localhost
dev: $(STAMP)
	mkdir -p .dagster
	DAGSTER_HOME=$(CURDIR)/.dagster $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

lint: $(STAMP) lint-sql
	$(BIN)/ruff check orchestration tests bench
	$(BIN)/ruff format --check orchestration tests bench

## bench: the benchmark harness at 1 M and 10 M answers (long; results in bench/results/)
bench: $(STAMP)
	$(BIN)/python bench/harness.py --sizes $(BENCH_SIZES) --runs $(BENCH_RUNS)

## lint-sql: sqlfluff over the dbt models (dbt templater, against a throwaway warehouse)
lint-sql: $(STAMP)
	@tmp=$$(mktemp -d) && CES_WAREHOUSE_DIR=$$tmp $(BIN)/sqlfluff lint models --nocolor; \
		rc=$$?; rm -rf $$tmp; exit $$rc

format: $(STAMP)
	$(BIN)/ruff format orchestration tests bench
	$(BIN)/ruff check --fix orchestration tests bench

clean:
	rm -rf warehouse target logs .dagster/storage
