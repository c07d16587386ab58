"""Hostile but mostly valid-JSON records and what each must become (the poison-record suite).

Every entry is ``(kind, record bytes, outcome)``: ``"event"`` (counted as an event of its
window) or the dead-letter reason. Each one was once able to stop a monitor, or is a value of
a type or size a careless producer sends. A record lies at ``T0 + 1`` (seconds) unless its kind
is about the event time. Records are placed after at least one good record of their partition
(the past bound of :mod:`stream.plausible` is relative to the latest accepted time).
"""

from __future__ import annotations

import time

import orjson

T0 = 1_700_000_040.0  # a window start for 10 s and 60 s windows
DIGITS = b"9" * 400
NOW = time.time()


def good(t: float, i: int = 0) -> bytes:
    """A clean record of every configured path."""
    return orjson.dumps({"ts": t, "x": float(i % 7), "model": {"score": (i % 10) / 10},
                         "k": "abc"[i % 3], "region": ("eu", "us")[i % 2],
                         "device": ("ios", "web")[i % 2]})


def _with(**fields: str) -> bytes:
    """A record at ``T0 + 1`` with the given paths replaced by raw JSON text."""
    base = {"ts": "1700000041", "x": "1.5", "model": '{"score": 0.5}', "k": '"a"',
            "region": '"eu"', "device": '"ios"'}
    base.update(fields)
    body = ", ".join(f'"{k}": {v}' for k, v in base.items() if v != "<absent>")
    return ("{" + body + "}").encode()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


CORPUS: list[tuple[str, bytes, str]] = [
    # huge integers (309+ digits) in every monitored place
    ("x = 400-digit integer", _with(x=DIGITS.decode()), "event"),
    ("x = -400-digit integer", _with(x="-" + DIGITS.decode()), "event"),
    ("x = 5000-digit integer", _with(x="9" * 5000), "event"),
    ("model.score = 400-digit integer", _with(model='{"score": ' + DIGITS.decode() + "}"),
     "event"),
    ("k = 400-digit integer", _with(k=DIGITS.decode()), "event"),
    ("region = 400-digit integer", _with(region=DIGITS.decode()), "event"),
    ("device = 5000-digit integer", _with(device="9" * 5000), "event"),
    ("ts = 400-digit integer", _with(ts=DIGITS.decode()), "invalid_event_time"),
    ("ts = -400-digit integer", _with(ts="-" + DIGITS.decode()), "invalid_event_time"),
    ("ts = 5000-digit integer", _with(ts="9" * 5000), "invalid_event_time"),
    # event times out of datetime range or implausible
    ("ts = 1e297", _with(ts="1e297"), "invalid_event_time"),
    ("ts = -1e20", _with(ts="-1e20"), "invalid_event_time"),
    ("ts = microsecond epoch (auto reads ms)", _with(ts="1700000041000000"),
     "invalid_event_time"),
    ("ts = 300000000000 (auto: ms, 1979)", _with(ts="300000000000"), "implausible_event_time"),
    ("ts = 0 (1970)", _with(ts="0"), "implausible_event_time"),
    ("ts = a year after now", _with(ts=str(int(NOW + 365 * 86400))), "implausible_event_time"),
    ("ts = 2 days after now", _with(ts=str(int(NOW + 2 * 86400))), "implausible_event_time"),
    ("ts = 9999-12-31T23:59:59Z", _with(ts='"9999-12-31T23:59:59Z"'), "invalid_event_time"),
    ("ts = +275760-09-13 (ISO)", _with(ts='"+275760-09-13T00:00:00Z"'), "invalid_event_time"),
    ("ts = 0001-01-01 (ISO)", _with(ts='"0001-01-01T00:00:00Z"'), "implausible_event_time"),
    ("ts = NaN", _with(ts="NaN"), "invalid_event_time"),
    ("ts = Infinity", _with(ts="Infinity"), "invalid_event_time"),
    ("ts = -Infinity", _with(ts="-Infinity"), "invalid_event_time"),
    ("ts = 1e400", _with(ts="1e400"), "invalid_event_time"),
    ("ts = true", _with(ts="true"), "invalid_event_time"),
    ("ts = object", _with(ts='{"s": 1}'), "invalid_event_time"),
    ("ts = array", _with(ts="[1700000041]"), "invalid_event_time"),
    ("ts = 'yesterday'", _with(ts='"yesterday"'), "invalid_event_time"),
    ("ts = lone surrogate string", _with(ts='"\\ud800"'), "invalid_event_time"),
    ("ts = null", _with(ts="null"), "missing_event_time"),
    ("ts absent", _with(ts="<absent>"), "missing_event_time"),
    ("ts = ISO with offset", _with(ts='"2023-11-14T23:14:01+01:00"'), "event"),
    ("ts = milliseconds", _with(ts="1700000041500"), "event"),
    # lone surrogates and other odd strings in segments and categories
    ("region = lone surrogate", _with(region='"\\ud800"'), "event"),
    ("device = lone low surrogate", _with(device='"x\\udfffy"'), "event"),
    ("k = lone surrogate", _with(k='"\\udbff"'), "event"),
    ("region = surrogate pair (emoji)", _with(region='"\\ud83d\\ude00"'), "event"),
    ("region = NUL character", _with(region='"\\u0000"'), "event"),
    ("unmonitored key = lone surrogate", b'{"\\ud800": 1, ' + _with()[1:], "event"),
    ("k = 500 kB string", _with(k='"' + "a" * 500_000 + '"'), "event"),
    ("region = 100 kB string", _with(region='"' + "r" * 100_000 + '"'), "event"),
    # containers, bools, NaN/Infinity tokens where scalars are expected
    ("x = NaN", _with(x="NaN"), "event"),
    ("x = Infinity", _with(x="Infinity"), "event"),
    ("x = -Infinity", _with(x="-Infinity"), "event"),
    ("x = 1e400", _with(x="1e400"), "event"),
    ("x = true", _with(x="true"), "event"),
    ("x = string", _with(x='"12"'), "event"),
    ("x = object", _with(x='{"v": 1}'), "event"),
    ("x = array", _with(x="[1, 2]"), "event"),
    ("k = object", _with(k='{"a": 1}'), "event"),
    ("k = array", _with(k="[]"), "event"),
    ("k = NaN", _with(k="NaN"), "event"),
    ("k = 2.5", _with(k="2.5"), "event"),
    ("k = false", _with(k="false"), "event"),
    ("region = object", _with(region='{"r": "eu"}'), "event"),
    ("region = array", _with(region='["eu"]'), "event"),
    ("region = null", _with(region="null"), "event"),
    ("region = Infinity", _with(region="Infinity"), "event"),
    ("model = number (parent not an object)", _with(model="5"), "event"),
    ("model = null", _with(model="null"), "event"),
    ("model.score = array", _with(model='{"score": [0.5]}'), "event"),
    ("x repeated (last wins)", b'{"x": "a", ' + _with()[1:], "event"),
    ("unmonitored field nested 200 deep", b'{"pad": ' + _nested(200).encode() + b", "
     + _with()[1:], "event"),
    ("x nested 100 deep", _with(x=_nested(100)), "event"),
    ("unmonitored field nested 100k deep", b'{"pad": ' + _nested(100_000).encode() + b", "
     + _with()[1:], "invalid_json"),
    # broken records
    ("record > max_record_bytes", _with(k='"' + "a" * 1_100_000 + '"'), "too_large"),
    ("not UTF-8", b'{"ts": 1700000041, "k": "\xff"}', "not_utf8"),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + _with(), "invalid_json"),
    ("truncated JSON", _with()[:-1], "invalid_json"),
    ("trailing garbage", _with() + b" x", "invalid_json"),
    ("empty record", b"", "invalid_json"),
    ("top-level array", b"[1, 2]", "not_object"),
    ("top-level null", b"null", "not_object"),
    ("top-level 400-digit integer", DIGITS, "not_object"),
    ("empty object", b"{}", "missing_event_time"),
]


def expected(corpus: list[tuple[str, bytes, str]]) -> tuple[int, dict[str, int]]:
    """(events, dead letters by reason) of a corpus."""
    reasons: dict[str, int] = {}
    events = 0
    for _, _, outcome in corpus:
        if outcome == "event":
            events += 1
        else:
            reasons[outcome] = reasons.get(outcome, 0) + 1
    return events, reasons


IDS, REGIONAL = 30_000, 120_000


def cohort_scenario(t0: float = T0, gap: float = 5.0
                    ) -> tuple[list[bytes], list[float], list[str]]:
    """Issue 10 item 3: 30k unique ``region`` values (n=1 each) in the first 5 s, then from
    ``t0 + gap`` 120k ``eu``/``us`` events over 40 s. Returns the records, times and regions."""
    times = [t0 + i * (5 / IDS) for i in range(IDS)]
    regions = [f"id-{i}" for i in range(IDS)]
    times += [t0 + gap + j * (40 / REGIONAL) for j in range(REGIONAL)]
    regions += [("eu", "us")[j % 3 == 0] for j in range(REGIONAL)]
    records = [b'{"ts": %.6f, "x_normal": %d.5, "channel": "web", "region": "%s"}'
               % (t, i % 10, r.encode())
               for i, (t, r) in enumerate(zip(times, regions, strict=True))]
    return records, times, regions
