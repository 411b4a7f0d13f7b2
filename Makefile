# Two commands: `make run` and `make test`. Both install what is missing (idempotent, fast when done).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HOTLINE_DATABASE_URL ?= postgresql://hotline:hotline@127.0.0.1:5432/hotline
export HOTLINE_TEST_ADMIN_URL ?= postgresql://hotline:hotline@127.0.0.1:5432/postgres

.PHONY: run test setup system venv lint typecheck pytest any-hour clean

run: setup
	$(VENV)/bin/hotline migrate
	$(VENV)/bin/hotline prompts build
	$(VENV)/bin/hotline up

test: setup lint typecheck pytest any-hour

setup: system venv

system:
	bash scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check hotline db tests bench agents monitoring
	$(VENV)/bin/ruff format --check hotline db tests bench agents monitoring
	$(VENV)/bin/lint-imports --no-cache

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv
	bash scripts/run-pytest.sh $(PY)

# The fast suites again at 03:00 and 10:00 China time on a working day and 10:00 on a holiday (faketime).
any-hour: venv
	bash scripts/any-hour.sh $(PY)

clean:
	rm -rf $(VENV) var
