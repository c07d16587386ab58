"""Shared helpers for the engine tests: a small monitor config and generated events."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from driftline.stream.config.model import DriftlineConfig, parse_config

REGIONS = ("eu", "us", "ap", "latam")
REGION_P = (0.4, 0.3, 0.2, 0.1)
DEVICES = ("ios", "android", "web")
T0 = 1_699_999_200.0  # a multiple of 3600 s: minute and hour windows align with it


def small_config(**overrides: Any) -> DriftlineConfig:
    return parse_config(config_dict(**overrides))


def config_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "monitor": "test-model",
        "source": {"event_time": {"field": "ts"}},
        "features": [
            {"name": "amount", "type": "numeric", "range": [0, 1000]},
            {"name": "x", "type": "numeric"},
            {"name": "score", "type": "numeric", "path": "model.score"},
            {"name": "merchant", "type": "categorical"},
            {"name": "channel", "type": "categorical"},
        ],
        "segments": ["region", "device"],
        "max_cohorts_per_segment": 10,
        "windows": {"size": "1m", "allowed_lateness": "0s"},
        "drift": {"metric": "psi", "min_samples": 200, "for_windows": 1},
        "metrics": {"listen": None},
    }
    data.update(overrides)
    return data


def columns(n: int, seed: int = 0, rate: float = 100.0, t0: float = T0,
            shift: float = 0.0, shift_from: float | None = None,
            shift_region: str | None = None) -> dict[str, np.ndarray]:
    """``n`` events at ``rate``/s from ``t0``; optionally ``x`` shifted by ``shift`` from time
    ``shift_from`` on, in one region only."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {
        "ts": t0 + np.arange(n) / rate,
        "amount": np.round(rng.lognormal(3.0, 1.0, n), 2),
        "x": rng.normal(0.0, 1.0, n),
        "score": rng.beta(2.0, 5.0, n),
        "merchant": np.array([f"m{i}" for i in range(12)], dtype=object)[rng.integers(0, 12, n)],
        "channel": np.array(["app", "web", "store"], dtype=object)[rng.integers(0, 3, n)],
        "region": np.array(REGIONS, dtype=object)[rng.choice(4, n, p=REGION_P)],
        "device": np.array(DEVICES, dtype=object)[rng.integers(0, 3, n)],
    }
    if shift and shift_from is not None:
        hit = cols["ts"] >= shift_from
        if shift_region is not None:
            hit &= cols["region"] == shift_region
        cols["x"] = np.where(hit, cols["x"] + shift, cols["x"])
    return cols


def to_records(cols: dict[str, np.ndarray]) -> list[bytes]:
    keys = [k for k in cols if k != "score"]
    lists = [cols[k].tolist() for k in keys]
    scores = cols["score"].tolist()
    out = []
    for row, s in zip(zip(*lists, strict=True), scores, strict=True):
        d = dict(zip(keys, row, strict=True))
        d["model"] = {"score": s}
        out.append(orjson.dumps(d))
    return out
