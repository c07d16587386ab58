"""Row selection and concatenation of decoded batches.

>>> import numpy as np
>>> from driftline.stream.decode.decoder import Decoder, FieldSpec
>>> dec = Decoder([FieldSpec("k", "categorical")], [], "ts")
>>> a = dec.decode([b'{"ts": 1, "k": "a"}']); b = dec.decode([b'{"ts": 2, "k": "b"}'])
>>> c = concat([a, b]); c.categorical["k"].labels, take(c, np.array([1])).event_time.tolist()
(['a', 'b'], [2.0])
"""

from __future__ import annotations

import numpy as np

from driftline.sketches.column import Column
from driftline.stream.decode.batch import DecodedBatch
from driftline.stream.decode.categories import concat_codes


def take(d: DecodedBatch, idx: np.ndarray) -> DecodedBatch:
    """Rows ``idx`` of a decoded batch (dead letters kept as they are)."""
    numeric = {k: Column(c.values[idx], None if c.null is None else c.null[idx],
                         None if c.invalid is None else c.invalid[idx])
               for k, c in d.numeric.items()}
    return DecodedBatch(d.rows[idx], d.event_time[idx], numeric,
                        {k: c.take(idx) for k, c in d.categorical.items()},
                        {k: c.take(idx) for k, c in d.segments.items()}, list(d.dead_letters))


def concat_columns(parts: list[Column]) -> Column:
    """One column from consecutive decoded chunks (their masks are arrays)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return Column(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
    return Column(np.concatenate([p.values for p in parts]),
                  np.concatenate([p.null for p in parts]),  # type: ignore[misc]
                  np.concatenate([p.invalid for p in parts]))  # type: ignore[misc]


def concat(parts: list[DecodedBatch]) -> DecodedBatch:
    """One batch from several (columns concatenated, categorical codes re-mapped)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    return DecodedBatch(
        np.concatenate([p.rows for p in parts]),
        np.concatenate([p.event_time for p in parts]),
        {k: concat_columns([p.numeric[k] for p in parts]) for k in first.numeric},
        {k: concat_codes([p.categorical[k] for p in parts]) for k in first.categorical},
        {k: concat_codes([p.segments[k] for p in parts]) for k in first.segments},
        [dl for p in parts for dl in p.dead_letters],
    )
