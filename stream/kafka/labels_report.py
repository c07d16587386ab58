"""``driftline labels report``: the label workers' latest checkpoints, merged.

:func:`read_states` restores the latest checkpoint of every partition
(:mod:`stream.kafka.labels_worker`); :func:`merged_report` merges them into one report: per
base window, the ``performance`` record of the whole population and of every raw segment value,
the join counters and the offsets the states cover.
"""

from __future__ import annotations

from typing import Any

from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.engine.framing import unpack
from driftline.stream.kafka.admin import partition_counts
from driftline.stream.kafka.checkpoint import CheckpointStore
from driftline.stream.kafka.labels_worker import MAGIC, checkpoint_key, checkpoint_topic
from driftline.stream.performance.columns import tracker_for
from driftline.stream.performance.state import restore
from driftline.stream.performance.tracker import PerformanceTracker


async def read_states(config: DriftlineConfig, baseline: Baseline | None = None
                      ) -> dict[int, tuple[dict[str, int], PerformanceTracker]]:
    """The latest checkpoint of every partition: its offsets and its restored tracker."""
    k = config.kafka
    store = CheckpointStore(checkpoint_topic(config), k.aiokafka_kwargs())
    await store.start()
    try:
        n = partition_counts(k.aiokafka_kwargs(), [k.topics[0]])[k.topics[0]]
        found = await store.load([checkpoint_key(config, p) for p in range(n)])
    finally:
        await store.stop()
    out = {}
    for p in range(n):
        ck = found.get(checkpoint_key(config, p))
        if ck is None:
            continue
        _, meta, blobs = unpack(ck.state, MAGIC, {1})
        tracker = tracker_for(config, baseline)
        restore(tracker, blobs[0])
        out[p] = ({"predictions": int(meta["predictions"]), "labels": int(meta["labels"])},
                  tracker)
    return out


def merged_report(config: DriftlineConfig, baseline: Baseline | None,
                  states: dict[int, tuple[dict[str, int], PerformanceTracker]]
                  ) -> dict[str, Any]:
    """One report of the merged partition states: per base window, a ``performance`` record
    for the whole population and every raw segment value, plus the join counters."""
    merged = tracker_for(config, baseline)
    counters: dict[str, int] = {}
    for _, t in states.values():
        for key, st in t.states.items():
            if key in merged.states:
                merged.states[key].merge(st)
            else:
                merged.states[key] = st.copy()
        merged.join.clock = max(merged.join.clock, t.join.clock)
        for k, v in t.counters().items():
            counters[k] = counters.get(k, 0) + v
    merged.reindex()
    size = config.windows.size
    windows = []
    for w in sorted({k[0] for k in merged.states}):
        cohorts = sorted({(k[1], k[2]) for k in merged.states if k[0] == w})
        windows.append({"start_ts": w, "end_ts": w + size, "cohorts": [
            {"segment": seg, "cohort": c, "performance": merged.record(w, w + size, seg, c)}
            for seg, c in cohorts]})
    return {"monitor": config.monitor, "labels": counters,
            "offsets": {p: o for p, (o, _) in sorted(states.items())}, "windows": windows}
