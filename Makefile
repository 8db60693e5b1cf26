# coop: the two commands are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app coop
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

#: the task queue's worker (Huey): 2 threads, polling at most a second apart when idle
WORKER := $(BIN)/huey_consumer coop.jobs.huey --workers 2 --worker-type thread --delay 0.1 --max-delay 1

.PHONY: run worker test test-fast test-pg lint bench lighthouse screenshots serve migrate seed system-deps clean

# The virtualenv with the app installed; redone when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

migrate: $(VENV)/.installed
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed

## make run: set up .venv, migrate, load the demo data, serve on http://127.0.0.1:$(PORT)
## with the task queue's worker beside it (stopped with the server); links in emails and
## calendars point at that port unless COOP_BASE_URL says otherwise
run: seed
	@export COOP_BASE_URL="$${COOP_BASE_URL:-http://127.0.0.1:$(PORT)}"; \
	$(WORKER) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT) --with-threads

## make worker: the task queue's worker alone (for a second terminal, or another machine);
## its emails link to COOP_BASE_URL, else to http://127.0.0.1:$(PORT) as make run's do
worker: $(VENV)/.installed
	COOP_BASE_URL="$${COOP_BASE_URL:-http://127.0.0.1:$(PORT)}" $(WORKER)

## Debian packages the test suite drives: Chromium (browser tests), Java (HTML checker)
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing$$missing with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check coop tests bench tools
	$(BIN)/bandit -q -r coop -c pyproject.toml --severity-level medium

## make test: install the test extras into .venv and run the whole suite (SQLite, or
## PostgreSQL when DATABASE_URL is set)
test: $(VENV)/.installed-test system-deps lint
	$(BIN)/python -m pytest

## make test-fast: the inner loop: no servers, browsers, Java or faults (1,585 tests: 30–35 s on
## the 2-core machine, 2026-12-07, stop 27; 1,620 tests: 71–83 s at stop 28, when the same
## machine ran hello-world 2.5 times slower, 100 µs of CPU against 39; 1,696 tests: 157 s at
## stop 30, hello-world at 110 µs, with other work beside it; 1,699 tests: 54 s on 2026-12-08,
## the machine quiet again, hello-world at 39 µs). Tests share one app per
## worker, and the tests of the seeded demo site run on one worker: --dist loadgroup.
## Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: without it every run
## recompiles the app and pytest rewrites every test module's asserts again, in each worker.
test-fast: $(VENV)/.installed-test
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "not slow and not browser and not faults"

test-pg:
	DATABASE_URL=$(PG_URL) $(MAKE) test

## make bench: gunicorn on 127.0.0.1 loaded with wrk beside a hello-world app (by hand, not CI);
## e.g. make bench BENCH_ARGS="--duration 5 --databases sqlite --workers sync"
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null 2>&1 || { echo "Installing wrk with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## make lighthouse: Lighthouse 13 (installed into .lighthouse/ by npm) over every public page of
## the app started with the demo data; fails unless all four scores are 100 on every page
LIGHTHOUSE := .lighthouse/node_modules/.bin/lighthouse
$(LIGHTHOUSE):
	npm install --prefix .lighthouse --no-audit --no-fund --loglevel=error lighthouse@13

lighthouse: $(VENV)/.installed-test system-deps $(LIGHTHOUSE)
	$(BIN)/python -m tools.lighthouse $(LIGHTHOUSE_ARGS)

## make screenshots: full-page PNGs of every page at 320, 390 and 1366 px in docs/screenshots/
screenshots: $(VENV)/.installed-test system-deps
	$(BIN)/python -m tools.screenshots $(SCREENSHOTS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts .lighthouse
