"""The baseline's reference performance, read from a training file with predictions and labels.

``reference_attachments`` computes, for the global population and every cohort with at least
``min_cohort_rows`` labelled rows, the reference :class:`~sketches.performance.PerformanceState`
and what the estimator needs: (binary) the isotonic :class:`~sketches.calibration.Calibration`,
(regression) the :class:`~sketches.regression.ErrorMap` over the global population's
prediction quantiles (a cohort's bins shrink toward the global map's). They are stored in the
baseline file as attachments ``performance:<segment>=<cohort>``,
``calibration:<segment>=<cohort>`` and ``errors:<segment>=<cohort>`` (``all=all`` for the
global population).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from driftline.sketches.calibration import Calibration
from driftline.sketches.performance import PerformanceState, ScoreGrid
from driftline.sketches.regression import ErrorMap
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.performance.columns import (
    label_column,
    predicted_of,
    prediction_decoder,
    scores_of,
    segment_values,
)
from driftline.stream.performance.tracker import ALL, PerformanceTracker
from driftline.stream.sources.files import Progress, read_events


def reference_attachments(config: DriftlineConfig, data: Path | str, min_cohort_rows: int = 1000,
                          progress: Progress | None = None) -> dict[str, bytes]:
    """Reference performance and calibration per cohort with labelled data (module doc)."""
    d = read_events(Path(data), prediction_decoder(config, with_label=True,
                                                   require_event_time=False), progress)
    task = config.prediction_model.task
    grid = ScoreGrid(bins=config.prediction_model.score_bins)
    s, y = scores_of(d), label_column(d, task)
    tracker = PerformanceTracker(model=config.model, labels=None, window_size=1.0,
                                 segments=config.segments)
    yhat = tracker.predicted_class(s, predicted_of(d, config)) if task != "regression" else None
    groups: list[tuple[str, str, np.ndarray]] = [(ALL, ALL, np.arange(d.n))]
    for name, vals in segment_values(d, config.segments).items():
        for value in sorted(set(vals.tolist())):
            groups.append((name, str(value), np.flatnonzero(vals == value)))
    out: dict[str, bytes] = {}
    glob: ErrorMap | None = None
    for seg, cohort, rows in groups:
        labelled = rows[np.isfinite(y[rows])]
        if labelled.shape[0] == 0 or (seg != ALL and labelled.shape[0] < min_cohort_rows):
            continue
        emap = None
        if task == "regression":  # the global map comes first: its grid is everyone's
            emap = ErrorMap.fit(s[labelled], y[labelled], bins=config.prediction_model.error_bins,
                                grid=None if glob is None else glob.grid, parent=glob)
            glob = glob or emap
        st = PerformanceState(task=task, grid=grid, values=None if emap is None else emap.grid)
        st.add_predictions(s[rows], None if yhat is None else yhat[rows])
        st.add_labels(s[labelled], None if yhat is None else yhat[labelled], y[labelled])
        if st.labeled == 0:
            continue
        out[f"performance:{seg}={cohort}"] = st.to_bytes()
        if emap is not None:
            out[f"errors:{seg}={cohort}"] = emap.to_bytes()
        else:
            with contextlib.suppress(ValueError):  # one class only: no calibration here
                out[f"calibration:{seg}={cohort}"] = Calibration.fit(st).to_bytes()
    if "performance:all=all" not in out:
        raise ValueError(f"{data}: no row has both a valid prediction "
                         f"({config.prediction_model.prediction}) and a valid label "
                         f"({config.label_source.label})")
    return out
