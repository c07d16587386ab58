"""SASL/SCRAM end to end: the password comes only from the environment variable the config
names, every client (admin, probes, kafka-python and bulk producers) authenticates with it, and it
never shows up in output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftline.stream.config.model import load_config
from driftline.stream.kafka.probes import end_offsets, latest_topic_timestamps
from driftline.stream.kafka.producer import Producer
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.kafka

PASSWORD_ENV = "DRIFTLINE_TEST_KAFKA_PASSWORD"


def _config(tmp_path: Path, section: dict) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "monitor": "sasl-test",
        "source": {"kafka": section},
        "features": [{"name": "amount", "type": "numeric"}],
    }))
    return path


def _produce(config: Path, events: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "driftline.stream", "produce", "-c", str(config),
         "--file", str(events)],
        capture_output=True, text=True, timeout=120, env=env,
    )


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_produce_and_probes_over_scram(kafka, tmp_path: Path, mechanism: str) -> None:
    topic = kafka.unique_topic("sasl")
    config = _config(tmp_path, kafka.sasl_source_config([topic], PASSWORD_ENV, mechanism))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"amount": i}) + "\n" for i in range(50)))
    env = {**os.environ, PASSWORD_ENV: kafka.sasl_password}

    proc = _produce(config, events, env)
    assert proc.returncode == 0, proc.stderr
    assert f"produced 50 events to {topic}" in proc.stdout
    assert kafka.sasl_password not in proc.stdout + proc.stderr
    assert sum(kafka.end_offsets(topic).values()) == 50  # the same broker, plaintext side

    client = load_config(config).kafka.client_kwargs(env)
    assert client["sasl_plain_password"] == kafka.sasl_password
    with Producer(client) as producer:
        producer.send(topic, b'{"amount": 51}')
    assert producer.delivered == 1
    assert sum(end_offsets(client, [topic]).values()) == 51
    assert latest_topic_timestamps(client, [topic])[topic] is not None

    # the worker's librdkafka consumer authenticates with the same settings
    import confluent_kafka

    from driftline.stream.kafka.consumer_rdkafka import rdkafka_config

    conf = rdkafka_config(load_config(config).kafka, env)
    consumer = confluent_kafka.Consumer({**conf, "group.id": f"{topic}-rdk",
                                         "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        got: list[bytes] = []
        wait_until(lambda: got.extend(m.value() for m in consumer.consume(100, 0.5)
                                      if m.error() is None) or len(got) >= 51,
                   60, 0.0, "51 records over SASL with librdkafka")
    finally:
        consumer.close()


def test_missing_password_variable_is_a_config_error(kafka, tmp_path: Path) -> None:
    config = _config(tmp_path, kafka.sasl_source_config([kafka.unique_topic("sasl")],
                                                        PASSWORD_ENV))
    events = tmp_path / "events.jsonl"
    events.write_text('{"amount": 1}\n')
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    proc = _produce(config, events, env)
    assert proc.returncode == 2
    assert PASSWORD_ENV in proc.stderr
