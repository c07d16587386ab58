#!/usr/bin/env bash
# Installs what the test suite runs for real: Prometheus, Alertmanager and Chromium (Debian
# packages) and the Apache Kafka broker jars (Maven Central). Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
# Validates docker-compose.yml in the tests (no Docker engine is needed for `config`).
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
# Renders the HTML report in the tests (headless, driven through the DevTools protocol).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The Java-client producer of the Kafka tests is compiled in the test set-up (javac, JDK 17).
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Debian's postinst tries to start the services; the tests start their own on loopback ports.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi

bash scripts/kafka.sh fetch
