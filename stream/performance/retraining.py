"""Retraining triggers: JSON events a pipeline (Airflow, Kubeflow...) can act on.

Three kinds of trigger (``retraining.triggers`` in driftline.yaml), evaluated on the whole
population:

* ``{metric: accuracy, threshold: 0.05, window: 7d}`` -- the realized accuracy of the labelled
  predictions of the last ``window`` of matured windows is at least ``threshold`` (absolute)
  below the baseline's, and the drop is significant (one-sided two-proportion z-test at
  ``alpha``, :func:`sketches.performance_tests.accuracy_drop_p`);
* ``{metric: feature_drift_psi, threshold: 0.2, features: [amount, ...]}`` -- a listed feature's
  PSI in a closed window is above ``threshold`` (with at least ``drift.min_samples`` events);
* ``{metric: prediction_distribution_shift, threshold: 0.1}`` -- the PSI of the window's score
  distribution against the baseline's is above ``threshold``.

A trigger that fired stays quiet for ``cooldown`` (event time; :meth:`RetrainingTriggers.state`
is part of the live merger's checkpoint, so the cooldown survives a restart). Each firing is one
JSON object; ``id`` is the same if the event is sent again after a crash (a receiver dedupes
on it)::

    {"type": "retraining_trigger", "id", "monitor", "metric", "threshold", "value", "features",
     "window": {"start", "end", "tier"}, "at", "details"}

sent to ``webhook_url_env`` (HTTP POST, JSON body) and/or handed to a sink for ``kafka_topic``;
the backtest lists them under ``retraining`` without sending.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from driftline.sketches.performance import PerformanceState
from driftline.sketches.performance_tests import accuracy_drop_p
from driftline.stream.config.retraining import RetrainingConfig, TriggerConfig
from driftline.stream.engine.results import iso


class RetrainingTriggers:
    """Evaluates the triggers on closed and matured windows; see the module doc."""

    def __init__(self, *, monitor: str, config: RetrainingConfig, min_samples: int = 0,
                 sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.monitor = monitor
        self.config = config
        self.min_samples = min_samples
        self.sink = sink
        self.events: list[dict[str, Any]] = []
        self._last: dict[int, float] = {}
        self._matured: list[tuple[float, float, PerformanceState]] = []

    def _fire(self, i: int, trig: TriggerConfig, value: float, start: float, end: float,
              tier: str, at: float, details: dict[str, Any]) -> None:
        if at - self._last.get(i, -math.inf) < self.config.cooldown:
            return
        self._last[i] = at
        event = {"type": "retraining_trigger", "id": f"{self.monitor}|{trig.metric}|{i}|{end:.0f}",
                 "monitor": self.monitor, "metric": trig.metric,
                 "threshold": trig.threshold, "value": value, "features": list(trig.features),
                 "window": {"start": iso(start), "end": iso(end), "tier": tier,
                            "start_ts": start, "end_ts": end},
                 "at": at, "details": details}
        self.events.append(event)
        if self.sink is not None:
            self.sink(event)

    def observe_closed(self, window: dict[str, Any], prediction_psi: float | None) -> None:
        """A closed window (report shape) and its global prediction-drift PSI."""
        glob = next((c for c in window["cohorts"] if c["segment"] == "all"), None)
        if glob is None:
            return
        start, end, tier = window["start_ts"], window["end_ts"], window["tier"]
        for i, trig in enumerate(self.config.triggers):
            if trig.metric == "prediction_distribution_shift":
                if prediction_psi is not None and prediction_psi > trig.threshold:
                    self._fire(i, trig, prediction_psi, start, end, tier, end, {})
            elif trig.metric == "feature_drift_psi":
                hits = {f["name"]: f["psi"] for f in glob["features"]
                        if f["name"] in trig.features and f["psi"] is not None
                        and f["n"] >= self.min_samples and f["psi"] > trig.threshold}
                if hits:
                    self._fire(i, trig, max(hits.values()), start, end, tier, end,
                               {"psi": hits})

    def observe_matured(self, start: float, end: float, tier: str, state: PerformanceState,
                        reference: PerformanceState | None, at: float) -> None:
        """A matured base window's global state: accuracy over the trailing ``window``."""
        self._matured.append((start, end, state))
        if reference is None or reference.labeled == 0:
            return
        ref = reference.realized()
        for i, trig in enumerate(self.config.triggers):
            if trig.metric != "accuracy":
                continue
            pooled = PerformanceState(task=state.task, grid=state.grid)
            first = end
            for s, _e, st in self._matured:
                if s >= end - trig.window:
                    pooled.merge(st)
                    first = min(first, s)
            if pooled.labeled == 0:
                continue
            acc = pooled.realized()["accuracy"]
            drop = ref["accuracy"] - acc
            p = accuracy_drop_p(acc, pooled.effective_n, ref["accuracy"], reference.effective_n)
            if drop >= trig.threshold and math.isfinite(p) and p <= trig.alpha:
                self._fire(i, trig, drop, first, end, tier, at,
                           {"accuracy": acc, "reference": ref["accuracy"], "p_value": p,
                            "labeled": pooled.labeled})
        horizon = max((t.window for t in self.config.triggers if t.metric == "accuracy"),
                      default=0.0)
        self._matured = [m for m in self._matured if m[0] >= end - horizon]


    def state(self) -> tuple[dict[str, Any], list[bytes]]:
        """The cooldowns and the pooled matured windows (meta, one blob per window)."""
        meta = {"last": [[i, t] for i, t in self._last.items()],
                "matured": [[s, e] for s, e, _ in self._matured]}
        return meta, [st.to_bytes() for _, _, st in self._matured]

    def load(self, meta: dict[str, Any], blobs: list[bytes]) -> None:
        """Restore :meth:`state`."""
        self._last = {int(i): float(t) for i, t in meta["last"]}
        self._matured = [(float(s), float(e), PerformanceState.from_bytes(b))
                         for (s, e), b in zip(meta["matured"], blobs, strict=True)]


def post_webhook(event: dict[str, Any], url: str, timeout: float = 10.0) -> int:
    """POST the event as JSON; returns the HTTP status (raises on connection errors)."""
    import httpx

    return httpx.post(url, json=event, timeout=timeout).status_code
