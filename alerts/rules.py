"""Rules: the measurements of one window -> one :class:`Finding` per alert key.

A finding says whether the key breaches (and at which severity), whether it is clearly back to
normal (below the lower ``clear`` threshold), or whether the window cannot tell
(``insufficient``: too few events). Drift breaches also need significance: Benjamini–Hochberg at
``drift.alpha`` across all feature × cohort tests of the window, so 2000 tests of pure noise do
not page.

>>> from driftline.alerts.model import Measurement
>>> rules = Rules(DriftConfig(min_samples=100), QualityConfig(), VolumeConfig(), [])
>>> m = Measurement("fraud", "drift", "psi", "amount", "all", "all", "5m", 0, 300, 0.31,
...                 n=2000, m=50000, p_value=1e-30)
>>> [(f.severity, f.threshold) for f in rules.evaluate([m], {})]
[('critical', 0.2)]
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.alerts.control_chart import ChartState
from driftline.alerts.model import SEVERITY_RANK, AlertKey, Measurement, Severity
from driftline.sketches.fdr import bh_adjust
from driftline.stream.config.alerts import (
    DriftConfig,
    DriftOverride,
    FreshnessRule,
    QualityConfig,
    Tiers,
    VolumeConfig,
)
from driftline.stream.config.performance import PerformanceAlertConfig
from driftline.stream.config.references import reference_drift


@dataclass(slots=True)
class Finding:
    """The verdict of one window on one alert key."""

    key: AlertKey
    measurement: Measurement
    severity: Severity | None
    threshold: float | None
    clear: bool
    insufficient: bool
    for_windows: int
    clear_windows: int
    channels: list[str] | None = None
    breaches: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Candidate:
    m: Measurement
    severity: Severity | None
    threshold: float | None
    clear: bool
    insufficient: bool
    for_windows: int
    clear_windows: int
    channels: list[str] | None = None


def _tier_severity(value: float, tiers: Tiers) -> tuple[Severity | None, float | None]:
    if tiers.critical is not None and value >= tiers.critical:
        return "critical", tiers.critical
    if tiers.warning is not None and value >= tiers.warning:
        return "warning", tiers.warning
    return None, tiers.warning if tiers.warning is not None else tiers.critical


_SEVERITY: dict[int, Severity | None] = {0: None, 1: "warning", 2: "critical"}


def _chart_key(m: Measurement) -> str:
    return f"{AlertKey.of(m).id}|{m.metric}"


def _insufficient(m: Measurement, min_samples: int) -> bool:
    return m.status == "insufficient_data" or m.n < min_samples or not math.isfinite(m.value)


class Rules:
    """Applies the drift, quality, volume and freshness rules to one window's measurements."""

    def __init__(
        self,
        drift: DriftConfig,
        quality: QualityConfig,
        volume: VolumeConfig,
        freshness: Sequence[FreshnessRule],
        performance: PerformanceAlertConfig | None = None,
        references: Mapping[str, DriftOverride | None] | None = None,
    ) -> None:
        self.performance = performance or PerformanceAlertConfig()
        # the rules of the other references by name (see other_references)
        self.references = dict(references or {})
        self.drift = drift
        self.quality = quality
        self.volume = volume
        self.freshness = {rule.name: rule for rule in freshness}
        self._configs: dict[tuple[str, str], DriftConfig] = {}
        self._rules: dict[
            tuple[str, str, str],
            tuple[DriftConfig, Tiers, tuple[float, float, float, float]] | None,
        ] = {}

    def _drift_config(self, feature: str, reference: str = "training") -> DriftConfig:
        cfg = self._configs.get((feature, reference))
        if cfg is None:
            cfg = self._configs[(feature, reference)] = reference_drift(
                self.drift, self._reference_rule(reference), feature)
        return cfg

    def _reference_rule(self, reference: str) -> DriftOverride | None:
        return self.references.get(reference)

    def _drift_rule(
        self, feature: str, metric: str, reference: str = "training"
    ) -> tuple[DriftConfig, Tiers, tuple[float, float, float, float]] | None:
        """(config, tiers, (min_samples, warning, critical, clear) as floats) of a feature's
        metric against a reference, or None when that metric is not checked. Cached."""
        key = (feature, metric, reference)
        if key in self._rules:
            return self._rules[key]
        cfg = self._drift_config(feature, reference)
        rule = None
        if cfg.enabled and metric in cfg.metric_names:
            tiers = cfg.tiers(metric)
            w, c, cl = (math.nan if t is None else float(t) for t in tiers)
            rule = (cfg, tiers, (float(cfg.min_samples), w, c, cl))
        self._rules[key] = rule
        return rule

    def evaluate(
        self,
        measurements: Sequence[Measurement],
        history: MutableMapping[str, ChartState],
        active: Container[tuple[str, ...]] | None = None,
    ) -> list[Finding]:
        """Findings for the keys the window speaks about. ``history`` (control charts) is
        updated in place with the in-control values of this window. With ``active`` (the parts
        of keys that have state), calm findings of other keys are left out: they change nothing."""
        drift = [m for m in measurements if m.check == "drift"]
        candidates = self._drift(drift, history, active)
        for m in measurements:
            if m.check == "quality":
                c = self._quality(m)
            elif m.check == "volume":
                c = self._volume(m)
            elif m.check == "freshness":
                c = self._freshness(m)
            elif m.check == "performance":
                c = self._performance(m)
            else:
                c = None
            if c is not None and (
                active is None or c.severity is not None or AlertKey.of(c.m).parts in active
            ):
                candidates.append(c)
        return _combine(candidates)

    # -- drift ---------------------------------------------------------------------------------
    def _drift(
        self,
        ms: list[Measurement],
        history: MutableMapping[str, ChartState],
        active: Container[tuple[str, ...]] | None,
    ) -> list[_Candidate]:
        """Vectorized over the window: thresholds, min_samples, significance (BH)."""
        if not self.drift.enabled or not ms:
            return []
        rows: list[tuple[Measurement, DriftConfig, Tiers]] = []
        charts: list[int] = []
        limits: list[tuple[float, float, float, float]] = []
        values: list[float] = []
        sizes: list[int] = []
        p_values: list[float] = []
        flagged: list[bool] = []
        nan = math.nan
        for m in ms:
            rule = self._drift_rule(m.feature, m.metric, m.reference)
            if rule is None:
                continue
            cfg, tiers, limit = rule
            if cfg.mode == "control_chart":
                chart = history.get(_chart_key(m))
                cc = cfg.control_chart
                if chart is not None and chart.n >= cc.min_history:
                    w, c, cl = chart.thresholds(cc.k_warning, cc.k_critical)
                    tiers, limit = Tiers(w, c, cl), (float(cfg.min_samples), w, c, cl)
                charts.append(len(rows))
            rows.append((m, cfg, tiers))
            limits.append(limit)
            values.append(m.value)
            sizes.append(m.n)
            p_values.append(nan if m.p_value is None else m.p_value)
            flagged.append(m.status == "insufficient_data")
        if not rows:
            return []
        value = np.array(values, dtype=np.float64)
        n = np.array(sizes, dtype=np.float64)
        p = np.array(p_values, dtype=np.float64)
        lim = np.array(limits, dtype=np.float64).reshape(-1, 4)
        min_samples, tier = lim[:, 0], lim[:, 1:]
        status = np.array(flagged, dtype=bool)
        insufficient = status | (n < min_samples) | ~np.isfinite(value)
        with np.errstate(invalid="ignore"):
            rank = np.where(value >= tier[:, 1], 2, np.where(value >= tier[:, 0], 1, 0))
            clear = ~insufficient & (value < tier[:, 2])
        rank[insufficient] = 0
        for i in charts:  # learn in-control values only
            m, cfg, _ = rows[i]
            if not insufficient[i] and rank[i] == 0:
                cc = cfg.control_chart
                old = history.get(_chart_key(m)) or ChartState()
                history[_chart_key(m)] = old.update(m.value, cc.method, cc.lam)
        if self.drift.significance:
            tested = ~insufficient & ~np.isnan(p)
            significant = np.ones(len(rows), dtype=bool)
            significant[tested] = bh_adjust(p[tested]) <= self.drift.alpha
            rank[~significant] = 0
        threshold = np.where(rank == 2, tier[:, 1], tier[:, 0])
        keep = rank > 0
        if active:
            keep |= np.array([AlertKey.of(m).parts in active for m, _, _ in rows])
        out: list[_Candidate] = []
        for i in np.flatnonzero(keep).tolist():
            m, cfg, _ = rows[i]
            thr = float(threshold[i])
            out.append(_Candidate(
                m, _SEVERITY[int(rank[i])], None if math.isnan(thr) else thr, bool(clear[i]),
                bool(insufficient[i]), cfg.for_windows, cfg.clear_windows,
            ))
        return out

    # -- quality, volume, freshness ----------------------------------------------------------
    def _quality(self, m: Measurement) -> _Candidate | None:
        q = self.quality
        tiers = q.tiers(m.metric, m.feature)
        if not q.enabled or tiers is None:
            return None
        insufficient = _insufficient(m, q.min_samples)
        severity, threshold = _tier_severity(m.value, tiers) if not insufficient else (None, None)
        clear = not insufficient and tiers.clear is not None and m.value < tiers.clear
        return _Candidate(m, severity, threshold, clear, insufficient, q.for_windows,
                          q.clear_windows)

    def _volume(self, m: Measurement) -> _Candidate | None:
        v = self.volume
        if not v.enabled:
            return None
        expected = float(m.details.get("expected", 0.0) or 0.0)
        insufficient = expected < max(v.min_expected, 1e-12) or not math.isfinite(m.value)
        severity: Severity | None = None
        threshold: float | None = None
        if not insufficient:
            ratio = m.value / expected
            for sev, limit, low in (
                ("critical", v.drop_critical, True),
                ("critical", v.spike_critical, False),
                ("warning", v.drop_warning, True),
                ("warning", v.spike_warning, False),
            ):
                if limit is not None and (ratio <= limit if low else ratio >= limit):
                    severity, threshold = sev, limit * expected  # type: ignore[assignment]
                    break
        return _Candidate(m, severity, threshold, severity is None and not insufficient,
                          insufficient, v.for_windows, v.clear_windows)

    def _freshness(self, m: Measurement) -> _Candidate | None:
        rule = self.freshness.get(m.feature)
        sla = float(m.details.get("max_staleness", rule.max_staleness if rule else 0.0) or 0.0)
        if rule is None and sla <= 0:
            return None
        severity: Severity | None = None
        threshold: float | None = sla
        if m.value > sla:
            severity = rule.severity if rule else m.details.get("severity", "warning")
        elif rule is not None and rule.warning_after is not None and m.value > rule.warning_after:
            severity, threshold = "warning", rule.warning_after
        channels = list(rule.alert_channels) if rule and rule.alert_channels else None
        return _Candidate(m, severity, threshold, severity is None, not math.isfinite(m.value),
                          1, 1, channels)


    def _performance(self, m: Measurement) -> _Candidate | None:
        """A drop alerts when material (>= warning/critical) AND significant (p <= alpha) with
        enough labels; it clears below ``clear``."""
        cfg = self.performance
        if not cfg.enabled or m.metric not in cfg.metrics:
            return None
        if m.feature == "estimated" and not cfg.estimated:
            return None
        insufficient = m.n < cfg.min_labeled or not math.isfinite(m.value)
        severity: Severity | None = None
        threshold: float | None = None
        significant = m.p_value is not None and m.p_value <= cfg.alpha
        warning, critical, clear_below = cfg.levels(m.metric)
        if not insufficient and significant:
            if critical is not None and m.value >= critical:
                severity, threshold = "critical", critical
            elif m.value >= warning:
                severity, threshold = "warning", warning
        clear = not insufficient and m.value < clear_below
        return _Candidate(m, severity, threshold, clear, insufficient, cfg.for_windows,
                          cfg.clear_windows)


def _combine(candidates: list[_Candidate]) -> list[Finding]:
    """One finding per key: the worst metric speaks for the key; it is clear only when every
    metric with enough data is clear; insufficient only when none has enough data."""
    by_key: dict[tuple[str, ...], list[_Candidate]] = {}
    for c in candidates:
        by_key.setdefault(AlertKey.of(c.m).parts, []).append(c)
    findings: list[Finding] = []
    for parts, group in by_key.items():
        key = AlertKey(*parts)
        usable = [c for c in group if not c.insufficient]
        if not usable:
            c = group[0]
            findings.append(Finding(key, c.m, None, c.threshold, False, True, c.for_windows,
                                    c.clear_windows, c.channels))
            continue
        worst = usable[0] if len(usable) == 1 else max(usable, key=_badness)
        breaches = [
            {"metric": c.m.metric, "value": c.m.value, "threshold": c.threshold,
             "severity": c.severity, "p_value": c.m.p_value}
            for c in usable if c.severity is not None
        ]
        findings.append(Finding(
            key, worst.m, worst.severity, worst.threshold, all(c.clear for c in usable), False,
            worst.for_windows, worst.clear_windows, worst.channels, breaches,
        ))
    return findings


def _badness(c: _Candidate) -> tuple[int, float]:
    ratio = c.m.value / c.threshold if c.threshold else 0.0
    return SEVERITY_RANK[c.severity], ratio
