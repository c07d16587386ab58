"""Shared by the decoder tests: Avro bodies of rows, and the check that two decoded batches
hold the same values (values under a null are no values, so they may differ)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastavro import parse_schema, schemaless_writer


def avro_bodies(schema: Any, rows: list[dict[str, Any]]) -> list[bytes]:
    """Each row written with ``schema`` as a bare Avro body (no header, no wire prefix)."""
    parsed = parse_schema(schema)
    out = []
    for r in rows:
        buf = io.BytesIO()
        schemaless_writer(buf, parsed, r)
        out.append(buf.getvalue())
    return out


def assert_same_values(a: Any, b: Any) -> None:
    """Rows, times and every column's nulls, invalid flags and values agree."""
    assert a.rows.tolist() == b.rows.tolist()
    np.testing.assert_array_equal(a.event_time, b.event_time)
    for name, col in a.numeric.items():
        other = b.numeric[name]
        assert col.null.tolist() == other.null.tolist(), name
        assert col.invalid.tolist() == other.invalid.tolist(), name
        np.testing.assert_array_equal(col.values[~col.null], other.values[~col.null])
    for group in ("categorical", "segments"):
        for name, codes in getattr(a, group).items():
            x, y = codes.column(), getattr(b, group)[name].column()
            assert x.null.tolist() == y.null.tolist(), name
            assert x.values[~x.null].tolist() == y.values[~y.null].tolist(), name


def dead(batch: Any) -> list[tuple[int, str]]:
    """``(index, reason)`` of every dead letter of a decoded batch."""
    return [(d.index, d.reason) for d in batch.dead_letters]
