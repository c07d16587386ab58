"""No valid-JSON record stops a monitor (issue 10): a corpus of hostile records, and generated
JSON values of every type, size and encoding at every configured path (numeric, nested
numeric, categorical, both segments, the event time), go through decode -> aggregate ->
merge -> publish (results records as JSON) -> checkpoint -> restore -> more data. Each record
is an event or a dead letter with its reason; the counts are exact, the native and the exact
decoder agree, and a checkpoint with an absurd watermark from an older version is repaired.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.stream.config.model import parse_config
from driftline.stream.decode.factory import decoder_for
from driftline.stream.engine.batch import RecordBatch
from driftline.stream.engine.core import Engine
from driftline.stream.engine.results import WindowResult
from tests.poison_corpus import CORPUS, T0, expected, good

GOOD = 200  # good records per run, 10 per second from T0


def _config(segments: list[str], **event_time: Any) -> Any:
    return parse_config({
        "monitor": "poison",
        "source": {"event_time": {"field": "ts", **event_time}},
        "features": [{"name": "x", "type": "numeric"},
                     {"name": "score", "type": "numeric", "path": "model.score"},
                     {"name": "k", "type": "categorical"}],
        "segments": segments,
        "windows": {"size": "10s", "allowed_lateness": "1h"},
    })


def _engine(cfg: Any, fast: bool) -> Engine:
    eng = Engine(cfg)
    eng.decoder = decoder_for(cfg, fast=fast)
    return eng


def _published(results: list[WindowResult]) -> list[dict[str, Any]]:
    """What the results topic and the backtest report get: every record must serialize."""
    out = []
    for r in results:
        for rec in r.to_json_records():
            out.append(orjson.loads(orjson.dumps(rec)))
        json.dumps(r.to_report(), allow_nan=False)
    return out


def _run(cfg: Any, records: list[bytes], fast: bool, cut: int) -> tuple[Engine, list[dict]]:
    """Ingest ``records[:cut]``, checkpoint, restore into a new engine, ingest the rest, and
    flush; returns the restored engine and every published results record."""
    first = _engine(cfg, fast)
    published = []
    for lo in range(0, cut, 64):
        first.ingest(RecordBatch("events", 0, list(range(lo, min(cut, lo + 64))), None,
                                 records[lo:min(cut, lo + 64)]))
        published += _published(first.tick())
    second = _engine(cfg, fast)
    second.restore(first.snapshot())
    second.ingest(RecordBatch("events", 0, list(range(len(records))), None, records))
    published += _published(second.flush())
    second.restore(second.snapshot())  # the final state checkpoints too
    return second, published


def _stream(corpus: list[bytes]) -> list[bytes]:
    """GOOD clean records with the corpus records spread between them (never first)."""
    out: list[bytes] = []
    step = max(1, GOOD // (len(corpus) + 1))
    pending = list(corpus)
    for i in range(GOOD):
        out.append(good(T0 + i / 10, i))
        if i % step == step - 1 and pending:
            out.append(pending.pop(0))
    return out + pending


def _events_published(published: list[dict[str, Any]]) -> int:
    return sum(r["n"] for r in published if r["segment"] == "all" and r["tier"] == "10s")


@pytest.mark.parametrize("segments", [["region"], ["region", "device"]])
@pytest.mark.parametrize("fast", [True, False])
def test_every_corpus_record_is_an_event_or_a_dead_letter_with_its_reason(
        segments: list[str], fast: bool) -> None:
    cfg = _config(segments)
    records = _stream([rec for _, rec, _ in CORPUS])
    eng, published = _run(cfg, records, fast, cut=len(records) // 2)
    events, reasons = expected(CORPUS)
    counters = eng.counters()["events"]
    assert counters["records"] == len(records)
    assert counters["events"] == GOOD + events == _events_published(published)
    assert counters["late"] == 0
    assert {r: n for r, n in counters["invalid"].items() if n} == reasons
    labels = {r["cohort"] for r in published if r["segment"] == "region"}
    assert {"eu", "us"} <= labels  # the lone surrogate is U+FFFD, never a crash
    assert all(r["start"].startswith("2023-11-14T22:") for r in published)


def test_each_corpus_record_alone_gets_its_outcome() -> None:
    """One record at a time (after one good record): the outcome of each kind, by name."""
    cfg = _config(["region", "device"])
    got = {}
    for kind, rec, _ in CORPUS:
        eng = Engine(cfg)
        rep = eng.ingest(RecordBatch("events", 0, [0, 1], None, [good(T0), rec]))
        _published(eng.flush())
        Engine(cfg).restore(eng.snapshot())
        got[kind] = "event" if rep.events == 2 else rep.dead_letters[0].reason
    assert got == {kind: outcome for kind, _, outcome in CORPUS}


def test_an_absurd_time_never_moves_the_watermark() -> None:
    """Issue 10 item 2: one ``ts: 1e11`` (year 5138, valid JSON, finite) used to disable its
    partition for good; now it is a dead letter and every later event still counts."""
    cfg = _config(["region"], unit="s")
    eng = Engine(cfg)
    recs = [good(T0 + i, i) for i in range(5)] + [_ts(1e11), _ts(3e11)]
    recs += [good(T0 + 5 + i, i) for i in range(25)]
    rep = eng.ingest(RecordBatch("events", 0, list(range(len(recs))), None, recs))
    assert (rep.events, rep.late) == (30, 0)
    assert [d.reason for d in rep.dead_letters] == ["implausible_event_time",
                                                   "invalid_event_time"]
    assert eng.aggregators[("events", 0)].clock.max_event_time == T0 + 29
    assert sum(r.cohort("all", "all").n for r in eng.flush() if r.tier == "10s") == 30


def _ts(t: float) -> bytes:
    return orjson.dumps({"ts": t, "x": 1.0, "region": "eu"})


def test_event_time_bounds_are_configurable_and_can_be_disabled() -> None:
    far = T0 + 400 * 86400  # 2024-12: before the wall clock
    old = T0 - 40 * 86400
    recs = [good(T0), _ts(far), _ts(old)]
    default = Engine(_config(["region"]))
    rep = default.ingest(RecordBatch("events", 0, [0, 1, 2], None, recs))
    # far is in the past of the wall clock: plausible, and it moves the watermark; then old is
    # 440 days before the latest event time
    assert (rep.events, [d.reason for d in rep.dead_letters]) == (2, ["implausible_event_time"])
    tight = Engine(_config(["region"], max_future_skew="1h", max_past_age=None))
    tight.aggregator("events", 0).plausible.wall = lambda: T0 + 60
    rep = tight.ingest(RecordBatch("events", 0, [0, 1, 2], None, recs))
    # far: > 1h after "now"; old: no past bound, so it is merely late
    assert (rep.events, rep.late, len(rep.dead_letters)) == (1, 1, 1)
    assert rep.dead_letters[0].index == 1
    assert rep.dead_letters[0].detail == "more than 1h after the wall clock"


def test_a_checkpoint_with_an_absurd_watermark_from_an_older_version_is_repaired() -> None:
    """An older version accepted ``ts: 1e297``-like times: its checkpoint holds a watermark
    at the end of time, an open window there and a merger whose frontier passed every window.
    Restoring it repairs all of that and later events count again, exactly."""
    cfg = _config(["region"], unit="s")
    old = Engine(cfg)
    old.ingest(RecordBatch("events", 0, list(range(20)), None,
                           [good(T0 + i, i) for i in range(20)]))
    agg = old.aggregators[("events", 0)]
    # what the older version did with {"ts": 2e11} (unit s, the year 8307): no bound
    absurd = 2e11
    agg.plausible.max_future_skew = None
    agg.clock.max_event_time = absurd
    agg.clock.watermark = absurd - 3600
    old.ingest(RecordBatch("events", 0, [20], None, [_ts(absurd)]))
    before = old.tick()  # the windows of the 20 good events were closed and published
    assert old.merger.frontier > 1e11  # the partition is disabled: everything would be late
    data = old.snapshot()

    new = Engine(cfg)
    new.restore(data)
    agg = new.aggregators[("events", 0)]
    assert agg.clock.watermark == -math.inf and all(i * 10 < 1e12 for i in agg.windows)
    assert agg.events == 20 and agg.invalid["implausible_event_time"] == 1  # the absurd one
    assert new.merger.frontier < 1e12
    rep = new.ingest(RecordBatch("events", 0, list(range(21, 41)), None,
                                 [good(T0 + 20 + i, i) for i in range(20)]))
    assert (rep.events, rep.late) == (20, 0)
    results = before + new.flush()
    assert sum(r.cohort("all", "all").n for r in results if r.tier == "10s") == 40
    assert all(r.end < 1e12 for r in results)


# -- generated values ------------------------------------------------------------------------
_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400) | st.integers(max_value=-(10**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),  # any code point, lone surrogates included
    st.text(alphabet="ab", min_size=1000, max_size=5000),
    st.sampled_from(["2023-11-14T22:14:00Z", "1700000050", "", "\ud800", "9999-12-31"]),
    st.sampled_from([1_700_000_050, 1_700_000_050_000, 1e297, -1e20, 3e11, 0]),
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=4),
    max_leaves=12)
PATHS = ["ts", "x", "model.score", "model", "k", "region", "device"]


ENCODINGS = ["ascii", "utf-8", "utf-16"]


def _place(path: str, value: Any, i: int, encoding: str) -> tuple[bytes, bool]:
    """The record with ``value`` at ``path``, and whether its bytes are valid UTF-8. Python's
    json writes NaN/Infinity tokens; ``ascii`` escapes every non-ASCII character (lone
    surrogates as ``\\ud800``), ``utf-8`` writes them raw (a lone surrogate is then not
    UTF-8), ``utf-16`` is never UTF-8."""
    rec: dict[str, Any] = orjson.loads(good(T0 + i / 10, i))
    if path == "model.score":
        rec["model"]["score"] = value
    else:
        rec[path] = value
    text = json.dumps(rec, ensure_ascii=encoding == "ascii")
    if encoding == "utf-16":
        return text.encode("utf-16", "surrogatepass"), False
    data = text.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
        return data, True
    except UnicodeDecodeError:
        return data, False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSON_VALUES, st.sampled_from(ENCODINGS)),
                min_size=1, max_size=12))
def test_generated_values_at_every_path_never_break_the_pipeline(
        values: list[tuple[str, Any, str]]) -> None:
    cfg = _config(["region", "device"])
    placed = [_place(p, v, i, enc) for i, (p, v, enc) in enumerate(values)]
    records = [good(T0 - 1)] + [rec for rec, _ in placed]
    not_utf8 = sum(1 for _, ok in placed if not ok)
    time_paths = sum(1 for (p, _, _), (_, ok) in zip(values, placed, strict=True)
                     if ok and p == "ts")
    got = []
    for fast in (True, False):
        eng, published = _run(cfg, records, fast, cut=len(records) // 2)
        c = eng.counters()["events"]
        dead = sum(c["invalid"].values())
        assert c["records"] == len(records) == c["events"] + c["late"] + dead
        assert c["events"] == _events_published(published)
        assert c["invalid"]["not_utf8"] == not_utf8
        # only the event time can make a valid UTF-8 JSON object unusable
        assert dead - not_utf8 <= time_paths
        assert set(k for k, n in c["invalid"].items() if n) <= {
            "missing_event_time", "invalid_event_time", "implausible_event_time", "not_utf8"}
        got.append((c["events"], c["late"], dict(c["invalid"])))
    assert got[0] == got[1]  # the native and the exact decoder agree


def test_backtest_of_the_corpus_counts_every_record(tmp_path: Any) -> None:
    """``driftline backtest`` replays in event-time order; implausible times are judged in file
    order first (sorted, a 1970 record would come first and set the clock)."""
    from driftline.stream.sources.backtest import run_backtest

    lines = _stream([rec for _, rec, _ in CORPUS if rec])  # JSONL skips the empty line
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = run_backtest(_config(["region", "device"]), None, path, alerting=False)
    events, reasons = expected([c for c in CORPUS if c[1]])
    assert report["input"]["events"] == GOOD + events
    assert report["input"]["dead_letters"] == reasons
    assert [w["start"] for w in report["windows"] if w["tier"] == "10s"] == [
        f"2023-11-14T22:{m:02d}:{s:02d}Z" for m, s in ((14, 0), (14, 10))]


def test_a_late_event_with_a_new_segment_value_checkpoints() -> None:
    """Found on the way: a late event whose segment value was new to the batch left a
    last-seen time of -inf, written as null, and the restore failed on it."""
    eng = Engine(_config(["region"], unit="s"))
    late = orjson.dumps({"ts": T0 - 7200, "x": 1.0, "region": "brand-new"})
    rep = eng.ingest(RecordBatch("events", 0, [0, 1], None, [good(T0 + 1), late]))
    assert (rep.events, rep.late) == (1, 1)
    Engine(_config(["region"], unit="s")).restore(eng.snapshot())


def test_tiny_windows_far_apart_never_overflow_the_grouping_key() -> None:
    """Window indices of 1 µs windows 54 years apart times many segment values would not fit
    an int64 key: such batches number their windows densely instead."""
    cfg = parse_config({
        "monitor": "tiny", "source": {"event_time": {"field": "ts", "unit": "s",
                                                     "max_future_skew": None,
                                                     "max_past_age": None}},
        "features": [{"name": "x", "type": "numeric"}], "segments": ["region"],
        "windows": {"size": "1s", "allowed_lateness": "3650d", "idle_timeout": "1h"}})
    # below what a config file may say (whole seconds, at most ten years): the engine itself
    # still never overflows
    object.__setattr__(cfg.windows, "size", 0.000001)
    object.__setattr__(cfg.windows, "allowed_lateness", 25000 * 86400.0)
    eng = Engine(cfg)
    recs = [orjson.dumps({"ts": 10.0 if i % 2 else T0, "x": 1.0, "region": f"r{i}"})
            for i in range(8000)]
    rep = eng.ingest(RecordBatch("events", 0, list(range(8000)), None, recs))
    assert (rep.events, rep.late) == (8000, 0)
    results = eng.flush()
    assert sum(r.cohort("all", "all").n for r in results) == 8000
