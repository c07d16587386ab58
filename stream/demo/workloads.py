"""Deterministic workloads shared by driftline and the peers: the same events, the same bytes.

The event stream has 25 monitored fields (20 numeric, 5 categorical), 2 segment fields
(``region`` with 8 values, ``device`` with 5) and an event-time field ``ts`` (epoch seconds).
Columns are generated with numpy only (no Python loop per value); :func:`to_json_lines` turns
them into the JSON bytes a Kafka topic would carry.

Drift scenarios (:data:`SCENARIOS`) change the stream from event ``change_at`` on:
``abrupt_shift``, ``gradual_drift``, ``variance_only``, ``new_category``, ``cohort_drift``
(one small cohort drifts, the global population hides it) and ``stationary``.

>>> w = generate(1000, seed=1)
>>> len(w.columns), w.n, sorted(set(w.columns["region"]))[:2]
(28, 1000, ['r0', 'r1'])
>>> orjson.loads(to_json_lines(w)[0])["device"] in DEVICES
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

Columns = dict[str, np.ndarray]

REGIONS = tuple(f"r{i}" for i in range(8))
REGION_SHARE = (0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04)
DEVICES = ("ios", "android", "web", "pos", "tv")
DEVICE_SHARE = (0.35, 0.3, 0.2, 0.1, 0.05)
SEGMENTS = ("region", "device")
NEW_CATEGORY = "crypto_exchange"
DRIFT_FEATURE = "x_normal"          # the numeric feature the numeric scenarios change
HIDDEN_COHORT = ("region", "r7")    # the 4 % cohort of the cohort_drift scenario


def _zipf_probs(k: int, a: float = 1.1) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1) ** a
    return p / p.sum()


# name -> (cardinality, values)
CATEGORICAL: dict[str, tuple[str, ...]] = {
    "merchant_category": tuple(f"mc{i:02d}" for i in range(20)),
    "payment_method": ("card", "wallet", "bank", "bnpl"),
    "country": tuple(f"c{i:02d}" for i in range(50)),
    "channel": ("app", "web", "store"),
    "browser": tuple(f"b{i}" for i in range(8)),
}

NumericGen = Callable[[np.random.Generator, int], np.ndarray]

NUMERIC: dict[str, NumericGen] = {
    "amount": lambda r, n: np.round(r.lognormal(3.5, 1.0, n), 2),
    "score": lambda r, n: r.beta(2.0, 5.0, n),
    "risk_score": lambda r, n: r.beta(5.0, 2.0, n),
    "n_items": lambda r, n: r.poisson(3.0, n).astype(np.float64),
    "n_prev_tx_24h": lambda r, n: r.poisson(8.0, n).astype(np.float64),
    "account_age_days": lambda r, n: np.floor(r.exponential(400.0, n)),
    "session_seconds": lambda r, n: r.gamma(2.0, 60.0, n),
    "latency_ms": lambda r, n: r.lognormal(4.0, 0.5, n),
    "distance_km": lambda r, n: r.exponential(20.0, n),
    "hour": lambda r, n: r.integers(0, 24, n).astype(np.float64),
    "age": lambda r, n: np.clip(np.round(r.normal(40.0, 12.0, n)), 18, 90),
    "balance": lambda r, n: r.lognormal(7.0, 1.5, n),
    "discount_ratio": lambda r, n: r.uniform(0.0, 0.5, n),
    "cart_value": lambda r, n: r.lognormal(4.0, 0.8, n),
    "clicks": lambda r, n: r.poisson(12.0, n).astype(np.float64),
    "page_views": lambda r, n: r.negative_binomial(3, 0.2, n).astype(np.float64),
    "temperature": lambda r, n: r.normal(20.0, 8.0, n),
    "x_normal": lambda r, n: r.normal(0.0, 1.0, n),
    "x_heavy": lambda r, n: r.standard_t(5.0, n),
    "x_bimodal": lambda r, n: np.where(r.random(n) < 0.3, r.normal(-2, 0.5, n), r.normal(2, 1, n)),
}
NUMERIC_FEATURES = tuple(NUMERIC)
CATEGORICAL_FEATURES = tuple(CATEGORICAL)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
SCENARIOS = (
    "stationary", "abrupt_shift", "gradual_drift", "variance_only", "new_category", "cohort_drift",
)


@dataclass
class Workload:
    """Columns of one generated stream plus what was injected where."""

    columns: Columns
    scenario: str = "stationary"
    change_at: int | None = None
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.columns["ts"])

    def slice(self, start: int, stop: int) -> Workload:
        cols = {k: v[start:stop] for k, v in self.columns.items()}
        return Workload(cols, self.scenario, self.change_at, dict(self.meta))


def _categorical(rng: np.random.Generator, values: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(values, dtype=object)[rng.choice(len(values), n, p=_zipf_probs(len(values)))]


def generate(
    n: int,
    seed: int = 0,
    scenario: str = "stationary",
    change_at: int | None = None,
    ramp: int | None = None,
    magnitude: float = 0.5,
    events_per_second: float = 1000.0,
    start_ts: float = 1_699_999_200.0,
) -> Workload:
    """``n`` events; from ``change_at`` (default ``n // 2``) on, ``scenario`` applies.

    ``magnitude`` is the mean shift in standard deviations (abrupt, gradual: reached after
    ``ramp`` events, default ``n // 4``; cohort drift: shift inside the hidden cohort), the
    standard-deviation factor minus one (variance_only) or the new category's share.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}, expected one of {SCENARIOS}")
    rng = np.random.default_rng(seed)
    cols: Columns = {name: gen(rng, n) for name, gen in NUMERIC.items()}
    for name, values in CATEGORICAL.items():
        cols[name] = _categorical(rng, values, n)
    cols["region"] = np.array(REGIONS, dtype=object)[rng.choice(8, n, p=REGION_SHARE)]
    cols["device"] = np.array(DEVICES, dtype=object)[rng.choice(5, n, p=DEVICE_SHARE)]
    cols["ts"] = start_ts + np.arange(n, dtype=np.float64) / events_per_second
    at = n // 2 if change_at is None else change_at
    if scenario == "stationary":
        return Workload(cols, scenario, None)
    after = np.arange(n) >= at
    x = cols[DRIFT_FEATURE]
    if scenario == "abrupt_shift":
        x[after] += magnitude
    elif scenario == "gradual_drift":
        width = max(1, ramp if ramp is not None else n // 4)
        x += magnitude * np.clip((np.arange(n) - at) / width, 0.0, 1.0)
    elif scenario == "variance_only":
        x[after] *= 1.0 + magnitude
    elif scenario == "new_category":
        hit = after & (rng.random(n) < magnitude)
        cols["merchant_category"][hit] = NEW_CATEGORY
    elif scenario == "cohort_drift":
        seg, cohort = HIDDEN_COHORT
        x[after & (cols[seg] == cohort)] += magnitude
    return Workload(cols, scenario, at, {"magnitude": magnitude, "ramp": ramp})


def wide_numeric(n: int, n_features: int, seed: int = 0, n_cohorts: int = 1) -> Columns:
    """Scaling workload: ``n_features`` numeric columns and one segment of ``n_cohorts`` values."""
    rng = np.random.default_rng(seed)
    cols: Columns = {f"f{i:03d}": rng.normal(i % 7, 1 + i % 3, n) for i in range(n_features)}
    names = np.array([f"k{i:03d}" for i in range(n_cohorts)], dtype=object)
    cols["cohort"] = names[rng.integers(0, n_cohorts, n)]
    cols["ts"] = 1_699_999_200.0 + np.arange(n, dtype=np.float64) / 1000.0
    return cols


def to_json_lines(w: Workload | Columns) -> list[bytes]:
    """One JSON object per event (flat, ``ts`` in epoch seconds), as Kafka values."""
    cols = w.columns if isinstance(w, Workload) else w
    keys = list(cols)
    lists = [cols[k].tolist() for k in keys]
    dumps = orjson.dumps
    return [dumps(dict(zip(keys, row, strict=True))) for row in zip(*lists, strict=True)]


def to_arrow(w: Workload | Columns) -> pa.Table:
    cols = w.columns if isinstance(w, Workload) else w
    return pa.table({k: pa.array(v.tolist() if v.dtype == object else v) for k, v in cols.items()})


def write_parquet(w: Workload | Columns, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_arrow(w), path)
    return path


def write_jsonl(w: Workload | Columns, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(b"\n".join(to_json_lines(w)) + b"\n")
    return path


def monitor_config(
    name: str = "bench",
    window: str = "1m",
    features: tuple[str, ...] = FEATURES,
    segments: tuple[str, ...] = SEGMENTS,
    **overrides: object,
) -> dict[str, object]:
    """A driftline.yaml (as a dict) that monitors this workload."""
    feats = [
        {"name": f, "type": "categorical" if f in CATEGORICAL else "numeric"} for f in features
    ]
    cfg: dict[str, object] = {
        "monitor": name,
        "source": {"format": "json", "event_time": {"field": "ts", "unit": "s"}},
        "features": feats,
        "segments": list(segments),
        "max_cohorts_per_segment": 500,
        "windows": {"size": window, "allowed_lateness": "0s"},
        "metrics": {"listen": None},
    }
    cfg.update(overrides)
    return cfg
