"""Performance drops as alert measurements (``check: performance``).

For a window x cohort, one measurement per metric in ``performance.metrics`` (accuracy,
roc_auc) and kind: ``feature: estimated`` at window close (CBPE from the predictions, ``n`` =
predictions) and ``feature: realized`` once the window's labels are in (``n`` = the effective
number of labels; window tier ``<tier>+labels``, a separate alert key). ``value`` is the drop
below the baseline's reference (positive = worse), ``p_value`` the one-sided test of
:mod:`sketches.performance_tests`; the rules (:class:`alerts.config_performance.
PerformanceAlertConfig`) decide materiality, significance and the minimum sample. The
p-values of one window's cohorts x metrics are adjusted together (Benjamini-Hochberg,
:func:`adjusted`), as the drift tests are, so many cohorts do not mean many false pages.

With ``compare: {segment, reference}``, :func:`cohort_drop_measurements` gives the realized drop
of every other cohort of the segment below the reference cohort *of the same window*
(``reference: cohort:<value>``): both sides are samples, and the tests take both sizes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from driftline.alerts.model import Measurement
from driftline.sketches.calibration import estimate
from driftline.sketches.fdr import bh_adjust
from driftline.sketches.performance_tests import accuracy_drop_p, auc_drop_p
from driftline.stream.performance.tracker import PerformanceTracker

LABELED_SUFFIX = "+labels"


def drop_measurements(tracker: PerformanceTracker, monitor: str, tier: str, start: float,
                      end: float, segment: str, cohort: str, admitted: set[str] | None,
                      kind: str, metrics: list[str]) -> list[Measurement]:
    """The drop measurements of one window x cohort (``kind``: estimated | realized)."""
    if not tracker.binary:
        return []
    ref, cal = tracker._reference(segment, cohort)
    if ref is None or ref.labeled == 0:
        return []
    st = tracker.state_for(start, end, segment, cohort, admitted)
    rr = ref.realized()
    n_ref = ref.effective_n
    if kind == "estimated":
        if cal is None or not tracker.estimate_enabled or st.predictions == 0:
            return []
        cur: dict[str, Any] = estimate(st, cal)
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
    return _drops(monitor, tier + LABELED_SUFFIX, start, end, segment, cohort, "realized",
                  metrics, st, st.realized(), st.effective_n, ref.realized(), ref.effective_n,
                  f"cohort:{reference}")


def _drops(monitor: str, window: str, start: float, end: float, segment: str, cohort: str,
           kind: str, metrics: list[str], st: Any, cur: dict[str, Any], n: float,
           rr: dict[str, Any], n_ref: float, against: str) -> list[Measurement]:
    pos = cur["positive_rate"] * n
    pos_ref = rr["positive_rate"] * n_ref
    out: list[Measurement] = []
    for metric in metrics:
        value, reference = cur.get(metric, math.nan), rr.get(metric, math.nan)
        if metric == "accuracy":
            p = accuracy_drop_p(value, n, reference, n_ref)
        else:
            p = auc_drop_p(value, pos, n - pos, reference, pos_ref, n_ref - pos_ref)
        drop = reference - value
        out.append(Measurement(
            monitor, "performance", metric, kind, segment, cohort, window, start, end,
            float(drop) if math.isfinite(drop) else math.nan, int(round(n)), int(round(n_ref)),
            None if not math.isfinite(p) else p, "ok",
            {"current": value, "reference": reference, "kind": kind,
             "labeled": st.labeled, "predictions": st.predictions}, against))
    return out


def adjusted(ms: list[Measurement]) -> list[Measurement]:
    """The same measurements with Benjamini-Hochberg q-values as ``p_value`` (the raw one in
    ``details["p_raw"]``)."""
    q = bh_adjust([math.nan if m.p_value is None else m.p_value for m in ms])
    return [replace(m, p_value=None if math.isnan(qi) else float(qi),
                    details={**m.details, "p_raw": m.p_value})
            for m, qi in zip(ms, q.tolist(), strict=True)]
