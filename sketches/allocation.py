"""Building many small objects at once: the cyclic garbage collector paused meanwhile.

Each collection that allocations trigger walks every live container: building a large report's
millions of parsed values would otherwise spend more time in collections than in the work
itself. Only for code that makes no reference cycles. (A window's evaluation needs no pause: the
long-running commands raise the collector's threshold instead, see stream/engine/heap.py.)

Example:
    >>> import gc
    >>> with paused_gc():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused (restored as it was on exit)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
