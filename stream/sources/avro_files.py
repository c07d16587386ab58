"""Avro object container files (``.avro``) -> the engine's decoded columns.

The blocks (any codec fastavro reads: null, deflate, snappy, zstd...) are read with their
file's own schema, logical types as their underlying type (as the stream reads them, see
:mod:`stream.decode.avro`): by the native reader compiled from that schema
(:mod:`stream.decode.avro_native`), or when it declines a block, by fastavro and the same
dotted-path extraction and canonicalization as JSON and Avro records from Kafka. ``rows`` are
record numbers in the file; a record that is not an Avro record (a non-record top-level schema)
is a dead letter ``not_record``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastavro import block_reader, parse_schema, schemaless_reader

from driftline.stream.decode.avro import plain_schema
from driftline.stream.decode.avro_native import NativeRecordsReader, compile_program
from driftline.stream.decode.decoder import DeadLetter, DecodedBatch, Decoder


def iter_avro(p: Path, decoder: Decoder, chunk_rows: int,
              progress: Callable[[int, int], None] | None, total: int) -> Iterator[DecodedBatch]:
    """Decoded blocks of an Avro container file, in file order (one batch per ``chunk_rows``
    records at least: blocks are read whole)."""
    leaves = [(lf.name, lf.kind, lf.attr_path) for lf in decoder._leaves]
    native: NativeRecordsReader | None = None
    schema: Any = None
    base = 0
    parts: list[Any] = []
    dead: list[DeadLetter] = []
    pending = 0
    with p.open("rb") as fh:
        for block in block_reader(fh):
            if schema is None:
                plain = plain_schema(block.writer_schema)
                schema = parse_schema(plain)
                native = compile_program(plain, leaves)
            data = block.bytes_  # type: ignore[attr-defined]  # the decompressed block
            n = block.num_records
            idx = np.arange(base + pending, base + pending + n, dtype=np.int64)
            got = native.read_block(data.getvalue(), n) if native is not None else None
            if got is not None:
                parts.append(decoder._native_part(got, idx))
            else:
                records = [schemaless_reader(data, schema, None) for _ in range(n)]
                ok = [k for k, r in enumerate(records) if type(r) is dict]
                dead += [DeadLetter(int(idx[k]), "not_record", f"Avro {type(r).__name__}")
                         for k, r in enumerate(records) if type(r) is not dict]
                parts.append(decoder._objects_part([records[k] for k in ok], idx[ok]))
            pending += n
            if pending >= chunk_rows:
                yield decoder._columns(parts, dead, np.zeros(base + pending))
                base, pending, parts, dead = base + pending, 0, [], []
                if progress is not None:
                    progress(min(total, fh.tell()), total)
        if pending:
            yield decoder._columns(parts, dead, np.zeros(base + pending))
            if progress is not None:
                progress(total, total)
