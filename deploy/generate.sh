#!/usr/bin/env bash
# Regenerates every generated file the compose stack mounts, from deploy/driftline.yaml:
# Grafana dashboards + provisioning, and the Prometheus rules about the monitor (with their
# promtool unit tests). tests/test_compose.py fails when these files are out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
DRIFTLINE="${DRIFTLINE:-driftline}"
[ -x .venv/bin/driftline ] && DRIFTLINE="${DRIFTLINE_BIN:-.venv/bin/driftline}"
CONFIG=deploy/driftline.yaml

rm -f deploy/grafana/dashboards/*.json
"$DRIFTLINE" grafana dashboards -c "$CONFIG" --out deploy/grafana/dashboards
"$DRIFTLINE" grafana provisioning --out deploy/grafana/provisioning \
  --prometheus-url http://prometheus:9090 \
  --dashboards-path /var/lib/grafana/dashboards/driftline \
  --folder driftline --scrape-interval 15s
"$DRIFTLINE" prometheus rules -c "$CONFIG" --job driftline \
  --out deploy/prometheus/rules/driftline.rules.yml \
  --tests deploy/prometheus/rules/driftline.rules_test.yml
