"""What goes into the engine (a batch of records of one source partition) and what comes back.

>>> b = RecordBatch("tx", 0, [10, 11], [1000, 2000], [b'{"a": 1}', b'{"a": 2}'])
>>> len(b), b.next_offset
(2, 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from driftline.stream.decode.decoder import DeadLetter


@dataclass(slots=True)
class RecordBatch:
    """Records of ONE source partition in offset order (as a consumer's poll returns them)."""

    topic: str
    partition: int
    offsets: Sequence[int] | np.ndarray
    timestamps_ms: Sequence[float] | np.ndarray | None
    values: Sequence[bytes]

    def __len__(self) -> int:
        return len(self.values)

    @property
    def next_offset(self) -> int | None:
        return int(self.offsets[-1]) + 1 if len(self.offsets) else None


@dataclass(slots=True)
class IngestReport:
    """The outcome of one batch: ``records`` consumed, ``events`` that went into windows,
    ``late`` events dropped because their window had closed, ``dead_letters`` (index into the
    batch's values with a reason), ``skipped`` records already covered by restored state."""

    topic: str
    partition: int
    records: int = 0
    events: int = 0
    late: int = 0
    skipped: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return len(self.dead_letters)
