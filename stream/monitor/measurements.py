"""WindowResult -> ``alerts.model.Measurement``: what the alerting rules consume.

Per cohort and feature: one ``drift`` measurement per computed metric (value, n, m, p-value,
status; ``details`` carry the contributing bins/categories, the quantiles and the sketch error
bound), five ``quality`` ratios; per cohort one ``volume`` measurement (events in the window,
``details["expected"]`` from the baseline's training rate). Drift against every other
reference of the cohort (``CohortResult.references``) gives drift measurements of its own,
with ``reference`` set (``trailing``, ``seasonal``, ``cohort:<value>``). Every measurement's
details carry the ``baseline_version`` the window was evaluated against. Unfinished rollups
(``complete=False``) give no volume measurement (a partial hour is not a drop).

>>> from driftline.stream.engine.results import WindowResult
>>> to_measurements(WindowResult("m", 0.0, 300.0, "5m", []))
[]
"""

from __future__ import annotations

import math

from driftline.alerts.model import Measurement
from driftline.sketches.evaluate import QUANTILE_LEVELS, FeatureEvaluation
from driftline.stream.config.references import TRAINING
from driftline.stream.engine.results import CohortResult, WindowResult

QUALITY_KINDS = ("null_ratio", "nan_ratio", "out_of_range_ratio", "unseen_ratio",
                 "invalid_ratio")


def _f(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _drift(result: WindowResult, c: CohortResult, fe: FeatureEvaluation, reference: str,
           version: str | None) -> list[Measurement]:
    out: list[Measurement] = []
    quantiles = None
    if fe.quantiles_current is not None:
        quantiles = {"levels": list(QUANTILE_LEVELS),
                     "current": list(fe.quantiles_current),
                     "baseline": list(fe.quantiles_baseline or ())}
    for metric, s in fe.scores.items():
        details = {
            "contributions": [
                {"bin": lab, "baseline": b, "current": cur, "contribution": con}
                for lab, b, cur, con in s.contributions],
            "error_bound": s.error_bound,
            "own_baseline": c.own_baseline,
            "baseline_version": version,
        }
        if quantiles is not None:
            details["quantiles"] = quantiles
        p = None if s.p_value is None or math.isnan(s.p_value) else float(s.p_value)
        out.append(Measurement(result.monitor, "drift", metric, fe.name, c.segment, c.cohort,
                               result.tier, result.start, result.end, _f(s.value), s.n, s.m, p,
                               s.status, details, reference))
    return out


def to_measurements(result: WindowResult) -> list[Measurement]:
    out: list[Measurement] = []
    mon, tier, start, end = result.monitor, result.tier, result.start, result.end
    version = None if result.baseline is None else result.baseline["version"]
    for c in result.cohorts:
        for fe in c.features.values():
            out.extend(_drift(result, c, fe, TRAINING, version))
            q = fe.quality
            for kind in QUALITY_KINDS:
                out.append(Measurement(mon, "quality", kind, fe.name, c.segment, c.cohort, tier,
                                       start, end, _f(getattr(q, kind)), q.n,
                                       details={"baseline_version": version}))
        if result.complete:
            out.append(Measurement(mon, "volume", "events", "", c.segment, c.cohort, tier, start,
                                   end, float(c.n), c.n,
                                   details={"expected": c.expected_events or 0.0,
                                            "baseline_version": version}))
        for ref in c.references:
            for fe in ref.evaluation.features.values():
                out.extend(_drift(result, c, fe, ref.reference, version))
    return out
