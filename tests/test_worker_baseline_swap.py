"""A baseline swapped in a running worker (issue 15, must-show 2).

The worker reads its baseline file; events stream in; mid-stream the file is replaced, first
with a file that is not a baseline, then with one built for other features (both rejected and
counted, the running baseline stays), then with a new baseline. Windows closed before the swap
carry the old version, windows closed after it (also the one that was open at the swap) carry
the new one and are evaluated against it (its own bins: the live windows are re-binned); every
window x cohort is published exactly once with the exact count of what was produced. A restart
then starts with the new baseline and restores the state profiled on the old bins; with polling
off, SIGHUP makes it check the file.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.sketches.bins import numeric_bin_labels
from driftline.sketches.evaluate import QUANTILE_LEVELS
from driftline.stream.config.model import load_config
from driftline.stream.demo.workloads import generate, to_json_lines
from driftline.stream.sources.baselines import build_baseline, save_baseline
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    Worker,
    exact_counts,
    free_port,
    metric_samples,
    observed_counts,
    produce_partitioned,
    read_topic,
    scrape,
    wait_for_windows,
    write_config,
)

START = 1_700_000_000.0
WINDOW = 10.0
SWAP_AT = START + 35.0  # in the middle of window 3: open while the baseline is swapped
SENTINEL = START + 600.0  # one event per partition: moves the watermarks past window 5


def _config(kafka: Any, path: Path, topic: str, address: str, baseline: Path,
            features: list[dict[str, str]] | None = None, interval: str = "0.2s") -> Path:
    return write_config(path, {
        "monitor": topic,
        "source": {"kafka": {**kafka.source_config([topic]), "checkpoint_interval": "0.5s"},
                   "event_time": {"field": "ts", "unit": "s"}},
        "features": features or [{"name": "x_normal", "type": "numeric"},
                                 {"name": "channel", "type": "categorical"}],
        "segments": ["region"],
        # idle partitions do not close the window open at the swap: only events do
        "windows": {"size": "10s", "allowed_lateness": "0s", "idle_timeout": "60s"},
        "baseline": str(baseline),
        "baseline_reload": {"interval": interval},
        "metrics": {"listen": address},
        "state_dir": str(path.parent / "state"),
    })


def _baseline_metrics(address: str) -> dict[str, Any]:
    text = scrape(address)
    return {
        "versions": {s["version"]: v for s, v in metric_samples(text, "driftline_baseline_info")},
        "swaps": sum(v for _, v in metric_samples(text, "driftline_baseline_swaps_total")),
        "rejected": {s["reason"]: v for s, v in metric_samples(
            text, "driftline_baseline_rejected_total")},
    }


def _training(tmp_path: Path, name: str, seed: int, magnitude: float) -> Path:
    w = generate(6000, seed=seed, scenario="abrupt_shift", change_at=0, magnitude=magnitude)
    p = tmp_path / f"{name}.jsonl"
    p.write_bytes(b"\n".join(to_json_lines(w)))
    return p


def test_swap_mid_stream_changes_the_version_and_loses_no_window(kafka: Any,
                                                                  tmp_path: Path) -> None:
    topic = kafka.create_topic(kafka.unique_topic("swap"), partitions=4)
    address = f"127.0.0.1:{free_port()}"
    live = tmp_path / "baseline.dlb"
    cfg_path = _config(kafka, tmp_path / "cfg.yaml", topic, address, live)
    cfg = load_config(cfg_path)
    old = build_baseline(cfg, _training(tmp_path, "old", 1, 0.0), min_cohort_rows=500)
    # built from other data with its own bins: the live windows (profiled on the old bins)
    # are re-binned onto them
    new = build_baseline(cfg, _training(tmp_path, "new", 2, 1.0), min_cohort_rows=500)
    assert new.schema.fingerprint != old.schema.fingerprint
    other_cfg = load_config(_config(kafka, tmp_path / "other.yaml", topic, address, live,
                                    [{"name": "x_normal", "type": "numeric"}]))
    other = build_baseline(other_cfg, _training(tmp_path, "other", 3, 0.0), min_cohort_rows=500)
    assert len({old.version, new.version, other.version}) == 3
    save_baseline(old, live)
    old_file = live.read_bytes()

    w = generate(12_000, seed=7, events_per_second=200.0, start_ts=START)  # windows 0..5
    ts = w.columns["ts"]
    lines = to_json_lines(w)
    before = ts < SWAP_AT
    sentinels = [orjson.dumps({"ts": SENTINEL, "x_normal": 0.0, "channel": "web",
                               "region": "eu"})] * 4
    expected = exact_counts(ts, WINDOW, {"region": w.columns["region"]})
    first = {k for k in expected if k[0] + WINDOW <= SWAP_AT - 5}  # windows 0..2

    worker = Worker(cfg_path, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        assert _baseline_metrics(address)["versions"] == {old.version: 1.0}
        produce_partitioned(kafka.bootstrap, topic, [v for v, b in zip(lines, before, strict=True)
                                                     if b], 4)
        results_topic = str(cfg.kafka.results_topic)
        wait_for_windows(kafka.bootstrap, results_topic, first, "10s", timeout=90)

        live.write_bytes(b"not a baseline at all")
        wait_until(lambda: _baseline_metrics(address)["rejected"].get("unreadable") == 1,
                   30, 0.1, "the unreadable file rejected")
        save_baseline(other, live)
        wait_until(lambda: _baseline_metrics(address)["rejected"].get("incompatible") == 1,
                   30, 0.1, "the baseline of other features rejected")
        assert _baseline_metrics(address)["versions"] == {old.version: 1.0}  # the old one stays
        save_baseline(new, live)
        wait_until(lambda: _baseline_metrics(address)["versions"] == {new.version: 1.0},
                   30, 0.1, "the new baseline swapped in")

        produce_partitioned(kafka.bootstrap, topic, [v for v, b in zip(lines, before, strict=True)
                                                     if not b] + sentinels, 4)
        results = wait_for_windows(kafka.bootstrap, results_topic, set(expected), "10s",
                                   timeout=90)
        metrics = _baseline_metrics(address)
        assert metrics["swaps"] == 1.0
        assert metrics["rejected"] == {"unreadable": 1.0, "incompatible": 1.0}
        assert worker.alive(), worker.tail()
    finally:
        assert worker.terminate() == 0, worker.tail()
    log = worker.output()
    assert f"baseline swapped: version {old.version} -> {new.version}" in log
    assert log.count("baseline rejected (unreadable)") == 1
    assert log.count("baseline rejected (incompatible)") == 1

    # every window x cohort exactly once, with the exact count
    published: Counter[tuple[float, str, str]] = Counter()
    for rec in read_topic(kafka.bootstrap, results_topic):
        r = orjson.loads(rec.value)
        if r["tier"] == "10s" and r["start_ts"] < SENTINEL:
            published[(r["start_ts"], r["segment"], r["cohort"])] += 1
    assert set(published) == set(expected)
    assert set(published.values()) == {1}
    got = observed_counts(results, "10s")
    assert {k: v for k, v in got.items() if k[0] < SENTINEL} == expected
    assert sum(v for (s, seg, _), v in expected.items() if seg == "all") == len(ts)

    # the version in every record, and the evaluation really used that baseline
    for key, rec in results.items():
        if key[0] != "10s" or key[1] >= SENTINEL:
            continue
        base = old if (key[1], key[2], key[3]) in first else new
        assert rec["baseline"]["version"] == base.version, key
        assert rec["baseline"]["location"] == str(live)
        if key[2] == "all":
            x = next(f for f in rec["features"] if f["name"] == "x_normal")
            want = base.global_profile["x_normal"].kll_quantiles(QUANTILE_LEVELS)
            assert np.allclose(x["quantiles"]["baseline"], want, rtol=0, atol=0), key
            assert x["bins"]["exact"] is (base is old), key  # re-binned after the swap
            assert x["bins"]["labels"] == list(numeric_bin_labels(
                base.schema["x_normal"].edges)), key  # type: ignore[union-attr]

    # a restart starts with the current baseline, and restores the state written on the old
    # bins (the window of the sentinels is still open in it); without polling, SIGHUP swaps
    quiet = _config(kafka, tmp_path / "quiet.yaml", topic, address, live, interval="0s")
    again = Worker(quiet, tmp_path / "worker-2.log")
    try:
        again.wait_ready()
        assert _baseline_metrics(address)["versions"] == {new.version: 1.0}
        wait_until(lambda: "(4 restored from checkpoints)" in again.output(), 60, 0.1,
                   "the source partitions restored")
        assert "live windows keep the bins of the monitor's state" in again.output()
        tmp = live.with_name("old.tmp")
        tmp.write_bytes(old_file)
        tmp.replace(live)
        again.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: _baseline_metrics(address)["versions"] == {old.version: 1.0},
                   30, 0.1, "the baseline swapped on SIGHUP")
        assert again.alive()
    finally:
        assert again.terminate() == 0, again.tail()
