"""One column of a batch: values plus per-row null / invalid masks.

Example:
    >>> import numpy as np
    >>> col = Column(np.array([1.0, 0.0, 3.0]), null=np.array([False, True, False]))
    >>> len(col), col.null_count, col.invalid_count
    (3, 1, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np


@dataclass(frozen=True)
class Column:
    """``values`` has one entry per event; rows flagged in ``null`` (missing / None) or
    ``invalid`` (type violation found by the decoder) are not values: the profile counts them
    and forwards only the remaining rows to the sketches. Masks may be None (no such rows)."""

    values: np.ndarray
    null: np.ndarray | None = None
    invalid: np.ndarray | None = None

    def __post_init__(self) -> None:
        values = self.values if isinstance(self.values, np.ndarray) else np.asarray(
            self.values, dtype=object if _has_objects(self.values) else None)
        if values.ndim != 1:
            raise ValueError(f"column values must be 1-D, got shape {values.shape}")
        object.__setattr__(self, "values", values)
        for attr in ("null", "invalid"):
            mask = getattr(self, attr)
            if mask is None:
                continue
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != values.shape:
                raise ValueError(f"column {attr} mask has shape {mask.shape}, "
                                 f"values have {values.shape}")
            object.__setattr__(self, attr, mask)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def null_count(self) -> int:
        return 0 if self.null is None else int(np.count_nonzero(self.null))

    @property
    def invalid_count(self) -> int:
        """Invalid rows that are not also null."""
        if self.invalid is None:
            return 0
        if self.null is None:
            return int(np.count_nonzero(self.invalid))
        return int(np.count_nonzero(self.invalid & ~self.null))

    def valid_mask(self) -> np.ndarray | None:
        """Rows that carry a value, or None when every row does."""
        if self.null is None and self.invalid is None:
            return None
        if self.null is None:
            return ~self.invalid  # type: ignore[operator]
        if self.invalid is None:
            return ~self.null
        return ~(self.null | self.invalid)


_OBJECT_TYPES = (type(None), str, bytes, dict, list)


def _has_objects(values: object) -> bool:
    """Whether a plain sequence holds values NumPy would coerce (None, text, nested)."""
    try:
        return any(map(isinstance, values, repeat(_OBJECT_TYPES)))  # type: ignore[call-overload]
    except TypeError:
        return False
