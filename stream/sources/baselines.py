"""Baselines from training files, and baseline files on disk.

``build_baseline`` reads the training data (JSONL, CSV or Parquet) with the SAME extraction the
stream uses (:mod:`stream.sources.files`: the stream decoder for JSONL, the same
canonicalization for columnar files), then ``sketches.Baseline.build`` profiles the global
population and every segment value with enough rows. The baseline's ``meta`` records the
training rows per segment value and, when the data has event times, the time span they cover —
the expected events per window for the volume check.

>>> import tempfile, pathlib, orjson
>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...                     "segments": ["r"], "source": {"event_time": {"field": "ts"}}})
>>> p = pathlib.Path(tempfile.mkdtemp()) / "train.jsonl"
>>> _ = p.write_bytes(b"\\n".join(orjson.dumps({"ts": i, "x": i % 7, "r": "eu"})
...                                for i in range(3000)))
>>> b = build_baseline(cfg, p, min_cohort_rows=1000)
>>> b.rows, b.cohorts, b.meta["span_seconds"]
(3000, (('r', 'eu'),), 3000.0)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from driftline.sketches.baseline import Baseline
from driftline.sketches.codec import SketchFormatError
from driftline.sketches.schema import CategoricalSpec, NumericSpec
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.factory import decoder_for
from driftline.stream.engine.cohorts import MISSING
from driftline.stream.engine.core import feature_specs
from driftline.stream.sources.files import Progress, read_events

MAX_SEGMENT_VALUES = 10_000


class BaselineError(ValueError):
    """A baseline file that cannot be used (missing, unreadable, corrupt, wrong version)."""


def build_baseline(config: DriftlineConfig, data: Path | str, *, bins: int = 10,
                   min_cohort_rows: int = 1000, progress: Progress | None = None,
                   bins_from: Baseline | None = None) -> Baseline:
    """``bins_from``: reuse that baseline's numeric edges and category vocabularies (for the
    features both have), so live windows profiled on its bins are compared with the new
    baseline exactly after a swap."""
    decoder = decoder_for(config, require_event_time=False)
    d = read_events(Path(data), decoder, progress)
    if d.n == 0:
        raise ValueError(f"{data}: no usable rows to build a baseline from")
    segments: dict[str, np.ndarray] = {}
    segment_rows: dict[str, dict[str, int]] = {}
    for name, codes in d.segments.items():
        table = np.array([*codes.labels, MISSING], dtype=object)
        idx = np.where(codes.codes < 0, len(codes.labels), codes.codes)
        segments[name] = table[idx]
        counts = np.bincount(idx, minlength=len(table))
        order = np.argsort(-counts, kind="stable")[:MAX_SEGMENT_VALUES]
        segment_rows[name] = {str(table[i]): int(counts[i]) for i in order.tolist()
                              if counts[i] > 0}
    t = d.event_time[np.isfinite(d.event_time)]
    span = float(t.max() - t.min()) if t.shape[0] > 1 else 0.0
    if span > 0:  # n events over n - 1 gaps: the rate's period is span * n / (n - 1)
        span = span * t.shape[0] / (t.shape[0] - 1)
    meta = {"monitor": config.monitor, "source": Path(data).name, "span_seconds": span,
            "segment_rows": segment_rows, "dead_letters": len(d.dead_letters),
            "time_from": float(t.min()) if t.shape[0] else None,
            "time_to": float(t.max()) if t.shape[0] else None}
    specs = feature_specs(config)
    if bins_from is not None:
        specs = [_bins_of(spec, bins_from) for spec in specs]
    base = Baseline.build(specs, d.columns(), segments, bins=bins,
                          min_cohort_rows=min_cohort_rows, meta=meta)
    if config.model is not None and config.labels is not None:
        # the reference performance and the estimator's calibration, per cohort with labels
        from driftline.stream.sources.labels import reference_attachments

        try:
            base.attachments.update(reference_attachments(config, data, min_cohort_rows))
            cohorts = sorted(k.partition(":")[2] for k in base.attachments
                             if k.startswith("performance:"))
            base.meta["model_quality"] = {"cohorts": cohorts}
        except ValueError as exc:  # no labels in the training data: features only
            base.meta["model_quality"] = {"cohorts": [], "skipped": str(exc)}
    return base


def _bins_of(spec: NumericSpec | CategoricalSpec, other: Baseline
             ) -> NumericSpec | CategoricalSpec:
    theirs = other.schema.get(spec.name)
    if isinstance(spec, NumericSpec) and isinstance(theirs, NumericSpec):
        return replace(spec, edges=theirs.edges)
    if isinstance(spec, CategoricalSpec) and isinstance(theirs, CategoricalSpec):
        return replace(spec, vocabulary=theirs.vocabulary)
    return spec


def save_baseline(baseline: Baseline, path: Path | str) -> int:
    """Write atomically; returns the size in bytes."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = baseline.to_bytes()
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(p)
    return len(data)


def load_baseline(path: Path | str) -> Baseline:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {p}: {exc.strerror}") from None
    return parse_baseline(data, str(p))


def parse_baseline(data: bytes, location: str) -> Baseline:
    """A baseline from the bytes found at ``location`` (a path or URL, kept as its
    ``location``)."""
    try:
        base = Baseline.from_bytes(data)
    except SketchFormatError as exc:
        raise BaselineError(f"{location} is not a usable driftline baseline: {exc}") from None
    base.location = location
    return base
