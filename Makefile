# Two commands matter: `make demo` and `make test`. Both create the virtual
# environment from the pinned requirements first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## Migrate, seed the model district and run web + Celery worker + beat on the embedded defaults.
demo: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	scripts/run_demo.sh

## The whole test suite (on PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set).
# Tests keep their files (SQLite test database, broker folders) apart from the demo's.
test: venv
	$(BIN)/python manage.py makemigrations --check --dry-run
	VAR_DIR=$${VAR_DIR:-$(CURDIR)/var/test} $(BIN)/pytest $(PYTEST_ARGS)

## Benchmarks on PostgreSQL at 10k, 100k and 1M cases (see benchmarks/run.py), then intake throughput
## (benchmarks/intake.py, on a database of its own: it adds cases); needs PostgreSQL and Redis servers.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/gov_bench_suite
BENCH_INTAKE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/gov_bench_intake
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/9
bench: venv
	psql "$(dir $(BENCH_DATABASE_URL))postgres" -qc "CREATE DATABASE $(notdir $(BENCH_DATABASE_URL))" 2>/dev/null || true
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python benchmarks/run.py
	psql "$(dir $(BENCH_INTAKE_DATABASE_URL))postgres" -qc "CREATE DATABASE $(notdir $(BENCH_INTAKE_DATABASE_URL))" 2>/dev/null || true
	DATABASE_URL=$(BENCH_INTAKE_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python benchmarks/intake.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var/test
