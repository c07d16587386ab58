"""A payments-like event stream with problems injected on purpose: the demo's source.

The stream is generated in whole windows with numpy (no Python loop per value), serialized to the
same JSON bytes a Kafka topic would carry, so the demo exercises the real decode path.

>>> gen = PaymentsGenerator(seed=7, events_per_window=1000, window_seconds=60.0, start=0.0)
>>> batch = gen.window(0)
>>> len(batch.values), batch.malformed, bool(batch.timestamps_ms.min() >= 0)  # 0.4 % broken
(1004, 4, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson

REGIONS = ("eu", "us", "apac", "latam", "mea", "ca")
REGION_SHARE = (0.30, 0.30, 0.16, 0.10, 0.08, 0.06)
DEVICES = ("ios", "android", "web", "pos")
DEVICE_SHARE = (0.35, 0.35, 0.20, 0.10)
CATEGORIES = (
    "grocery", "restaurants", "fuel", "travel", "electronics", "fashion", "pharmacy",
    "entertainment", "utilities", "home", "sports", "books", "gaming", "beauty", "auto",
)
NEW_CATEGORY = "crypto_atm"


@dataclass(frozen=True)
class Injections:
    """What goes wrong, and from which window on (None = never)."""

    drift_window: int | None = 12          # amount shifts up in one cohort
    drift_segment: str = "region"
    drift_cohort: str = "eu"
    drift_factor: float = 1.8
    new_category_window: int | None = 16   # a merchant category never seen in training
    new_category_share: float = 0.09
    stall_window: int | None = 20          # the feature store stops filling a feature
    stall_feature: str = "user_purchase_history"
    malformed_share: float = 0.004         # broken records in every window


@dataclass
class GeneratedBatch:
    values: list[bytes]
    timestamps_ms: np.ndarray
    malformed: int
    injected: dict[str, bool] = field(default_factory=dict)


class PaymentsGenerator:
    """Training-like data (``training``) and a live stream in windows (``window(i)``)."""

    def __init__(
        self,
        seed: int = 42,
        events_per_window: int = 4000,
        window_seconds: float = 60.0,
        start: float = 0.0,
        injections: Injections | None = None,
    ) -> None:
        self.seed = seed
        self.events_per_window = events_per_window
        self.window_seconds = window_seconds
        self.start = start
        self.injections = injections or Injections()
        self._cat_p = _category_probs()

    # -- columns -------------------------------------------------------------------------
    def columns(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """n clean events as columns (the distribution the model was trained on)."""
        region = rng.choice(np.array(REGIONS, dtype=object), size=n, p=REGION_SHARE)
        device = rng.choice(np.array(DEVICES, dtype=object), size=n, p=DEVICE_SHARE)
        amount = np.round(rng.lognormal(mean=3.6, sigma=0.9, size=n), 2)
        amount = np.minimum(amount, 49_999.0)
        category = rng.choice(np.array(CATEGORIES, dtype=object), size=n, p=self._cat_p)
        hour = rng.choice(24, size=n, p=_hour_probs()).astype(np.int64)
        history = rng.poisson(12.0, size=n).astype(np.float64)
        logit = -3.0 + 0.55 * np.log1p(amount) - 0.04 * history + rng.normal(0, 0.8, size=n)
        score = np.round(1.0 / (1.0 + np.exp(-logit)), 4)
        return {
            "region": region, "device": device, "amount": amount,
            "merchant_category": category, "hour": hour,
            "user_purchase_history": history, "score": score,
        }

    def training(self, n: int = 200_000) -> dict[str, np.ndarray]:
        return self.columns(n, np.random.default_rng(self.seed))

    def window(self, index: int) -> GeneratedBatch:
        """One window of live events, with the injections active at that window."""
        inj = self.injections
        rng = np.random.default_rng((self.seed, index + 1))
        n = self.events_per_window
        cols = self.columns(n, rng)
        injected: dict[str, bool] = {}
        if inj.drift_window is not None and index >= inj.drift_window:
            hit = cols[inj.drift_segment] == inj.drift_cohort
            cols["amount"] = np.where(hit, np.round(cols["amount"] * inj.drift_factor, 2),
                                      cols["amount"])
            injected["drift"] = True
        if inj.new_category_window is not None and index >= inj.new_category_window:
            hit = rng.random(n) < inj.new_category_share
            cols["merchant_category"] = np.where(hit, NEW_CATEGORY, cols["merchant_category"])
            injected["new_category"] = True
        stalled = inj.stall_window is not None and index >= inj.stall_window
        injected["stall"] = stalled
        t0 = self.start + index * self.window_seconds
        ts = np.sort(t0 + rng.random(n) * self.window_seconds)
        values = encode_events(cols, ts, inj.stall_feature if stalled else None)
        bad = _malformed(rng, int(round(n * inj.malformed_share)), ts)
        if bad:
            positions = rng.choice(len(values) + len(bad), size=len(bad), replace=False)
            values = _interleave(values, bad, positions)
        # The record timestamp is the producer's clock: the end of the window being generated.
        produced_ms = int((t0 + self.window_seconds) * 1000)
        return GeneratedBatch(
            values=values,
            timestamps_ms=np.full(len(values), produced_ms, dtype=np.int64),
            malformed=len(bad),
            injected=injected,
        )


def _category_probs() -> np.ndarray:
    w = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 0.8
    return w / w.sum()


def _hour_probs() -> np.ndarray:
    h = np.arange(24)
    w = 0.2 + np.exp(-((h - 13) ** 2) / 30.0) + 0.6 * np.exp(-((h - 20) ** 2) / 8.0)
    return w / w.sum()


def encode_events(cols: dict[str, np.ndarray], ts: np.ndarray, null_feature: str | None = None,
                  ) -> list[bytes]:
    """Columns -> the JSON values a producer would send (``null_feature`` sent as null)."""
    keys = ("region", "device", "amount", "merchant_category", "hour")
    lists = [cols[k].tolist() for k in keys]
    history_name = "user_purchase_history"
    hist = [None] * len(ts) if null_feature == history_name else cols[history_name].tolist()
    scores = cols["score"].tolist()
    dumps = orjson.dumps
    return [
        dumps({
            "ts": t, "region": r, "device": d, "amount": a, "merchant_category": c,
            "hour": h, history_name: u, "model": {"score": s},
        })
        for t, r, d, a, c, h, u, s in zip(ts.tolist(), *lists, hist, scores, strict=True)
    ]


def _malformed(rng: np.random.Generator, count: int, ts: np.ndarray) -> list[bytes]:
    kinds = (
        b'{"ts": 1, "amount": 12.5, "region": "eu"',          # truncated JSON
        b"\xff\xfe\x00not utf-8 at all",                        # not UTF-8
        b'["an", "array", "not", "an", "object"]',              # not a JSON object
        b'{"region": "eu", "amount": 3.5}',                     # no event time
    )
    return [kinds[i % len(kinds)] for i in rng.integers(0, len(kinds), size=count)]


def _interleave(values: list[bytes], bad: list[bytes], positions: np.ndarray) -> list[bytes]:
    out: list[bytes | None] = [None] * (len(values) + len(bad))
    for p, b in zip(positions.tolist(), bad, strict=True):
        out[p] = b
    it = iter(values)
    return [x if x is not None else next(it) for x in out]
