"""Live model quality: the label workers' partition states merged into one view of every window.

Each label worker owns the join of some partitions (:mod:`stream.kafka.labels_worker`). At
every checkpoint it sends one :func:`label_partial` per owned partition: the per-window x
cohort :class:`~sketches.performance.PerformanceState` of that partition that changed since
its last send (cumulative, not deltas), its event-time clocks and whether it has read both
topics to their end. :class:`PerformanceMerger` keeps the newest state per (partition, window,
raw cohort) — a state sent again (after a restart, or by the partition's next owner) REPLACES
the earlier one, so nothing counts twice — and their sum per (window, raw cohort) in a
:class:`~stream.performance.tracker.PerformanceTracker` whose clock is the slowest partition's.

A base window

* **closes** when every partition's prediction clock has passed its end (a partition that has
  read both topics to their end without any prediction does not hold windows back): segment
  values are admitted as cohorts (:class:`~stream.engine.cohorts.Cohorts`, from the window's
  prediction counts), one ``performance`` record per cohort is emitted (status ``pending`` or
  ``maturing``), the estimated-performance alert measurements and the prediction-shift
  retraining trigger are evaluated;
* **updates** while its labels come: a cohort's record is emitted again when its counts or
  status changed (status ``maturing``);
* **matures** when the slowest partition's clock is ``labels.max_delay`` past its end: the
  final record (``matured`` or ``unlabeled``), the realized-performance alert measurements and
  the accuracy retraining trigger; its states then leave the merger. With ``compare:``, every
  other cohort of the segment is also measured against the reference cohort of the same window
  (:func:`~stream.performance.alerts.cohort_drop_measurements`, ``reference: cohort:<value>``)
  and its record carries the comparison as ``performance.against``.

Every measurement carries the loaded baseline's ``baseline_version`` in its details.

Records are keyed ``<tier>|<start>|<segment>|<cohort>|performance|<status>``: a consumer that
keeps the newest record per key has exactly one record per window x cohort x status (a round
re-emitted after a crash has the same key and counts). The snapshot (:meth:`snapshot`) holds
the partitions' states of the open windows, the cohort registries and the retraining
cooldowns; the Kafka side stores it with the offset of the label-partials topic it covers.

>>> from driftline.stream.config.model import parse_config
>>> import numpy as np
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...     "windows": {"size": "1m"}, "model": {"prediction": "s", "id": "i"},
...     "labels": {"id": "i", "label": "y", "max_delay": "1m"}})
>>> t = tracker_for(cfg, None)
>>> t.add_predictions(np.array([1.0]), ["a"], np.array([0.9]), None, {})
>>> t.add_labels(np.array([30.0, 150.0]), ["a", "b"], np.array([1.0, 1.0]))  # clock: 150
>>> m = PerformanceMerger(config=cfg, baseline=None); m.expect([("preds", 0)])
>>> m.apply(label_partial(0, t.join.clock, 1.0, True, t.states), 0.0)
>>> [(r["segment"], r["performance"]["status"]) for out in m.ready() for _, r in out.records]
[('all', 'matured')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline.alerts.model import Measurement
from driftline.sketches.baseline import Baseline
from driftline.sketches.performance import PerformanceState
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.engine.cohorts import OTHER, Cohorts
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.engine.results import iso
from driftline.stream.performance.alerts import (
    adjusted,
    against_record,
    cohort_drop_measurements,
    drop_measurements,
)
from driftline.stream.performance.columns import tracker_for
from driftline.stream.performance.retraining import RetrainingTriggers
from driftline.stream.performance.tracker import ALL, StateKey

_PARTIAL, _SNAP = b"DLLP", b"DLPM"


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _t(x: Any) -> float:
    return -math.inf if x is None else float(x)


def label_partial(partition: int, clock: float, pred_clock: float, caught_up: bool,
                  states: Mapping[StateKey, PerformanceState]) -> bytes:
    """One partition's changed window x cohort states and its clocks (see the module doc)."""
    keys = sorted(states)
    meta = {"partition": int(partition), "clock": _f(clock), "pred_clock": _f(pred_clock),
            "caught_up": bool(caught_up), "keys": [list(k) for k in keys]}
    return pack(_PARTIAL, 1, meta, [states[k].to_bytes() for k in keys])


@dataclass
class Output:
    """What one round publishes: results-topic (key, record), alert measurements (one list per
    window evaluation, adjusted across its cohorts x metrics) and retraining events."""

    records: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    alerts: list[list[Measurement]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.records or self.alerts or self.events)


class PerformanceMerger:
    """Merges label partials, closes / updates / matures windows; see the module doc."""

    def __init__(self, *, config: DriftlineConfig, baseline: Baseline | None) -> None:
        self.config = config
        self.monitor = config.monitor
        self.view = tracker_for(config, baseline)
        self.cohorts = Cohorts.from_config(config)
        self.tier = config.windows.tiers[0]
        self.size = float(config.windows.size)
        self.metrics: list[str] = list(config.performance.metrics)
        self.version = baseline.version if baseline is not None else None
        self.sources: dict[int, dict[StateKey, PerformanceState]] = {}
        self._blobs: dict[int, dict[StateKey, bytes]] = {}  # as received: the snapshot's
        self.clocks: dict[int, tuple[float, float, bool]] = {}  # clock, pred clock, caught up
        self.expected: set[int] = set()
        self.open: dict[float, dict[str, Any]] = {}  # closed window -> admitted, sent counts
        self.matured_until = -math.inf
        self.triggers = (RetrainingTriggers(monitor=config.monitor, config=config.retraining,
                                            min_samples=config.drift.min_samples)
                         if config.retraining.triggers else None)
        self._dirty: set[StateKey] = set()

    # -- input ------------------------------------------------------------------------------
    def expect(self, sources: Iterable[tuple[str, int]]) -> None:
        """The partitions of the predictions topic (a window waits for all of them)."""
        self.expected.update(int(p) for _, p in sources)

    def apply(self, value: bytes, now: float = 0.0) -> None:
        """One :func:`label_partial`: its states replace the partition's earlier ones."""
        _, meta, blobs = unpack(value, _PARTIAL, {1})
        p = int(meta["partition"])
        self.expected.add(p)
        self.clocks[p] = (_t(meta["clock"]), _t(meta["pred_clock"]), bool(meta["caught_up"]))
        for (w, seg, v), blob in zip(meta["keys"], blobs, strict=True):
            key = (float(w), str(seg), str(v))
            if key[0] >= self.matured_until:
                self._keep(p, key, blob)
                self._dirty.add(key)

    def _keep(self, partition: int, key: StateKey, blob: bytes) -> None:
        """A partition's state of a window x cohort, and its bytes as received (for the
        snapshot)."""
        self.sources.setdefault(partition, {})[key] = PerformanceState.from_bytes(blob)
        self._blobs.setdefault(partition, {})[key] = bytes(blob)

    def _refresh(self) -> set[float]:
        view = self.view
        for key in self._dirty:
            merged = view.new_state()
            for src in self.sources.values():
                if key in src:
                    merged.merge(src[key])
            view.states[key] = merged
        windows = {k[0] for k in self._dirty}
        if self._dirty:
            view.reindex()
        self._dirty = set()
        return windows

    def _limits(self) -> tuple[float, float]:
        """(prediction clock, join clock) of the slowest partition that counts."""
        if not self.expected or any(p not in self.clocks for p in self.expected):
            return -math.inf, -math.inf
        active = [self.clocks[p] for p in self.expected
                  if not (self.clocks[p][1] == -math.inf and self.clocks[p][2])]
        if not active:
            return -math.inf, -math.inf
        return min(c[1] for c in active), min(c[0] for c in active)

    # -- output -----------------------------------------------------------------------------
    def ready(self, now: float | None = None) -> list[Output]:
        """Close, update and mature what the partitions' clocks allow."""
        changed = self._refresh()
        pred_limit, clock = self._limits()
        self.view.join.clock = clock
        delay = self.view.max_delay
        out = Output()
        for w in sorted({k[0] for k in self.view.states}):
            end = w + self.size
            if w not in self.open and (end <= pred_limit or end + delay <= clock):
                self._close(w, out)
            elif w in self.open and w in changed and end + delay > clock:
                self._update(w, out)
        for w in sorted(self.open):
            if w + self.size + delay <= clock:
                self._mature(w, out)
        return [out] if out else []

    def _cohorts(self, w: float) -> list[tuple[str, str, set[str]]]:
        admitted = {s: set(v) for s, v in self.open[w]["admitted"].items()}
        out: list[tuple[str, str, set[str]]] = [(ALL, ALL, set())]
        for seg in self.view.segments:
            values = {k[2] for k in self.view._index.get((seg, w), ())}
            adm = admitted.get(seg, set())
            out += [(seg, v, adm) for v in sorted(values & adm)]
            if values - adm:
                out.append((seg, OTHER, adm))
        return out

    def _emit(self, out: Output, w: float, seg: str, cohort: str, rec: dict[str, Any]) -> None:
        status = rec["status"]
        self.open[w]["sent"][f"{seg}|{cohort}"] = [rec["predictions"], rec["labeled"], status]
        key = f"{self.tier}|{w:.0f}|{seg}|{cohort}|performance|{status}"
        out.records.append((key.encode(), {
            "type": "performance", "monitor": self.monitor, "start": iso(w),
            "end": iso(w + self.size), "start_ts": w, "end_ts": w + self.size, "tier": self.tier,
            "segment": seg, "cohort": cohort, "performance": rec}))

    def _measure(self, w: float, kind: str) -> list[Measurement]:
        ms: list[Measurement] = []
        for seg, cohort, adm in self._cohorts(w):
            ms += drop_measurements(self.view, self.monitor, self.tier, w, w + self.size, seg,
                                    cohort, adm, kind, self.metrics)
        return ms

    def _close(self, w: float, out: Output) -> None:
        admitted: dict[str, list[str]] = {}
        for seg in self.view.segments:
            counts = {k[2]: self.view.states[k].predictions
                      for k in self.view._index.get((seg, w), ())}
            if seg in self.cohorts.registries:
                self.cohorts[seg].observe_window(counts)
                admitted[seg] = sorted(self.cohorts[seg].admitted)
        self.open[w] = {"admitted": admitted, "sent": {}}
        end = w + self.size
        shift: dict[str, Any] = {}
        for seg, cohort, adm in self._cohorts(w):
            rec = self.view.publish("estimated", self.tier, w, end, seg, cohort, adm)
            if (seg, cohort) == (ALL, ALL):
                shift = rec["prediction_drift"] or {}
            if rec["status"] in ("pending", "maturing"):  # else: matures in this round
                self._emit(out, w, seg, cohort, rec)
        ms = self._measure(w, "estimated")
        if ms:
            out.alerts.append(adjusted(ms, self.version))
        if self.triggers is not None:
            self.triggers.observe_closed(
                {"start_ts": w, "end_ts": end, "tier": self.tier,
                 "cohorts": [{"segment": ALL, "features": []}]}, shift.get("psi"))
            out.events += self._drain()

    def _update(self, w: float, out: Output) -> None:
        sent = self.open[w]["sent"]
        for seg, cohort, adm in self._cohorts(w):
            rec = self.view.record(w, w + self.size, seg, cohort, adm)
            if sent.get(f"{seg}|{cohort}") != [rec["predictions"], rec["labeled"],
                                               rec["status"]]:
                self._emit(out, w, seg, cohort, rec)

    def _mature(self, w: float, out: Output) -> None:
        end = w + self.size
        cmp = self.config.compare
        ms = self._measure(w, "realized")
        against: list[tuple[dict[str, Any], int, int]] = []  # record, its measurements' slice
        for seg, cohort, adm in self._cohorts(w):
            rec = self.view.publish("realized", self.tier, w, end, seg, cohort, adm)
            if cmp is not None and seg == cmp.segment:
                got = cohort_drop_measurements(self.view, self.monitor, self.tier, w, end, seg,
                                               cohort, cmp.reference, adm, self.metrics)
                if got:
                    against.append((rec, len(ms), len(ms) + len(got)))
                    ms += got
            self._emit(out, w, seg, cohort, rec)
        if ms:
            ms = adjusted(ms, self.version)
            out.alerts.append(ms)
        for rec, a, b in against:  # the record is published this round: fill it in
            rec["against"] = against_record(ms[a:b])
        if self.triggers is not None:
            self.triggers.observe_matured(w, end, self.tier,
                                          self.view.state_for(w, end, ALL, ALL),
                                          self.view._reference(ALL, ALL)[0], self.view.join.clock)
            out.events += self._drain()
        del self.open[w]
        self.matured_until = max(self.matured_until, end)
        keyed: list[dict[StateKey, Any]] = [self.view.states, *self.sources.values(),
                                            *self._blobs.values()]
        for states in keyed:
            for key in [k for k in states if k[0] < self.matured_until]:
                del states[key]
        self.view.reindex()

    def _drain(self) -> list[dict[str, Any]]:
        assert self.triggers is not None
        events, self.triggers.events = self.triggers.events, []
        return events

    # -- state ------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The partitions' states of open windows, clocks, cohorts, retraining cooldowns and the
        newest record of each kind (what /metrics shows, also right after a takeover)."""
        blobs: list[bytes] = []
        keys = []
        for p, raw in sorted(self._blobs.items()):
            for key, blob in sorted(raw.items()):
                keys.append([p, *key])
                blobs.append(blob)
        trig_meta, trig_blobs = self.triggers.state() if self.triggers else ({}, [])
        meta = {"expected": sorted(self.expected), "keys": keys,
                "clocks": [[p, _f(c), _f(pc), up] for p, (c, pc, up) in self.clocks.items()],
                "open": [[w, o] for w, o in sorted(self.open.items())],
                "matured_until": _f(self.matured_until), "cohorts": self.cohorts.state(),
                "triggers": trig_meta, "n_states": len(blobs),
                "latest": [[*key, start, rec] for key, (start, rec) in self.view.latest.items()]}
        return pack(_SNAP, 1, meta, blobs + trig_blobs)

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot` into a merger built from the same config."""
        _, meta, blobs = unpack(data, _SNAP, {1})
        n = int(meta["n_states"])
        self.expected = {int(p) for p in meta["expected"]}
        self.sources, self._blobs = {}, {}
        for (p, w, seg, v), blob in zip(meta["keys"], blobs[:n], strict=True):
            self._keep(int(p), (float(w), str(seg), str(v)), blob)
        self.clocks = {int(p): (_t(c), _t(pc), bool(up)) for p, c, pc, up in meta["clocks"]}
        self.open = {float(w): o for w, o in meta["open"]}
        self.matured_until = _t(meta["matured_until"])
        self.cohorts.load(meta["cohorts"])
        if self.triggers is not None and meta["triggers"]:
            self.triggers.load(meta["triggers"], blobs[n:])
        self.view.latest = {(str(t), str(s), str(c), str(k)): (float(start), rec)
                            for t, s, c, k, start, rec in meta.get("latest", [])}
        self.view.states = {}
        self._dirty = {k for src in self.sources.values() for k in src}
        self._refresh()
