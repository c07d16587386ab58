"""Row selection and concatenation of decoded batches.

>>> import numpy as np
>>> from stream.decode import Decoder, FieldSpec
>>> dec = Decoder([FieldSpec("k", "categorical")], [], "ts")
>>> a = dec.decode([b'{"ts": 1, "k": "a"}']); b = dec.decode([b'{"ts": 2, "k": "b"}'])
>>> c = concat([a, b]); c.categorical["k"].labels, take(c, np.array([1])).event_time.tolist()
(['a', 'b'], [2.0])
"""

from __future__ import annotations

import numpy as np

from sketches.column import Column
from stream.categories import CategoricalCodes
from stream.decode import DecodedBatch


def take(d: DecodedBatch, idx: np.ndarray) -> DecodedBatch:
    """Rows ``idx`` of a decoded batch (dead letters kept as they are)."""
    numeric = {k: Column(c.values[idx], None if c.null is None else c.null[idx],
                         None if c.invalid is None else c.invalid[idx])
               for k, c in d.numeric.items()}
    return DecodedBatch(d.rows[idx], d.event_time[idx], numeric,
                        {k: c.take(idx) for k, c in d.categorical.items()},
                        {k: c.take(idx) for k, c in d.segments.items()}, list(d.dead_letters))


def _concat_codes(parts: list[CategoricalCodes]) -> CategoricalCodes:
    labels: dict[str, int] = {}
    codes = []
    for p in parts:
        remap = np.array([labels.setdefault(lab, len(labels)) for lab in p.labels] + [-1],
                         dtype=np.int32)
        codes.append(remap[p.codes])  # code -1 picks the appended -1
    return CategoricalCodes(np.concatenate(codes) if codes else np.zeros(0, np.int32),
                            list(labels), np.concatenate([p.null for p in parts]),
                            np.concatenate([p.invalid for p in parts]))


def concat(parts: list[DecodedBatch]) -> DecodedBatch:
    """One batch from several (columns concatenated, categorical codes re-mapped)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    numeric = {}
    for k in first.numeric:
        cols = [p.numeric[k] for p in parts]
        numeric[k] = Column(np.concatenate([c.values for c in cols]),
                            np.concatenate([c.null for c in cols]),  # type: ignore[misc]
                            np.concatenate([c.invalid for c in cols]))  # type: ignore[misc]
    return DecodedBatch(
        np.concatenate([p.rows for p in parts]),
        np.concatenate([p.event_time for p in parts]),
        numeric,
        {k: _concat_codes([p.categorical[k] for p in parts]) for k in first.categorical},
        {k: _concat_codes([p.segments[k] for p in parts]) for k in first.segments},
        [dl for p in parts for dl in p.dead_letters],
    )
