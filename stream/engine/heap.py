"""The cyclic garbage collector set for a long-running stream processor.

CPython's default collector settings suit programs with few long-lived objects. A worker
holds many (the modules, the config, the baseline, every open window's sketches) and allocates
thousands of short-lived ones per window (partial profiles, evaluation results). With the
defaults, a collection runs every 700 net allocations of containers, and every tenth of those
walks the older objects again; a full collection walks everything alive, the start-up objects
included. On the 10 s-window benchmark (docs/benchmarks.md) that was 25-40 % of the engine's CPU.

:func:`settle` is called once by the long-running commands (``run``, ``labels run``,
``backtest``) after start-up, before the first event:

* ``gc.freeze()`` moves everything alive then (imports, config, baseline) out of the
  collector's reach: they live as long as the process, and no collection walks them again.
* the young generation collects after :data:`YOUNG_THRESHOLD` net allocations instead of 700,
  so a window's results are usually freed (by reference counting: the engine's objects make no
  cycles) before a collection ever sees them.

Reference cycles are still collected (objects in cycles from libraries: asyncio tasks,
exceptions with tracebacks); they just wait for a few more allocations. References: the
``gc`` module documentation (``gc.freeze``, ``gc.set_threshold``); CPython's
``InternalDocs/garbage_collector.md``.

Example:
    >>> import gc
    >>> before = gc.get_threshold()
    >>> settle()
    >>> gc.get_threshold()[0] >= YOUNG_THRESHOLD
    True
    >>> gc.unfreeze(); gc.set_threshold(*before)
"""

from __future__ import annotations

import atexit
import gc

YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Collect once, freeze what is alive, and raise the young generation's threshold. At exit
    the frozen objects are given back to the collector, so that native objects among them are
    finalized like every other (nanobind reports the ones left alive as leaks)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
    atexit.unregister(gc.unfreeze)  # once, however often settled
    atexit.register(gc.unfreeze)
