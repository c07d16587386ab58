"""Live model quality on a real broker: two label workers, one killed with SIGKILL mid-stream,
publish per window x cohort ``performance`` records on the results topic (pending -> maturing ->
matured) whose matured counts and metrics equal numpy/scipy on the raw data; a covariate shift
pages (``check: performance``) through the alert webhook; the retraining triggers reach a
webhook and a Kafka topic as the same JSON event; /metrics show the merged performance."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

from driftline.stream.config.model import load_config
from driftline.stream.sources.baselines import build_baseline, load_baseline, save_baseline
from tests.fixtures.waiting import stop_process, wait_until
from tests.helpers_kafka_worker import metric_samples, read_topic, scrape, write_config
from tests.test_labels_kafka import owned_partitions, produce

REPO = Path(__file__).resolve().parents[1]
PER_WINDOW, WINDOWS, SIZE = 800, 6, 600.0


def start(cfg: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "driftline.stream", "labels", "run", "-c",
                                 str(cfg)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO), **env},
                                cwd=str(REPO))


def produce_timeline(kafka: Any, rows: list[tuple[str, int, dict[str, Any], float]]) -> None:
    """(topic, partition, value, time) rows sent in time order by one producer."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
    for topic, part, row, _ in sorted(rows, key=lambda r: r[3]):
        producer.send(topic, orjson.dumps(row), partition=part)
    producer.flush(timeout=30)
    producer.close(timeout=10)


def rows(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(y | x) = sigmoid(2x); the score is that probability rounded to 0.001."""
    p = np.round(1 / (1 + np.exp(-2 * x)), 3)
    return p, (rng.uniform(0, 1, x.shape[0]) < p).astype(int)


def test_live_performance_records_alerts_and_retraining(kafka: Any, tmp_path: Path,
                                                        webhook_receiver: Any) -> None:
    rng = np.random.default_rng(5)
    train_x = rng.normal(0, 1.5, 20_000)
    train_s, train_y = rows(rng, train_x)
    train = tmp_path / "train.jsonl"
    train.write_bytes(b"\n".join(orjson.dumps(
        {"ts": float(i), "request_id": f"t{i}", "x": float(train_x[i]),
         "region": "eu" if i % 2 else "us", "score": float(train_s[i]),
         "repaid": int(train_y[i])}) for i in range(train_x.shape[0])))
    preds = kafka.create_topic(kafka.unique_topic("preds"), partitions=2)
    labs = kafka.create_topic(kafka.unique_topic("labels"), partitions=2)
    retrain = kafka.create_topic(kafka.unique_topic("retrain"))
    raw = {
        "monitor": kafka.unique_topic("live"),
        "source": {"kafka": kafka.source_config([preds]), "event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}], "segments": ["region"],
        "compare": {"segment": "region", "reference": "us"},  # eu against us, same window
        "windows": {"size": "10m"}, "metrics": {"listen": "127.0.0.1:0"},
        "state_dir": str(tmp_path / "state"),
        "model": {"prediction": "score", "id": "request_id"},
        "labels": {"topic": labs, "id": "request_id", "label": "repaid", "time": "label_ts",
                   "max_delay": "20m"},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": webhook_receiver.url}},
                   "routes": {"critical": ["hook"], "warning": ["hook"]}},
        "retraining": {"triggers": [
            {"metric": "accuracy", "threshold": 0.05, "window": "30m"},
            {"metric": "prediction_distribution_shift", "threshold": 0.1}],
            "webhook_url_env": "RETRAIN_URL", "kafka_topic": retrain}}
    cfg_path = write_config(tmp_path / "driftline.yaml", raw)
    config = load_config(cfg_path)
    base = tmp_path / "base.dlb"
    save_baseline(build_baseline(config, train), base)
    raw["baseline"] = str(base)
    cfg_path = write_config(cfg_path, raw)

    # windows 0-2 as in training, 3-5 shifted (x ~ N(0, 0.4)): accuracy falls ~0.80 -> ~0.62
    n = PER_WINDOW * WINDOWS
    ts = np.concatenate([np.sort(rng.uniform(w * SIZE, (w + 1) * SIZE, PER_WINDOW))
                         for w in range(WINDOWS)])
    x = np.concatenate([rng.normal(0, 1.5, n // 2), rng.normal(0, 0.4, n // 2)])
    score, y = rows(rng, x)
    region = rng.choice(["eu", "us"], n)
    pred_rows = [(i % 2, {"ts": float(ts[i]), "request_id": str(i), "x": float(x[i]),
                          "region": str(region[i]), "score": float(score[i])})
                 for i in range(n)]
    labelled = rng.uniform(0, 1, n) < 0.8
    delay = rng.uniform(60, 900, n)
    # both topics as a live stream writes them: in event-time order, labels locally out of
    # order (shuffled in blocks of 100, ~90 s of event time, well within max_delay)
    lab_ids = np.flatnonzero(labelled)
    lab_ids = lab_ids[np.argsort(ts[lab_ids] + delay[lab_ids], kind="stable")]
    for k in range(0, lab_ids.shape[0], 100):
        rng.shuffle(lab_ids[k:k + 100])
    lt = ts + delay
    label_rows = [(int(i) % 2, {"request_id": str(i), "repaid": int(y[i]),
                                "label_ts": float(lt[i])}) for i in lab_ids.tolist()]
    # a label of an unknown id per partition at t = 5000 moves both clocks past every
    # window's end + max_delay (4800): all windows mature
    ticks = [(p, {"request_id": f"tick-{p}", "repaid": 0, "label_ts": 5000.0}) for p in (0, 1)]
    cut = 1500.0  # phase 1: the events before it; the rest after the kill (a backlog of both)

    produce(kafka, preds, [r for r in pred_rows if r[1]["ts"] < cut])
    produce(kafka, labs, [r for r in label_rows if r[1]["label_ts"] < cut])
    logs = tmp_path / "workers.log"
    env = {"RETRAIN_URL": webhook_receiver.url}
    a, b = start(cfg_path, logs, env), start(cfg_path, logs, env)
    try:
        def owned(pid: int) -> set[int]:
            return owned_partitions(logs, pid)

        want = int((labelled & (ts < 600)).sum())  # window 0's labels: all before the cut

        def first_windows() -> bool:  # window 0 closed and maturing with all its labels
            return len(owned(a.pid)) == len(owned(b.pid)) == 1 and any(
                r["start_ts"] == 0.0 and r["segment"] == "all"
                and r["performance"]["status"] == "maturing"
                and r["performance"]["labeled"] == want for r in results())

        def results() -> list[dict[str, Any]]:
            out = []
            for rec in read_topic(kafka.bootstrap, str(config.kafka.results_topic)):
                r = orjson.loads(rec.value)
                assert r["type"] == "performance"
                assert rec.key.decode() == (f"10m|{r['start_ts']:.0f}|{r['segment']}|"
                                            f"{r['cohort']}|performance|"
                                            f"{r['performance']['status']}")
                out.append(r)
            return out

        wait_until(first_windows, timeout=60, interval=0.5,
                   message="each worker owns a partition and window 0 is maturing")
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        # the rest as a live stream writes it: both topics advance together in event time
        produce_timeline(kafka, [(preds, *r, r[1]["ts"]) for r in pred_rows
                                 if r[1]["ts"] >= cut]
                         + [(labs, *r, r[1]["label_ts"]) for r in label_rows + ticks
                            if r[1]["label_ts"] >= cut])

        cohorts = [("all", "all"), ("region", "eu"), ("region", "us")]

        def matured() -> dict[tuple[float, str, str], dict[str, Any]] | None:
            final: dict[tuple[float, str, str], dict[str, Any]] = {}
            for r in results():
                if r["performance"]["status"] == "matured":
                    key = (r["start_ts"], r["segment"], r["cohort"])
                    if key in final:  # a round repeated after the kill: the same counts
                        assert final[key]["performance"] == r["performance"]
                    final[key] = r
            return final if len(final) == WINDOWS * len(cohorts) else None

        final = wait_until(matured, timeout=60, interval=0.5,
                           message="every window x cohort matured on the results topic")
        statuses: dict[tuple[float, str, str], set[str]] = {}
        for r in results():
            statuses.setdefault((r["start_ts"], r["segment"], r["cohort"]), set()).add(
                r["performance"]["status"])
        for w in range(WINDOWS):
            start_ts = w * SIZE
            rows_w = (ts >= start_ts) & (ts < start_ts + SIZE)
            for seg, cohort in cohorts:
                assert statuses[(start_ts, seg, cohort)] <= {"pending", "maturing", "matured"}
                assert "matured" in statuses[(start_ts, seg, cohort)]
                rows_c = rows_w if seg == "all" else rows_w & (region == cohort)
                perf = final[(start_ts, seg, cohort)]["performance"]
                j = np.flatnonzero(rows_c & labelled)
                s, yy = score[j], y[j]
                assert (perf["predictions"], perf["labeled"]) == (int(rows_c.sum()), j.shape[0])
                real = perf["realized"]
                assert real["accuracy"] == pytest.approx(np.mean((s >= 0.5) == (yy == 1)),
                                                         abs=1e-12)
                assert real["brier"] == pytest.approx(np.mean((yy - s) ** 2), abs=1e-12)
                auc = stats.mannwhitneyu(s[yy == 1], s[yy == 0]).statistic / (
                    (yy == 1).sum() * (yy == 0).sum())
                assert abs(real["roc_auc"] - auc) <= real["roc_auc_error_bound"] + 1e-12
                assert perf["estimated"]["accuracy"] is not None
            # compare: the eu record carries its drop below us of the same window
            acc = {}
            for c in ("eu", "us"):
                j = np.flatnonzero(rows_w & labelled & (region == c))
                acc[c] = (float(np.mean((score[j] >= 0.5) == (y[j] == 1))), j.shape[0])
            against = final[(start_ts, "region", "eu")]["performance"]["against"]
            assert (against["reference"], against["effective_n"]) == ("cohort:us", acc["us"][1])
            assert against["realized"]["accuracy"] == pytest.approx(acc["us"][0], abs=1e-12)
            assert against["drop"]["accuracy"] == pytest.approx(acc["us"][0] - acc["eu"][0],
                                                                abs=1e-12)
            assert "against" not in final[(start_ts, "region", "us")]["performance"]
            assert "against" not in final[(start_ts, "all", "all")]["performance"]

        # `driftline report` reads the same records back into the report's cohorts
        from driftline.stream.report.topic import read_results

        report = read_results(config, 0.0, WINDOWS * SIZE)
        assert {(w["start_ts"], c["segment"], c["cohort"]): c["performance"]
                for w in report["windows"] for c in w["cohorts"]} == {
            k: r["performance"] for k, r in final.items()}

        # the shift pages: estimated when window 3 closes, realized when it matures
        def paged() -> set[tuple[str, str]] | None:
            got = {(e["feature"], e["window"]) for e in webhook_receiver.accepted()
                   if e.get("check") == "performance" and e.get("state") == "firing"}
            return got if len(got) == 2 else None

        assert wait_until(paged, timeout=30, message="performance alerts on the webhook") == {
            ("estimated", "10m"), ("realized", "10m+labels")}
        # as drift alerts: against the training baseline, naming the version it was loaded at
        version = load_baseline(base).version
        assert {(e["reference"], e.get("baseline_version")) for e in webhook_receiver.accepted()
                if e.get("check") == "performance"} == {("training", version)}
        # retraining: the same events on the webhook and the Kafka topic, each trigger once
        events = [e for e in webhook_receiver.accepted() if e.get("type") == "retraining_trigger"]
        on_kafka = [(m.key, orjson.loads(m.value)) for m in read_topic(kafka.bootstrap, retrain)]
        assert sorted(e["metric"] for e in events) == ["accuracy",
                                                       "prediction_distribution_shift"]
        assert sorted(on_kafka, key=lambda kv: kv[1]["id"]) == [
            (config.monitor.encode(), e) for e in sorted(events, key=lambda e: e["id"])]
        acc = next(e for e in events if e["metric"] == "accuracy")
        pooled = ((ts >= acc["window"]["start_ts"]) & (ts < acc["window"]["end_ts"])
                  & labelled)
        assert acc["details"]["labeled"] == int(pooled.sum())
        assert acc["details"]["accuracy"] == pytest.approx(
            np.mean((score[pooled] >= 0.5) == (y[pooled] == 1)), abs=1e-12)
        # the survivor owns the merger now: its /metrics show the newest matured window
        url = re.search(rf"label worker {b.pid}: metrics on http://(\S+)/metrics",
                        logs.read_text())
        assert url is not None
        last = final[((WINDOWS - 1) * SIZE, "all", "all")]["performance"]

        def served() -> bool:  # the survivor may take the merger over after the records came
            nonlocal body
            body = scrape(url.group(1))
            return any(s["kind"] == "realized" and s["segment"] == "all"
                       and s["window"] == "10m" and v == pytest.approx(
                           last["realized"]["accuracy"]) and s["metric"] == "accuracy"
                       for s, v in metric_samples(body, "driftline_model_performance"))

        body = ""
        wait_until(served, timeout=60, interval=0.5,
                   message="the merged realized accuracy on /metrics")
        got = {(s["kind"], s["metric"]): v for s, v in
               metric_samples(body, "driftline_model_performance")
               if s["segment"] == "all" and s["window"] == "10m"}
        assert got[("realized", "accuracy")] == pytest.approx(last["realized"]["accuracy"])
        cov = {s["cohort"]: v for s, v in metric_samples(body, "driftline_label_coverage")
               if s["segment"] == "all"}
        assert cov["all"] == pytest.approx(last["coverage"])
        refs = metric_samples(body, "driftline_model_performance_reference")
        assert any(s["metric"] == "accuracy" for s, _ in refs)
    finally:
        for p in (a, b):
            if p.poll() is None:
                stop_process(p, timeout=20)


def test_feature_drift_retraining_trigger_of_driftline_run(kafka: Any, tmp_path: Path,
                                                           webhook_receiver: Any) -> None:
    """``driftline run`` evaluates feature_drift_psi triggers: the event reaches the webhook and
    the Kafka topic once, with the window's PSI; the cooldown survives a restart."""
    import asyncio

    from driftline.stream.kafka.runtime import Runtime

    rng = np.random.default_rng(8)
    train = tmp_path / "train.jsonl"
    train.write_bytes(b"\n".join(orjson.dumps({"ts": float(i), "x": float(v)})
                                 for i, v in enumerate(rng.normal(0, 1, 5000))))
    topic = kafka.create_topic(kafka.unique_topic("events"))
    retrain = kafka.create_topic(kafka.unique_topic("retrain"))
    config = load_config(write_config(tmp_path / "driftline.yaml", {
        "monitor": kafka.unique_topic("psi"),
        "source": {"kafka": kafka.source_config([topic]), "event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}],
        "windows": {"size": "10s", "allowed_lateness": "0s", "idle_timeout": "1s"},
        "drift": {"min_samples": 100}, "state_dir": str(tmp_path / "state"),
        "retraining": {"triggers": [{"metric": "feature_drift_psi", "threshold": 0.2,
                                     "features": ["x"]}],
                       "webhook_url_env": "RETRAIN_URL", "kafka_topic": retrain}}))
    base = build_baseline(config, train)
    # window 0 as in training, windows 1-3 shifted by 2 standard deviations
    x = np.concatenate([rng.normal(0, 1, 300), rng.normal(2, 1, 900)])
    ts = 1_700_000_000.0 + np.repeat(np.arange(4) * 10.0, 300) + np.tile(
        np.linspace(0, 9.9, 300), 4)
    rows = [orjson.dumps({"ts": float(t), "x": float(v)}) for t, v in zip(ts, x, strict=True)]

    def published(start: float) -> bool:
        return any(orjson.loads(m.value)["start_ts"] == start
                   for m in read_topic(kafka.bootstrap, str(config.kafka.results_topic)))

    async def run(until: float) -> None:
        rt = Runtime(config, base, session_timeout_s=6.0, announce=lambda _line: None,
                     environ={"RETRAIN_URL": webhook_receiver.url})
        await rt.start()
        try:
            deadline = asyncio.get_running_loop().time() + 40
            while not await asyncio.to_thread(published, until):
                assert asyncio.get_running_loop().time() < deadline, "window not published"
                await asyncio.sleep(0.2)
        finally:
            await rt.stop()  # the round that published it (and its trigger) completes first

    kafka.produce(topic, rows[:900])
    asyncio.run(run(ts[300]))  # window 1 (shifted) closes: the trigger fires
    kafka.produce(topic, rows[900:])
    asyncio.run(run(ts[900]))  # after a restart window 3 drifts too: quiet (cooldown 7 d)
    results = {(r["start_ts"], r["segment"]): r for r in
               (orjson.loads(m.value) for m in read_topic(kafka.bootstrap,
                                                          str(config.kafka.results_topic)))}
    psi = next(f["psi"] for f in results[(ts[300], "all")]["features"] if f["name"] == "x")
    events = [e for e in webhook_receiver.accepted() if e.get("type") == "retraining_trigger"]
    assert [(e["metric"], e["window"]["start_ts"], e["value"]) for e in events] == [
        ("feature_drift_psi", ts[300], psi)]
    assert events[0]["details"] == {"psi": {"x": psi}}
    on_kafka = [(m.key, orjson.loads(m.value)) for m in read_topic(kafka.bootstrap, retrain)]
    assert on_kafka == [(config.monitor.encode(), events[0])]
