"""Model-quality columns of decoded batches (predictions, classes, ids, labels), and a tracker
with the baseline's reference performance.

The prediction, its predicted class and id, and the label are read with the stream's own
decoder (dotted paths, the same canonicalization for JSONL, CSV and Parquet). Binary labels and
predicted classes are ``0``/``1``/``true``/``false`` (canonical labels ``"1"``/``"true"``,
``"0"``/``"false"``); anything else is malformed. Ids are canonical category labels, so the
number ``7`` and the string ``"7"`` join.

"""

from __future__ import annotations

import numpy as np

from driftline.sketches.baseline import Baseline
from driftline.sketches.calibration import Calibration
from driftline.sketches.codec import SketchFormatError
from driftline.sketches.performance import PerformanceState, ScoreGrid
from driftline.sketches.regression import ErrorMap
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.categories import CategoricalCodes
from driftline.stream.decode.decoder import DecodedBatch, Decoder, FieldSpec
from driftline.stream.engine.cohorts import MISSING
from driftline.stream.performance.tracker import PerformanceTracker

SCORE, ID, PCLASS, LABEL = "dl_model_score", "dl_model_id", "dl_model_class", "dl_label"
_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})


def prediction_decoder(config: DriftlineConfig, with_label: bool = False,
                       require_event_time: bool = True) -> Decoder:
    """Decoder of the model fields (+ the label for training files) and the segments."""
    m = config.prediction_model
    specs = [FieldSpec(SCORE, "numeric", m.prediction), FieldSpec(ID, "categorical", m.id)]
    if m.predicted_class:
        specs.append(FieldSpec(PCLASS, "categorical", m.predicted_class))
    if with_label:
        specs.append(_label_spec(config))
    et = config.source.event_time
    return Decoder(specs, config.segments, et.field, et.unit, config.source.max_record_bytes,
                   require_event_time)


def _label_spec(config: DriftlineConfig) -> FieldSpec:
    kind = "numeric" if config.prediction_model.task == "regression" else "categorical"
    return FieldSpec(LABEL, kind, config.label_source.label)  # type: ignore[arg-type]


def label_decoder(config: DriftlineConfig) -> Decoder:
    """Decoder of label events: id, label and the label's event time."""
    lab = config.label_source
    return Decoder([FieldSpec(ID, "categorical", lab.id), _label_spec(config)], [],
                   lab.time, lab.time_unit, config.source.max_record_bytes, True)


def ids(codes: CategoricalCodes) -> list[str | None]:
    """Canonical id per row (None where missing or invalid)."""
    table: list[str | None] = [*codes.labels, None]
    return [table[c] for c in np.where(codes.codes < 0, len(codes.labels), codes.codes).tolist()]


def binary_values(codes: CategoricalCodes) -> np.ndarray:
    """1.0 / 0.0 per row, NaN where the value is not a binary label."""
    table = np.array([1.0 if v in _TRUE else 0.0 if v in _FALSE else np.nan
                      for v in codes.labels] + [np.nan])
    return table[np.where(codes.codes < 0, len(codes.labels), codes.codes)]


def segment_values(d: DecodedBatch, segments: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in segments:
        codes = d.segments[name]
        table = np.array([*codes.labels, MISSING], dtype=object)
        out[name] = table[np.where(codes.codes < 0, len(codes.labels), codes.codes)]
    return out


def scores_of(d: DecodedBatch) -> np.ndarray:
    col = d.numeric[SCORE]
    s = np.asarray(col.values, dtype=np.float64).copy()
    bad = col.valid_mask()
    if bad is not None:
        s[~bad] = np.nan
    return s


def label_column(d: DecodedBatch, task: str) -> np.ndarray:
    if task == "regression":
        col = d.numeric[LABEL]
        y = np.asarray(col.values, dtype=np.float64).copy()
        ok = col.valid_mask()
        if ok is not None:
            y[~ok] = np.nan
        return y
    return binary_values(d.categorical[LABEL])


def predicted_of(d: DecodedBatch, config: DriftlineConfig) -> np.ndarray | None:
    """The model's own predicted class (malformed ones fall back to score >= threshold)."""
    if not config.prediction_model.predicted_class:
        return None
    v = binary_values(d.categorical[PCLASS])
    with np.errstate(invalid="ignore"):
        fallback = scores_of(d) >= config.prediction_model.threshold
    return np.where(np.isnan(v), fallback, v == 1.0)


def tracker_for(config: DriftlineConfig, baseline: Baseline | None) -> PerformanceTracker:
    """A tracker with the baseline's reference states, calibrations and regression error
    maps (if any)."""
    refs: dict[tuple[str, str], PerformanceState] = {}
    cals: dict[tuple[str, str], Calibration] = {}
    errs: dict[tuple[str, str], ErrorMap] = {}
    for name, blob in (baseline.attachments.items() if baseline is not None else ()):
        kind, _, key = name.partition(":")
        seg, _, cohort = key.partition("=")
        try:
            if kind == "performance":
                refs[(seg, cohort)] = PerformanceState.from_bytes(blob)
            elif kind == "calibration":
                cals[(seg, cohort)] = Calibration.from_bytes(blob)
            elif kind == "errors":
                errs[(seg, cohort)] = ErrorMap.from_bytes(blob)
        except SketchFormatError as exc:
            raise ValueError(f"baseline attachment {name}: {exc}") from None
    grid = ScoreGrid(bins=config.prediction_model.score_bins)
    if any(c.grid != grid for c in cals.values()):
        raise ValueError("the baseline's calibration uses another score grid than "
                         f"model.score_bins={config.prediction_model.score_bins}; "
                         "rebuild the baseline")
    return PerformanceTracker(model=config.model, labels=config.labels,
                              window_size=config.windows.size, segments=config.segments,
                              reference=refs, calibration=cals, errors=errs)
