"""Avro object container files (``.avro``) -> the engine's decoded columns.

The records (any codec fastavro reads: null, deflate, snappy, zstd...) are read with their
file's own schema, logical types as their underlying type (as the stream reads them, see
:mod:`stream.decode_avro`), in chunks, and go through ``Decoder.decode_objects``: the same
dotted-path extraction and canonicalization as JSON and Avro records from Kafka. ``rows`` are
record numbers in the file; a record that is not an Avro record (a non-record top-level schema)
is a dead letter ``not_record``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from fastavro import block_reader, parse_schema, schemaless_reader

from stream.decode import DeadLetter, DecodedBatch, Decoder
from stream.decode_avro import plain_schema


def _records(fh: BinaryIO) -> Iterator[Any]:
    """The file's records, logical types read as their underlying type (block by block)."""
    schema = None
    for block in block_reader(fh):
        if schema is None:
            schema = parse_schema(plain_schema(block.writer_schema))
        data = block.bytes_  # type: ignore[attr-defined]  # the decompressed block
        for _ in range(block.num_records):
            yield schemaless_reader(data, schema, None)


def iter_avro(p: Path, decoder: Decoder, chunk_rows: int,
              progress: Callable[[int, int], None] | None, total: int) -> Iterator[DecodedBatch]:
    """Decoded chunks of an Avro container file, in file order."""
    with p.open("rb") as fh:
        records = _records(fh)
        base = 0
        while True:
            chunk = list(islice(records, chunk_rows))
            if not chunk:
                break
            dead: list[DeadLetter] = []
            ok = [k for k, r in enumerate(chunk) if type(r) is dict]
            if len(ok) < len(chunk):
                dead = [DeadLetter(base + k, "not_record", f"Avro {type(r).__name__}")
                        for k, r in enumerate(chunk) if type(r) is not dict]
                chunk = [chunk[k] for k in ok]
            rows = np.asarray(ok, dtype=np.int64) + base
            n = base + len(ok) + len(dead)
            yield decoder.decode_objects(chunk, rows, dead, np.zeros(n))
            base = n
            if progress is not None:
                progress(min(total, fh.tell()), total)
