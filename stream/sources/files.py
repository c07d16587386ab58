"""Reading event files (JSONL, CSV, Parquet, Avro) into the engine's decoded columns.

The same extraction as the stream: JSONL lines go through the stream's
:class:`~stream.decode.decoder.Decoder` (bytes -> columns, dead letters with reasons); CSV and
Parquet columns go through the same canonicalization (``canonical_numbers`` for numeric features,
:func:`stream.decode.categories.encode_categories` semantics for categoricals and segments, the
stream's event-time parser). Files are read in chunks, with a progress callback
``(bytes_done, bytes_total)``.

>>> import tempfile, pathlib
>>> from driftline.stream.decode.decoder import Decoder, FieldSpec
>>> p = pathlib.Path(tempfile.mkdtemp()) / "e.jsonl"
>>> _ = p.write_bytes(b'{"ts": 5, "x": 1.5}\\n{"ts": 6, "x": "bad"}\\n')
>>> d = read_events(p, Decoder([FieldSpec("x", "numeric")], [], "ts"))
>>> d.n, d.numeric["x"].invalid.tolist()
(2, [False, True])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from driftline.sketches.canonical import canonical_categories, canonical_numbers
from driftline.sketches.column import Column
from driftline.stream.decode.batchops import concat, take
from driftline.stream.decode.categories import CategoricalCodes, encode_categories
from driftline.stream.decode.decoder import DecodedBatch, Decoder
from driftline.stream.decode.event_time import parse_iso

Progress = Callable[[int, int], None]
CHUNK_ROWS = 100_000
FORMATS = ("jsonl", "csv", "parquet", "avro")


def file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
                        (".csv", "csv"), (".parquet", "parquet"), (".pq", "parquet"),
                        (".avro", "avro")):
        if name.endswith(suffix) or name.endswith(suffix + ".gz"):
            return fmt
    raise ValueError(f"{path}: unknown file type (expected .jsonl, .csv, .parquet or .avro)")


def iter_events(path: Path | str, decoder: Decoder, chunk_rows: int = CHUNK_ROWS,
                progress: Progress | None = None) -> Iterator[DecodedBatch]:
    """Decoded chunks of a file, in file order (``rows`` are line/row numbers)."""
    p = Path(path)
    fmt = file_format(p)
    total = p.stat().st_size
    if fmt == "jsonl":
        yield from _iter_jsonl(p, decoder, chunk_rows, progress, total)
        return
    if fmt == "avro":
        from driftline.stream.sources.avro_files import iter_avro

        yield from iter_avro(p, decoder, chunk_rows, progress, total)
        return
    offset = 0
    if fmt == "parquet":
        pf = pq.ParquetFile(p)
        rows_total = max(pf.metadata.num_rows, 1)
        for batch in pf.iter_batches(batch_size=chunk_rows):
            d = table_to_decoded(batch, decoder, offset)
            offset += batch.num_rows
            if progress is not None:
                progress(min(total, int(total * offset / rows_total)), total)
            yield d
        return
    with p.open("rb") as fh:
        reader = pacsv.open_csv(fh, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                convert_options=_csv_convert(decoder))
        for batch in reader:
            d = table_to_decoded(batch, decoder, offset)
            offset += batch.num_rows
            if progress is not None:
                progress(min(total, fh.tell()), total)
            yield d


def _csv_convert(decoder: Decoder) -> pacsv.ConvertOptions:
    """Read only the monitored columns, all as text (a column that looks numeric in one block
    and holds junk in the next cannot fail the read); they are converted per column below."""
    names = [f.source_path for f in decoder.features] + list(decoder.segments)
    if decoder.event_time_field:
        names.append(decoder.event_time_field)
    names = list(dict.fromkeys(names))
    return pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                include_columns=names, include_missing_columns=True,
                                strings_can_be_null=True)


def _iter_jsonl(p: Path, decoder: Decoder, chunk_rows: int, progress: Progress | None,
                total: int) -> Iterator[DecodedBatch]:
    done = 0
    base = 0
    with p.open("rb") as fh:
        while True:
            lines = fh.readlines(chunk_rows * 256)
            if not lines:
                break
            done += sum(map(len, lines))
            values = [ln.rstrip(b"\r\n") for ln in lines]
            keep = [i for i, v in enumerate(values) if v.strip()]
            if len(keep) != len(values):
                values = [values[i] for i in keep]
                index = np.asarray(keep, dtype=np.int64) + base
            else:
                index = np.arange(base, base + len(values), dtype=np.int64)
            d = decoder.decode_json(values, np.zeros(len(values)))
            d.rows = index[d.rows]
            for i, dl in enumerate(d.dead_letters):
                d.dead_letters[i] = type(dl)(int(index[dl.index]), dl.reason, dl.detail)
            base += len(lines)
            if progress is not None:
                progress(done, total)
            yield d


def read_events(path: Path | str, decoder: Decoder, progress: Progress | None = None
                ) -> DecodedBatch:
    """The whole file as one decoded batch."""
    return concat(list(iter_events(path, decoder, progress=progress)))


# -- columnar files ----------------------------------------------------------------------------
def _column(table: pa.RecordBatch | pa.Table, path: str) -> pa.Array | None:
    names = table.schema.names
    if path in names:
        col = table.column(path)
    else:
        parts = path.split(".")
        if parts[0] not in names:
            return None
        col = table.column(parts[0])
        for part in parts[1:]:
            if not pa.types.is_struct(col.type) or col.type.get_field_index(part) < 0:
                return None
            col = pc.struct_field(col, part)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col


def _numeric(col: pa.Array | None, n: int) -> Column:
    if col is None:
        return Column(np.zeros(n), np.ones(n, bool), np.zeros(n, bool))
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(
            col.type):
        null = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        values = col.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        return Column(np.asarray(values, dtype=np.float64), null, np.zeros(n, bool))
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:  # text (CSV): one vectorized parse; per value only for a chunk with junk
            return _numeric(pc.cast(col, pa.float64()), n)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    values = np.empty(n, dtype=object)
    values[:] = col.to_pylist()
    x, null, invalid = canonical_numbers(values, parse_strings=True)
    return Column(x, null, invalid & ~null)


def _categorical(col: pa.Array | None, n: int) -> CategoricalCodes:
    if col is None:
        return CategoricalCodes(np.full(n, -1, np.int32), [], np.ones(n, bool), np.zeros(n, bool))
    if pa.types.is_nested(col.type):
        return encode_categories(col.to_pylist())
    enc = col.dictionary_encode() if not pa.types.is_dictionary(col.type) else col
    dictionary = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    labels_k, null_k, inv_k = canonical_categories(dictionary)
    uniq: dict[str, int] = {}
    kcode = np.full(len(dictionary) + 1, -1, dtype=np.int32)
    for i, (lab, nl, iv) in enumerate(zip(labels_k.tolist(), null_k.tolist(), inv_k.tolist(),
                                          strict=True)):
        if not (nl or iv):
            kcode[i] = uniq.setdefault(lab, len(uniq))
    idx = enc.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False).astype(np.int64)
    knull = np.append(null_k, True)
    kinv = np.append(inv_k, False)
    return CategoricalCodes(kcode[idx], list(uniq), knull[idx], kinv[idx])


def _event_time(col: pa.Array | None, decoder: Decoder, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and the mask of rows without a usable event time."""
    if col is None:
        return np.full(n, np.nan), np.ones(n, bool)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        us = col.cast(pa.timestamp("us")).cast(pa.int64())
        null = np.asarray(us.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        t = us.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64) / 1e6
        return t, null
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:  # epoch numbers written as text (CSV)
            return _event_time(pc.cast(col, pa.float64()), decoder, n)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        values = col.to_pylist()
        ok_rows = [i for i, v in enumerate(values) if v is not None]
        t = np.full(n, np.nan)
        bad = np.ones(n, bool)
        if ok_rows:
            secs, ok = parse_iso([values[i] for i in ok_rows])
            rows = np.asarray(ok_rows)
            t[rows] = secs
            bad[rows] = ~ok
            # a mix of ISO strings and epoch numbers: the rest, one value at a time
            retry = [r for r in rows[~ok].tolist()]
            if retry:
                nums, nbad = decoder._time.parse([_number(values[r]) for r in retry])
                failed = {pos for pos, _, _ in nbad}
                for pos, r in enumerate(retry):
                    if pos not in failed:
                        t[r], bad[r] = nums[pos], False
        return t, bad
    times, bad_list = decoder._time.parse(col.to_pylist())
    bad = np.zeros(n, bool)
    for i, _, _ in bad_list:
        bad[i] = True
    return times, bad


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def table_to_decoded(table: pa.RecordBatch | pa.Table, decoder: Decoder, row_offset: int = 0
                     ) -> DecodedBatch:
    """Columns of a CSV/Parquet chunk, canonicalized exactly like decoded JSON."""
    from driftline.stream.decode.decoder import DeadLetter

    n = table.num_rows
    numeric: dict[str, Column] = {}
    categorical: dict[str, CategoricalCodes] = {}
    for f in decoder.features:
        col = _column(table, f.source_path)
        if f.type == "numeric":
            numeric[f.name] = _numeric(col, n)
        else:
            categorical[f.name] = _categorical(col, n)
    segments = {s: _categorical(_column(table, s), n) for s in decoder.segments}
    rows = np.arange(row_offset, row_offset + n, dtype=np.int64)
    tcol = _column(table, decoder.event_time_field) if decoder.event_time_field else None
    if decoder.event_time_field:
        times, bad = _event_time(tcol, decoder, n)
    else:
        times, bad = np.full(n, np.nan), np.zeros(n, bool)
    d = DecodedBatch(rows, times, numeric, categorical, segments, [])
    if decoder.require_event_time and bad.any():
        absent = (np.ones(n, bool) if tcol is None
                  else np.asarray(tcol.is_null().to_numpy(zero_copy_only=False), dtype=bool))
        dead = [DeadLetter(int(rows[i]),
                           "missing_event_time" if absent[i] else "invalid_event_time",
                           "no usable event time")
                for i in np.flatnonzero(bad).tolist()]
        d = take(d, np.flatnonzero(~bad))
        d.dead_letters = dead
    return d
