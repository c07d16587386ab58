"""Data-quality rates of one feature sketch.

All ratios are over ``n`` = every row the sketch saw (nulls and invalid included). Ratios that
do not apply to a feature type are 0 (NaN/inf and out-of-range for categoricals, unseen for
numerics); with ``n == 0`` every ratio is 0.

Example:
    >>> import numpy as np
    >>> from driftline.sketches.schema import NumericSpec
    >>> from driftline.sketches.numeric import NumericSketch
    >>> s = NumericSketch(NumericSpec("age", range=(0, 120)))
    >>> s.update(np.array([30.0, 200.0, np.inf]), nulls=1)
    >>> q = QualityRates.of(s); q.null_ratio, q.nan_ratio, q.out_of_range_ratio, q.n
    (0.25, 0.25, 0.25, 4)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.numeric import NumericSketch


@dataclass(frozen=True)
class QualityRates:
    """``nan_ratio`` counts NaN and ±inf values; ``invalid_ratio`` counts type violations.

    Example:
        >>> import numpy as np
        >>> from driftline.sketches.schema import CategoricalSpec
        >>> s = CategoricalSketch(CategoricalSpec("c", vocabulary=frozenset({"a"})))
        >>> s.update(np.array(["a", "b"], dtype=object), nulls=1, invalid=1)
        >>> r = QualityRates.of(s); r.unseen_ratio, r.null_ratio, r.invalid_ratio
        (0.25, 0.25, 0.25)
    """

    null_ratio: float
    nan_ratio: float
    out_of_range_ratio: float
    unseen_ratio: float
    invalid_ratio: float
    n: int

    @classmethod
    def of(cls, sketch: NumericSketch | CategoricalSketch) -> QualityRates:
        n = sketch.count
        if n == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0)
        if isinstance(sketch, NumericSketch):
            return cls(sketch.nulls / n, (sketch.nan + sketch.inf) / n, sketch.out_of_range / n,
                       0.0, sketch.invalid / n, n)
        if isinstance(sketch, CategoricalSketch):
            return cls(sketch.nulls / n, 0.0, 0.0, sketch.unseen / n, sketch.invalid / n, n)
        raise TypeError(f"no quality rates for {type(sketch).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(QualityRates))  # (asdict deep-copies: 10x slower)


def quality_rates(sketch: NumericSketch | CategoricalSketch) -> QualityRates:
    """Shorthand for :meth:`QualityRates.of`."""
    return QualityRates.of(sketch)
