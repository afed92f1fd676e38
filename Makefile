# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint pytest fuzz faults soak bench bench-router up down status clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	LIENTHONG_LOG_LEVEL=$${LIENTHONG_LOG_LEVEL:-WARNING} $(BIN)/lienthong demo

test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Then `make faults`: each runs a stack of its own once the suite's is stopped.
pytest: $(STAMP)
	$(BIN)/pytest tests --ignore=tests/integration/test_cluster.py
	$(MAKE) faults

# The CI fault schedule (tests/faults: 2,000 documents while routers, connectors, the submit
# leader, PostgreSQL and clamd are killed, then `lienthong reconcile`; about 2 minutes on two
# idle cores) and the three-broker cluster under broker faults (about 2 minutes), with the
# stalls measured and printed. Each runs a stack of its own. LIENTHONG_FAULT_SEED=N replays a
# schedule. Part of `make test`.
faults: $(STAMP)
	$(BIN)/pytest tests/faults tests/integration/test_cluster.py -m "faults or kafka" -s

# The long schedule: 10,000 documents, every kind of fault four times (about 9 minutes).
soak: $(STAMP)
	LIENTHONG_FAULT_SCHEDULE=soak $(BIN)/pytest tests/faults -m faults -s

# The decoders' fuzz harnesses for longer than CI gives them (tests/fuzz, the `fuzz` profile).
fuzz: $(STAMP)
	LIENTHONG_FUZZ_PROFILE=fuzz $(BIN)/pytest tests/fuzz -m fuzz --timeout=3600

# Speed is measured here, never asserted in tests: results go to bench-results/.
# LIENTHONG_BENCH_QUICK=1 scales the router's cases down (a minute or two instead of ~10).
bench: $(STAMP)
	$(BIN)/python -m tests.bench.signing
	$(BIN)/python -m tests.bench.router
	$(BIN)/python -m tests.bench.policy

# The router next to Kafka's own perf tools: bench-results/router.{json,md,png}, docs/performance.png.
bench-router: $(STAMP)
	$(BIN)/python -m tests.bench.router

up: $(STAMP)
	$(BIN)/lienthong dev up

down: $(STAMP)
	$(BIN)/lienthong dev down

status: $(STAMP)
	$(BIN)/lienthong dev status

clean: $(STAMP)
	$(BIN)/lienthong dev down --wipe
	rm -rf $(VENV)
