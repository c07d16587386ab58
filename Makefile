# The two commands of the README: `make demo` runs the product, `make test` runs the tests.
# Both install what they need on a fresh machine (Python venv; for tests also Kafka, Prometheus
# and Alertmanager).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install test-env lint bench

# the install also builds stream._jsoncols (Rust, the decoder's fast path) when cargo is there
$(BIN)/driftline: pyproject.toml stream/jsoncols/Cargo.toml $(wildcard stream/jsoncols/src/*.rs)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/driftline

demo: install
	$(BIN)/driftline demo

test-env:
	bash scripts/setup-test-env.sh

test: install test-env
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check sketches stream alerts grafana tests bench
	$(BIN)/mypy sketches stream alerts grafana

bench: install
	$(BIN)/python -m bench.run
