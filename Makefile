# Smart JAMP proposal portal. `make run` and `make test` need only Python 3.11+ on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format check-deploy bench bench-notifications bench-exports clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

var:
	mkdir -p var/mail var/private

## Run the portal with demo data: web server, Celery worker and beat (Ctrl-C stops all three).
## `make run PORT=8101` (or HOST=...) serves elsewhere; links in emails follow unless SITE_URL
## is set (`make run SITE_URL=https://demo.example`). The three write their output to var/log/.
run: install var
	@$(BIN)/python manage.py run_portal --demo $(HOST):$(PORT)

## Run the whole test suite (service and browser tests skip where their service is missing).
test: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The deployment checklist with production settings.
check-deploy: install
	DEBUG=0 SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
	ALLOWED_HOSTS=smartjamp.example $(BIN)/python manage.py check --deploy --fail-level WARNING

## Benchmark the key pages under load with 20,000 proposals (SQLite unless DATABASE_URL is set).
bench: install
	command -v wrk >/dev/null || apt-get install -y -qq wrk
	$(BIN)/python -m bench.pages $(BENCH_ARGS)

## Benchmark the notification fan-out through a real worker (needs PostgreSQL and Redis).
bench-notifications: install
	$(BIN)/python -m bench.notifications $(BENCH_ARGS)

## Benchmark the streamed CSV export of 100,000 proposals (needs PostgreSQL).
bench-exports: install
	$(BIN)/python -m bench.exports $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
