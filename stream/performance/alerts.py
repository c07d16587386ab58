"""Performance drops as alert measurements (``check: performance``).

For a window x cohort, one measurement per metric in ``performance.metrics`` that the task has
(accuracy, roc_auc; regression: mae, rmse, mse) and kind: ``feature: estimated`` at window
close (from the predictions before any label, ``n`` = predictions) and ``feature: realized``
once the window's labels are in (``n`` = the effective number of labels; window tier
``<tier>+labels``, a separate alert key). ``value`` is the drop below the baseline's reference
(positive = worse; regression: the relative rise of the error, ``current / reference - 1``),
``p_value`` the one-sided test of :mod:`sketches.performance_tests` (regression:
:func:`sketches.regression.error_rise_p`); the rules
(:class:`stream.config.performance.PerformanceAlertConfig`) decide materiality, significance
and the minimum sample. The p-values of one window's cohorts x metrics are adjusted together
(Benjamini-Hochberg, :func:`adjusted`), as the drift tests are, so many cohorts do not mean
many false pages.

With ``compare: {segment, reference}``, :func:`cohort_drop_measurements` gives the realized drop
of every other cohort of the segment below the reference cohort *of the same window*
(``reference: cohort:<value>``): both sides are samples, and the tests take both sizes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from driftline.alerts.model import Measurement
from driftline.sketches.fdr import bh_adjust
from driftline.sketches.performance import PerformanceState
from driftline.sketches.performance_tests import accuracy_drop_p, auc_drop_p
from driftline.sketches.regression import error_rise_p
from driftline.stream.config.performance import REGRESSION_METRICS
from driftline.stream.performance.tracker import PerformanceTracker

LABELED_SUFFIX = "+labels"


def drop_measurements(tracker: PerformanceTracker, monitor: str, tier: str, start: float,
                      end: float, segment: str, cohort: str, admitted: set[str] | None,
                      kind: str, metrics: list[str]) -> list[Measurement]:
    """The drop measurements of one window x cohort (``kind``: estimated | realized)."""
    ref = tracker._reference(segment, cohort)[0]
    if ref is None or ref.labeled == 0:
        return []
    st = tracker.state_for(start, end, segment, cohort, admitted)
    if not tracker.binary:
        return _rise_measurements(tracker, st, ref, monitor, tier, start, end, segment, cohort,
                                  kind, [m for m in metrics if m in REGRESSION_METRICS])
    metrics = [m for m in metrics if m not in REGRESSION_METRICS]
    rr = ref.realized()
    n_ref = ref.effective_n
    if kind == "estimated":
        cur: dict[str, Any] = tracker.estimated(st, segment, cohort)
        if not cur or st.predictions == 0:
            return []
        n = float(st.predictions)
        window = tier
    else:
        if st.labeled == 0:
            return []
        cur = st.realized()
        n = st.effective_n
        window = tier + LABELED_SUFFIX
    return _drops(monitor, window, start, end, segment, cohort, kind, metrics, st, cur, n, rr,
                  n_ref, "training")


def cohort_drop_measurements(tracker: PerformanceTracker, monitor: str, tier: str, start: float,
                             end: float, segment: str, cohort: str, reference: str,
                             admitted: set[str] | None, metrics: list[str]) -> list[Measurement]:
    """The realized drop of ``cohort`` below the cohort ``reference`` of the same segment in
    the same window (``compare:``); nothing until both have labels."""
    if not tracker.binary or cohort == reference:
        return []
    st = tracker.state_for(start, end, segment, cohort, admitted)
    ref = tracker.state_for(start, end, segment, reference, admitted)
    if st.labeled == 0 or ref.labeled == 0:
        return []
    metrics = [m for m in metrics if m not in REGRESSION_METRICS]
    return _drops(monitor, tier + LABELED_SUFFIX, start, end, segment, cohort, "realized",
                  metrics, st, st.realized(), st.effective_n, ref.realized(), ref.effective_n,
                  f"cohort:{reference}")


def _drops(monitor: str, window: str, start: float, end: float, segment: str, cohort: str,
           kind: str, metrics: list[str], st: PerformanceState, cur: dict[str, Any], n: float,
           rr: dict[str, Any], n_ref: float, against: str) -> list[Measurement]:
    pos = cur["positive_rate"] * n
    pos_ref = rr["positive_rate"] * n_ref
    rows = []
    for metric in metrics:
        value, reference = cur.get(metric, math.nan), rr.get(metric, math.nan)
        if metric == "accuracy":
            p = accuracy_drop_p(value, n, reference, n_ref)
        else:
            p = auc_drop_p(value, pos, n - pos, reference, pos_ref, n_ref - pos_ref)
        drop = reference - value
        rows.append((metric, value, reference, float(drop) if math.isfinite(drop) else math.nan,
                     p))
    return _measurements(monitor, window, start, end, segment, cohort, kind, st, n, n_ref,
                         rows, against)


def _measurements(monitor: str, window: str, start: float, end: float, segment: str,
                  cohort: str, kind: str, st: PerformanceState, n: float, n_ref: float,
                  rows: list[tuple[str, float, float, float, float]],
                  against: str = "training") -> list[Measurement]:
    """One measurement per ``(metric, current, reference, value, p)`` of ``rows``: ``value``
    the drop (or rise), ``p`` its one-sided p-value (None unless finite)."""
    return [Measurement(
        monitor, "performance", metric, kind, segment, cohort, window, start, end, change,
        int(round(n)), int(round(n_ref)), None if not math.isfinite(p) else p, "ok",
        {"current": value, "reference": reference, "kind": kind,
         "labeled": st.labeled, "predictions": st.predictions}, against)
        for metric, value, reference, change, p in rows]


def _moments(st: PerformanceState) -> dict[str, float]:
    """Realized mean |e|, e^2 and their per-row second moments (e^2, e^4; NaN for a state
    from before the sum of e^4 was kept, so its MSE/RMSE test is undefined, not overconfident)."""
    w = st.w_sum
    _, ae, se, _, _, qe = st.sums.tolist()
    return {"mae": ae / w, "mse": se / w, "sq_sq": qe / w if qe > 0 or se == 0 else math.nan}


def _rise_measurements(tracker: PerformanceTracker, st: PerformanceState,
                       ref: PerformanceState, monitor: str, tier: str, start: float, end: float,
                       segment: str, cohort: str, kind: str, metrics: list[str]
                       ) -> list[Measurement]:
    """Regression: the relative rise of MAE / RMSE / MSE over the reference's, with the
    one-sided Welch test of the mean loss (RMSE is tested as MSE, its square)."""
    if kind == "estimated":
        cur = tracker.estimated(st, segment, cohort)
        n, window = float(st.predictions), tier
    else:
        cur = _moments(st) if st.w_sum > 0 else {}
        n, window = st.effective_n, tier + LABELED_SUFFIX
    if not cur or not metrics:
        return []
    rm, n_ref = _moments(ref), ref.effective_n
    # the per-row second moment of |e| is the mean e^2, the MSE
    p_abs = error_rise_p(cur["mae"], cur["mse"], n, rm["mae"], rm["mse"], n_ref)
    p_sq = error_rise_p(cur["mse"], cur["sq_sq"], n, rm["mse"], rm["sq_sq"], n_ref)
    rows = []
    for metric in metrics:
        value = cur["mae"] if metric == "mae" else cur["mse"]
        reference = rm["mae"] if metric == "mae" else rm["mse"]
        if metric == "rmse":
            value, reference = math.sqrt(value), math.sqrt(reference)
        rise = value / reference - 1.0 if reference > 0 else math.nan
        rows.append((metric, value, reference, rise, p_abs if metric == "mae" else p_sq))
    return _measurements(monitor, window, start, end, segment, cohort, kind, st, n, n_ref, rows)


def adjusted(ms: list[Measurement], baseline_version: str | None = None) -> list[Measurement]:
    """The same measurements with Benjamini-Hochberg q-values as ``p_value`` (the raw one in
    ``details["p_raw"]``) and, when known, the ``baseline_version`` they were evaluated with
    (as drift measurements carry it)."""
    q = bh_adjust([math.nan if m.p_value is None else m.p_value for m in ms])
    version = {} if baseline_version is None else {"baseline_version": baseline_version}
    return [replace(m, p_value=None if math.isnan(qi) else float(qi),
                    details={**m.details, "p_raw": m.p_value, **version})
            for m, qi in zip(ms, q.tolist(), strict=True)]


def against_record(ms: list[Measurement]) -> dict[str, Any]:
    """The ``performance.against`` entry of a cohort's results record from its adjusted
    :func:`cohort_drop_measurements`: the reference cohort's realized metrics and labels, the
    drop below them (positive = worse), the q-value the alert rules saw and the raw one-sided
    p-value; ``effective_n`` is the reference cohort's effective number of labels."""
    def num(x: Any) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    first = ms[0]
    return {"reference": first.reference, "effective_n": first.m,
            "realized": {m.metric: num(m.details["reference"]) for m in ms},
            "drop": {m.metric: num(m.value) for m in ms},
            "p_value": {m.metric: num(m.p_value) for m in ms},
            "p_raw": {m.metric: num(m.details["p_raw"]) for m in ms}}
