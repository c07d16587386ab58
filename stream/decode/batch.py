"""What the decoder gives back: the columns of a batch's valid records and its dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from driftline.sketches.column import Column
from driftline.stream.decode.categories import CategoricalCodes


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A feature to extract: ``name``, ``type`` (numeric|categorical), dotted ``path``."""

    name: str
    type: Literal["numeric", "categorical"]
    path: str | None = None

    @property
    def source_path(self) -> str:
        return self.path or self.name


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be monitored: its index in the batch and why (see module doc)."""

    index: int
    reason: str
    detail: str = ""


@dataclass(slots=True)
class DecodedBatch:
    """Columns of the valid records of one batch (``rows`` = their indices in the batch)."""

    rows: np.ndarray
    event_time: np.ndarray
    numeric: dict[str, Column]
    categorical: dict[str, CategoricalCodes]
    segments: dict[str, CategoricalCodes]
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def columns(self) -> dict[str, Column]:
        """Every feature as a ``sketches.column.Column`` (categoricals as canonical labels)."""
        out: dict[str, Column] = dict(self.numeric)
        for name, codes in self.categorical.items():
            out[name] = codes.column()
        return out
