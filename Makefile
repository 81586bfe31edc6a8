# The README's two commands: `make demo` runs the platform, `make test` runs the tests.
# Both create the virtualenv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo up test chaos lint typecheck browser check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/safereturn demo

up: $(STAMP)
	$(BIN)/safereturn up

test: $(STAMP) lint typecheck browser
	$(BIN)/pytest

# The chaos suite at full size on both databases (docs/reliability.md); override the size with
# make chaos CHAOS_CASES=2000 CHAOS_KILLS=5 CHAOS_REDIS_KILLS=1 CHAOS_DB=sqlite
CHAOS_CASES ?= 10000
CHAOS_KILLS ?= 20
CHAOS_REDIS_KILLS ?= 2
CHAOS_DB ?= sqlite,postgresql
chaos: $(STAMP)
	CHAOS_CASES=$(CHAOS_CASES) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_REDIS_KILLS=$(CHAOS_REDIS_KILLS) \
	  CHAOS_DB=$(CHAOS_DB) $(BIN)/python -m tests.chaos

# The dashboard's browser test needs Debian's chromium; as root, install it once.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; } || echo "no chromium (not root?): the dashboard's browser test will skip"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache test-artifacts
