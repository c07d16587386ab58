"""The dashboards against the real deployment shape: ``driftline run`` consuming a real Kafka
topic (two partitions) of the demo payments stream, scraped by a real Prometheus. Every panel
query of every dashboard — including consumer lag and the DLQ, which only exist under Kafka —
returns series with all variables on All."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from driftline.grafana.dashboards import build_dashboards
from driftline.grafana.interpolate import ALL, interpolate, variables_of
from driftline.stream.cli import app
from driftline.stream.config.model import load_config
from driftline.stream.demo.generator import PaymentsGenerator, encode_events
from tests.fixtures.prometheus import free_port, start_prometheus
from tests.fixtures.receivers import SlackReceiver, _serve
from tests.fixtures.waiting import stop_process, wait_until

REPO = Path(__file__).resolve().parents[1]
WINDOWS = 16
EVENTS_PER_WINDOW = 1500

pytestmark = [pytest.mark.prometheus, pytest.mark.kafka]


def _write_config(tmp: Path, kafka: Any, topic: str, port: int, slack_env: str) -> Path:
    data = yaml.safe_load((REPO / "stream" / "demo" / "data" / "demo.yaml").read_text())
    data["source"]["kafka"] = kafka.source_config([topic])
    data["baseline"] = str(tmp / "baseline.dlb")
    data["state_dir"] = str(tmp / "state")
    data["metrics"] = {"listen": f"127.0.0.1:{port}"}
    data["freshness"].append({"topic": topic, "max_staleness": "2m"})
    data["alerts"] = {"channels": {"slack": {"type": "slack", "webhook_url_env": slack_env}},
                      "routes": {"critical": ["slack"], "warning": ["slack"]}}
    path = tmp / "driftline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_panel_query_returns_series_from_a_kafka_worker(kafka: Any, tmp_path: Path) -> None:
    topic = kafka.create_topic(kafka.unique_topic("payments"), partitions=2)
    port = free_port()
    slack = SlackReceiver()
    _serve(slack)
    config = _write_config(tmp_path, kafka, topic, port, "DRIFTLINE_TEST_SLACK_URL")
    cfg = load_config(config)

    now = time.time()
    gen = PaymentsGenerator(seed=3, events_per_window=EVENTS_PER_WINDOW,
                            window_seconds=cfg.windows.size,
                            start=now - (WINDOWS + 1) * cfg.windows.size)
    cols = gen.training(30_000)
    ts = gen.start - 86_400 + np.sort(np.random.default_rng(1).random(30_000)) * 86_400
    train = tmp_path / "train.jsonl"
    train.write_bytes(b"\n".join(encode_events(cols, ts)) + b"\n")
    built = CliRunner().invoke(app, ["baseline", "build", "-c", str(config), "--data",
                                     str(train), "-o", str(tmp_path / "baseline.dlb"),
                                     "--min-cohort-rows", "2000"])
    assert built.exit_code == 0, built.output

    prometheus = start_prometheus(tmp_path / "prometheus", [f"127.0.0.1:{port}"])
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["DRIFTLINE_TEST_SLACK_URL"] = slack.webhook_url
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "driftline.stream", "run", "-c", str(config)],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=env, cwd=tmp_path)
    try:
        for i in range(WINDOWS):
            kafka.produce(topic, gen.window(i).values)

        def worker_alive() -> None:
            if worker.poll() is not None:
                raise RuntimeError((tmp_path / "worker.log").read_text(errors="replace")[-3000:])

        empty: list[str] = []

        def nothing_empty() -> bool:
            worker_alive()
            empty.clear()
            end = time.time()
            for name, d in build_dashboards(cfg).items():
                variables = variables_of(d)
                selection = {"monitor": cfg.monitor, "window": cfg.windows.tiers[0],
                             "reference": ALL, "feature": ALL, "segment": ALL, "cohort": ALL}
                exprs = [(p["title"], t["expr"]) for p in d["panels"]
                         for t in p.get("targets", [])]
                exprs += [(a["name"], a["expr"]) for a in d["annotations"]["list"]
                          if "ALERTS" not in a["expr"]]
                for title, expr in exprs:
                    query = interpolate(expr, variables, selection, scrape_interval=1.0,
                                        interval=1.0, range_seconds=120)
                    if not prometheus.query_range(query, end - 120, end, 1.0):
                        empty.append(f"{name}: {title}: {query}")
            return not empty

        try:
            wait_until(nothing_empty, 150, 2.0, "every panel query returning series")
        except TimeoutError:
            pytest.fail("panels without data under Kafka:\n" + "\n".join(empty))
        lag = prometheus.query(f'driftline_consumer_lag_records{{topic="{topic}"}}')
        assert {s["metric"]["partition"] for s in lag} == {"0", "1"}
    finally:
        stop_process(worker, 20)
        log.close()
        prometheus.stop()
        slack.stop()
