"""The collector settings of the long-running commands (stream/engine/heap.py): objects frozen
after start-up are still finalized at exit (nanobind reports native objects left alive there as
leaks), and the young-generation threshold is raised once, however often settled."""

from __future__ import annotations

import subprocess
import sys

_PROGRAM = """
import gc
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import generate, monitor_config, to_json_lines
from driftline.stream.engine.aggregator import PartitionAggregator
from driftline.stream.engine.batch import RecordBatch
from driftline.stream.engine.core import Engine
from driftline.stream.engine.heap import YOUNG_THRESHOLD, settle

values = to_json_lines(generate(20_000, seed=7, events_per_second=1000))
cfg = parse_config(monitor_config(window="1m"))
engine = Engine(cfg)
settle()
settle()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 0


def run():
    w = cfg.windows
    agg = PartitionAggregator("t", 0, engine.schema, engine.decoder, w.size, w.allowed_lateness,
                              w.idle_timeout, engine.cohorts)
    partials = []
    for i in range(0, len(values), 2000):
        agg.ingest(RecordBatch("t", 0, range(i, i + 2000), None, values[i:i + 2000]))
        partials += agg.ready()
    return partials + agg.flush()


print(sum(p.events for p in run()))
"""


def test_settled_process_exits_cleanly_with_its_native_objects_finalized() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "leaked" not in proc.stderr, proc.stderr[:500]
    assert proc.stdout.split() == ["20000"]  # every event counted after settling
