"""Baseline versions, the checks a new baseline passes before a worker uses it (from a file or
a real local HTTP server with ETags), SIGHUP, the live bins pinned in the checkpoint topic (real
broker), and ``driftline baseline diff`` against a direct computation on the same data."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp
from typer.testing import CliRunner

from driftline.alerts.model import AlertEvent
from driftline.alerts.render import alertmanager_alerts, facts
from driftline.sketches.baseline import Baseline
from driftline.sketches.column import Column
from driftline.sketches.schema import CategoricalSpec, NumericSpec, ProfileSchema
from driftline.stream.cli import app
from driftline.stream.cli.preflight import preflight
from driftline.stream.config.model import parse_config
from driftline.stream.config.types import ConfigError
from driftline.stream.engine.core import Engine, RecordBatch
from driftline.stream.kafka.admin import ensure_topics
from driftline.stream.kafka.baseline_swap import BaselineSwaps
from driftline.stream.kafka.checkpoint import CheckpointStore, checkpoint_topic_spec
from driftline.stream.kafka.live_schema import pinned_schema
from driftline.stream.monitor.measurements import to_measurements
from driftline.stream.sources.baseline_watch import (
    BaselineLocation,
    BaselineRejected,
    BaselineWatcher,
)
from driftline.stream.sources.baselines import load_baseline, save_baseline

CFG = {"monitor": "m", "features": [{"name": "x", "type": "numeric"},
                                    {"name": "c", "type": "categorical"}],
       "segments": ["r"], "metrics": {"listen": None}}


def _build(seed: int, shift: float, cats: list[str], segments: tuple[str, ...] = ("r",),
           edges_from: Baseline | None = None, rows: int = 6000) -> tuple[Baseline, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, rows)
    c = rng.choice(np.array(cats, dtype=object), rows)
    r = np.where(np.arange(rows) % 3 == 0, "us", "eu").astype(object)
    spec = NumericSpec("x") if edges_from is None else NumericSpec(
        "x", edges=edges_from.schema["x"].edges)  # type: ignore[union-attr]
    b = Baseline.build([spec, CategoricalSpec("c")], {"x": Column(x), "c": Column(c)},
                       segments={s: r for s in segments}, min_cohort_rows=1000,
                       meta={"segment_rows": {s: {} for s in segments}})
    return b, (x, c, r)


def test_version_is_the_content_hash_of_the_file(tmp_path: Path) -> None:
    old, _ = _build(1, 0.0, ["a", "b"])
    path = tmp_path / "b.dlb"
    save_baseline(old, path)
    loaded = load_baseline(path)
    assert loaded.version == old.version == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert loaded.location == str(path)
    again, _ = _build(1, 0.0, ["a", "b"])
    assert again.version != old.version  # built at another time: another baseline


class _Store:
    """A real HTTP object store of one object: ETag = content hash, 304 on If-None-Match,
    the Authorization header required."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.requests: list[tuple[int, str | None]] = []
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                etag = '"' + hashlib.sha256(store.body).hexdigest() + '"'
                if self.headers.get("Authorization") != "Bearer s3cret":
                    code = 403
                elif store.status != 200:
                    code = store.status
                elif self.headers.get("If-None-Match") == etag:
                    code = 304
                else:
                    code = 200
                store.requests.append((code, self.headers.get("If-None-Match")))
                self.send_response(code)
                if code == 200:
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", str(len(store.body)))
                    self.end_headers()
                    self.wfile.write(store.body)
                else:
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fraud/baseline.dlb"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def store() -> Iterator[_Store]:
    s = _Store()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_watcher_fetches_a_url_with_etags_and_checks_every_new_baseline(store: _Store) -> None:
    cfg = parse_config({**CFG, "baseline_reload": {"url": store.url, "interval": "1s",
                                                   "auth_header_env": "BASELINE_AUTH"}})
    old, _ = _build(1, 0.0, ["a", "b"])
    store.body = old.to_bytes()
    location = BaselineLocation.from_config(cfg, {"BASELINE_AUTH": "Bearer s3cret"})
    assert location is not None
    start, tag = location.load()  # what the worker does at start
    assert start.version == old.version and start.location == store.url
    watcher = BaselineWatcher(config=cfg, location=location, current=start, tag=tag)
    assert watcher.poll() is None  # the running version: nothing to do
    assert watcher.poll() is None and store.requests[-1][0] == 304  # unchanged: not downloaded
    assert [code for code, _ in store.requests] == [200, 304, 304]  # downloaded once

    new, _ = _build(2, 0.5, ["a", "b"])
    store.body = new.to_bytes()
    swapped = watcher.poll()
    assert swapped is not None and swapped.version == new.version
    assert swapped.location == store.url

    store.body = b"\x00" * 100  # a broken upload
    with pytest.raises(BaselineRejected) as bad:
        watcher.poll()
    assert bad.value.reason == "unreadable"
    assert watcher.poll() is None  # the same broken object is not rejected twice

    other_segments, _ = _build(3, 0.0, ["a", "b"], segments=("country",))
    store.body = other_segments.to_bytes()
    with pytest.raises(BaselineRejected, match="segments only in the old baseline: r") as inc:
        watcher.poll()
    assert inc.value.reason == "incompatible"

    store.status = 503
    store.body = new.to_bytes() + b"!"  # a new ETag, so not a 304
    with pytest.raises(BaselineRejected) as down:
        watcher.poll()
    assert down.value.reason == "unreachable" and "HTTP 503" in str(down.value)
    assert watcher.current is swapped  # every rejection kept the running baseline
    codes = [code for code, _ in store.requests]
    assert codes == [200, 304, 304, 200, 200, 304, 200, 503]
    # the start asks unconditionally, every check with the last ETag (the first: the start's)
    assert [tag is None for _, tag in store.requests] == [True] + [False] * 7


def test_preflight_fetches_the_url_and_names_the_field(store: _Store) -> None:
    cfg = parse_config({**CFG, "baseline_reload": {"url": store.url,
                                                   "auth_header_env": "BASELINE_AUTH"}})
    old, _ = _build(1, 0.0, ["a", "b"])
    store.body = old.to_bytes()
    ok = preflight(cfg, command="check-config", environ={"BASELINE_AUTH": "Bearer s3cret"},
                   check_environment=False)
    assert ok.problems == [] and ok.baseline is not None
    assert ok.baseline.version == old.version
    # the watcher `driftline run` makes from it: its first check is conditional, not a download
    location = BaselineLocation.from_config(cfg, {"BASELINE_AUTH": "Bearer s3cret"})
    assert location is not None
    watcher = BaselineWatcher(config=cfg, location=location, current=ok.baseline,
                              tag=ok.baseline_tag)
    assert watcher.poll() is None
    assert [code for code, _ in store.requests] == [200, 304]
    denied = preflight(cfg, command="check-config", environ={})
    assert any(p.startswith("baseline_reload.url: cannot fetch baseline") and "HTTP 403" in p
               for p in denied.problems)
    assert ("baseline_reload.auth_header_env: environment variable BASELINE_AUTH is not set; "
            "export it") in denied.problems
    with pytest.raises(ConfigError, match="not both"):
        parse_config({**CFG, "baseline": "b.dlb", "baseline_reload": {"url": store.url}})
    with pytest.raises(ConfigError, match="not an http"):
        parse_config({**CFG, "baseline_reload": {"url": "s3://bucket/b.dlb"}})


def _shares_psi_js(cur: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    keep = (cur + base) > 0
    c, b = cur[keep].astype(float), base[keep].astype(float)
    p = np.where(c > 0, c, 0.5)
    q = np.where(b > 0, b, 0.5)
    p, q = p / p.sum(), q / q.sum()
    psi = float(np.sum((p - q) * np.log(p / q)))
    js = float(jensenshannon(c / c.sum(), b / b.sum(), base=2) ** 2)
    return psi, js


def test_baseline_diff_matches_a_direct_computation(tmp_path: Path) -> None:
    old, (x0, c0, r0) = _build(1, 0.0, ["a", "b", "c"])
    new, (x1, c1, r1) = _build(2, 0.4, ["a", "b", "d"], edges_from=old)
    save_baseline(old, tmp_path / "old.dlb")
    save_baseline(new, tmp_path / "new.dlb")
    run = CliRunner().invoke(app, ["baseline", "diff", str(tmp_path / "old.dlb"),
                                   str(tmp_path / "new.dlb"), "--json"])
    assert run.exit_code == 1, run.output  # different, and NEW can replace OLD
    d = orjson.loads(run.output)
    assert (d["old_version"], d["new_version"]) == (old.version, new.version)
    assert d["incompatibilities"] == [] and d["identical"] is False
    assert list(d["meta"]) == ["built_at"]
    edges = np.asarray(old.schema["x"].edges)  # type: ignore[union-attr]
    vocab = sorted(old.schema["c"].vocabulary)  # type: ignore[union-attr]
    rows = {(f["feature"], f["segment"], f["cohort"]): f for f in d["features"]}
    assert set(rows) == {(f, s, c) for f in ("x", "c")
                         for s, c in (("all", "all"), ("r", "eu"), ("r", "us"))}
    for seg, cohort in (("all", "all"), ("r", "eu"), ("r", "us")):
        m0 = np.ones(len(x0), bool) if seg == "all" else r0 == cohort
        m1 = np.ones(len(x1), bool) if seg == "all" else r1 == cohort
        fx = rows[("x", seg, cohort)]
        assert (fx["n_old"], fx["n_new"]) == (m0.sum(), m1.sum())
        assert fx["mean_old"] == pytest.approx(x0[m0].mean(), rel=1e-12)
        assert fx["mean_new"] == pytest.approx(x1[m1].mean(), rel=1e-12)
        bins0 = np.bincount(np.searchsorted(edges, x0[m0], side="right"), minlength=len(edges) + 1)
        bins1 = np.bincount(np.searchsorted(edges, x1[m1], side="right"), minlength=len(edges) + 1)
        psi, js = _shares_psi_js(bins1, bins0)
        assert fx["scores"]["psi"] == pytest.approx(psi, rel=1e-12)
        assert fx["scores"]["js"] == pytest.approx(js, rel=1e-9)
        ks = ks_2samp(x1[m1], x0[m0]).statistic
        assert abs(fx["scores"]["ks"] - ks) < 0.02  # the live KLL's rank error bounds it
        assert fx["bins_changed"] is False
        assert np.allclose(fx["quantiles_old"], np.quantile(x0[m0], [.05, .25, .5, .75, .95]),
                           atol=0.05)
        fc = rows[("c", seg, cohort)]
        cnt0 = np.array([np.sum(c0[m0] == v) for v in vocab] + [np.sum(~np.isin(c0[m0], vocab))])
        cnt1 = np.array([np.sum(c1[m1] == v) for v in vocab] + [np.sum(~np.isin(c1[m1], vocab))])
        psi_c, js_c = _shares_psi_js(cnt1, cnt0)
        assert fc["scores"]["psi"] == pytest.approx(psi_c, rel=1e-12)
        assert fc["scores"]["js"] == pytest.approx(js_c, rel=1e-9)
        assert (fc["added_categories"], fc["removed_categories"]) == (["d"], ["c"])
        assert fc["bins_changed"] is True

    text = CliRunner().invoke(app, ["baseline", "diff", str(tmp_path / "old.dlb"),
                                    str(tmp_path / "new.dlb")])
    assert text.exit_code == 1
    assert "new categories: d  removed categories: c" in text.output
    assert text.output.rstrip().endswith("new can replace old in a running worker")
    same = CliRunner().invoke(app, ["baseline", "diff", str(tmp_path / "old.dlb"),
                                    str(tmp_path / "old.dlb")])
    assert same.exit_code == 0 and "no change: the same baseline" in same.output

    wider = Baseline.build([NumericSpec("x"), CategoricalSpec("c"), NumericSpec("y")],
                           {"x": Column(x1), "c": Column(c1), "y": Column(x1)})
    save_baseline(wider, tmp_path / "wider.dlb")
    inc = CliRunner().invoke(app, ["baseline", "diff", str(tmp_path / "old.dlb"),
                                   str(tmp_path / "wider.dlb"), "--json"])
    assert inc.exit_code == 4
    assert orjson.loads(inc.output)["incompatibilities"] == [
        "features only in the new baseline: y", "segments only in the old baseline: r"]
    (tmp_path / "junk.dlb").write_bytes(b"junk")
    bad = CliRunner().invoke(app, ["baseline", "diff", str(tmp_path / "old.dlb"),
                                   str(tmp_path / "junk.dlb")])
    assert bad.exit_code == 2 and "not a usable driftline baseline" in bad.output


def test_sighup_checks_the_file_at_once_with_polling_off(tmp_path: Path) -> None:
    path = tmp_path / "baseline.dlb"
    old, _ = _build(1, 0.0, ["a", "b"])
    new, _ = _build(2, 0.5, ["a", "b"])
    save_baseline(old, path)
    cfg = parse_config({**CFG, "baseline": str(path), "baseline_reload": {"interval": 0}})
    location = BaselineLocation.from_config(cfg)
    assert location is not None
    watcher = BaselineWatcher(config=cfg, location=location, current=load_baseline(path))
    swaps = BaselineSwaps(watcher.current)
    used: list[str] = []

    async def swap(b: Baseline) -> None:
        used.append(b.version)

    async def scenario() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(swaps.run(watcher, 0.0, stopping, swap))
        await asyncio.sleep(0)  # the task installed its SIGHUP handler and waits
        save_baseline(new, path)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not used and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stopping.set()
        await task

    asyncio.run(scenario())
    assert used == [new.version]
    assert swaps.status() == {"version": new.version, "swaps": 1, "rejected": {}}


def test_every_result_record_and_alert_payload_carries_the_version(tmp_path: Path) -> None:
    path = tmp_path / "b.dlb"
    base, _ = _build(1, 0.0, ["a", "b"])
    save_baseline(base, path)
    cfg = parse_config({**CFG, "source": {"event_time": {"field": "ts"}},
                        "windows": {"size": "1m"}})
    engine = Engine(cfg, load_baseline(path))
    rng = np.random.default_rng(5)
    rows = [orjson.dumps({"ts": i, "x": float(rng.normal(3.0)), "c": "a", "r": "eu"})
            for i in range(600)]
    engine.ingest(RecordBatch("t", 0, list(range(600)), None, rows))
    results = engine.flush()
    want = {"version": base.version, "built_at": base.created_at.isoformat(),
            "location": str(path)}
    assert results and all(r.to_report()["baseline"] == want for r in results)
    assert all(rec["baseline"] == want for r in results for rec in r.to_json_records())
    measurements = [m for r in results for m in to_measurements(r)]
    assert {m.details["baseline_version"] for m in measurements} == {base.version}
    drift = next(m for m in measurements if m.check == "drift" and m.feature == "x")
    event = AlertEvent(drift.monitor, "drift", drift.metric, "x", "all", "all", drift.window,
                       "critical", "firing", "new", drift.value, 0.2, drift.n,
                       drift.window_start, drift.window_end, drift.window_start,
                       drift.p_value, drift.details)
    assert facts(event, None)["baseline_version"] == base.version
    assert all(a["annotations"]["baseline_version"] == base.version
               for a in alertmanager_alerts(event, None))


def test_the_version_is_that_of_the_bytes_written_even_after_queries(tmp_path: Path) -> None:
    base, _ = _build(4, 0.0, ["a", "b"])
    assert base.version  # before any file: the version of its serialization now
    base.global_profile["x"].kll_quantiles([0.5])  # type: ignore[union-attr]
    save_baseline(base, tmp_path / "b.dlb")  # may serialize differently after a query
    data = (tmp_path / "b.dlb").read_bytes()
    assert base.version == hashlib.sha256(data).hexdigest()[:16] == load_baseline(
        tmp_path / "b.dlb").version


def test_live_bins_are_pinned_with_the_state(kafka: Any) -> None:
    topic = kafka.unique_topic("ckpt")
    ensure_topics({"bootstrap_servers": kafka.bootstrap}, [checkpoint_topic_spec(topic)])
    first = ProfileSchema((NumericSpec("x", edges=(1.0, 2.0)), CategoricalSpec("c", vocabulary=
                                                                              frozenset("ab"))))
    rebuilt = ProfileSchema((NumericSpec("x", edges=(0.5,)), CategoricalSpec("c", vocabulary=
                                                                             frozenset("abd"))))
    retuned = ProfileSchema((NumericSpec("x", k=400, edges=(0.5,)), CategoricalSpec("c")))
    unbinned = ProfileSchema((NumericSpec("x"), CategoricalSpec("c")))

    async def scenario() -> list[str]:
        store = CheckpointStore(topic, {"bootstrap_servers": kafka.bootstrap})
        await store.start()
        try:
            return [(await pinned_schema(store, monitor, s)).fingerprint for monitor, s in (
                ("m", first),      # the first start pins its bins
                ("m", rebuilt),    # a baseline with other bins: the state's bins stay
                ("m", retuned),    # other sketch parameters: the new bins, pinned
                ("m", rebuilt),    # (k differs from the pinned one: the new bins again)
                ("n", unbinned),   # a monitor without a baseline ...
                ("n", first))]     # ... given one takes its bins
        finally:
            await store.stop()

    assert asyncio.run(scenario()) == [s.fingerprint for s in (
        first, first, retuned, rebuilt, unbinned, first)]
