# The two commands of the README: `make demo` runs the product, `make test` runs the tests.
# Both install what they need on a fresh machine (Python venv; for tests also Kafka, Prometheus
# and Alertmanager).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install test-env lint bench

# the install also builds driftline.stream.decode._jsoncols (Rust, the fast decoder),
# driftline.sketches._native (Rust, the window evaluation's KS / Wasserstein kernel) and
# driftline.stream.kafka._rdfetch (Rust, the librdkafka consumer's fetch) with cargo
$(BIN)/driftline: pyproject.toml setup.py stream/decode/jsoncols/Cargo.toml $(wildcard stream/decode/jsoncols/src/*.rs) \
		sketches/native/Cargo.toml $(wildcard sketches/native/src/*.rs) \
		stream/kafka/rdfetch/Cargo.toml $(wildcard stream/kafka/rdfetch/src/*.rs)
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
	$(BIN)/pytest -q tests/test_lint.py tests/test_layers.py

bench: install
	$(BIN)/python -m bench.run
