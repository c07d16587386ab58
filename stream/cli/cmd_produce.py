"""``driftline produce``: send a file of events (JSONL, CSV, Parquet) to the monitored topic.

JSONL lines are sent as they are; CSV and Parquet rows become JSON objects (column -> value).
Whole record batches are built and sent at once (:class:`stream.kafka.bulk.BulkProducer`),
optionally keyed by a field (Kafka's default partitioning), optionally paced to ``--rate``
events per second, with a progress bar on a terminal and a one-line summary at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from driftline.stream.cli import EXIT_CONFIG, EXIT_RUNTIME

Batch = tuple[list[bytes], list[bytes | None] | None]
BATCH_ROWS = 5000


def _dig(obj: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _key_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


def _jsonl_batches(path: Path, key: list[str] | None) -> Iterator[Batch]:
    with path.open("rb") as fh:
        values: list[bytes] = []
        for raw in fh:
            line = raw.strip()
            if line:
                values.append(line)
            if len(values) >= BATCH_ROWS:
                yield values, _jsonl_keys(values, key)
                values = []
        if values:
            yield values, _jsonl_keys(values, key)


def _jsonl_keys(values: list[bytes], key: list[str] | None) -> list[bytes | None] | None:
    if key is None:
        return None
    keys: list[bytes | None] = []
    for v in values:
        try:
            keys.append(_key_bytes(_dig(orjson.loads(v), key)))
        except orjson.JSONDecodeError:  # sent anyway: the monitor's DLQ is where bad data goes
            keys.append(None)
    return keys


def _table_batches(path: Path, fmt: str, key: list[str] | None) -> Iterator[Batch]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        batches: Any = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
    else:
        import pyarrow.csv as pcsv

        batches = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22))
    dumps = orjson.dumps
    for batch in batches:
        rows = _with_iso_times(batch).to_pylist()
        values = [dumps(r) for r in rows]
        keys = [_key_bytes(_dig(r, key)) for r in rows] if key is not None else None
        yield values, keys


def _with_iso_times(batch: Any) -> Any:
    """Timestamp columns as ISO 8601 strings (UTC with ``Z`` when zoned), formatted by Arrow in
    one pass per column: building datetime objects row by row is the slow part otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not any(pa.types.is_timestamp(f.type) for f in batch.schema):
        return batch
    columns = []
    for f, col in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            zoned = f.type.tz is not None
            col = col.cast(pa.timestamp("us", tz="UTC" if zoned else None), safe=False)
            col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
            if zoned:
                col = pc.binary_join_element_wise(col, pa.scalar("Z"), "")
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
           ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
    if fmt is None:
        raise typer.BadParameter(f"unsupported file type {suffix!r}: use .jsonl, .csv or .parquet")
    return fmt


def _row_count(path: Path, fmt: str) -> int | None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "jsonl":
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    return None


def register(app: typer.Typer) -> None:
    @app.command("produce")
    def produce_cmd(
        config: Annotated[Path, typer.Option("-c", "--config", help="driftline.yaml")],
        file: Annotated[Path, typer.Option("-f", "--file", help=".jsonl, .csv or .parquet")],
        rate: Annotated[
            float | None, typer.Option("--rate", min=0.001, help="events per second")
        ] = None,
        topic: Annotated[
            str | None, typer.Option("--topic", help="default: the first source topic")
        ] = None,
        key: Annotated[
            str | None, typer.Option("--key", help="field (dotted path) to key records by")
        ] = None,
        partitions: Annotated[
            int, typer.Option("--partitions", min=1, help="if the topic has to be created")
        ] = 1,
        compression: Annotated[
            str | None,
            typer.Option("--compression", help="gzip, snappy, lz4 or zstd (default: none)"),
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Send events from a file to Kafka (batched, optionally rate-limited)."""
        from driftline.stream.config.model import ConfigError, load_config

        try:
            cfg = load_config(config)
            settings = cfg.kafka
            client = settings.client_kwargs()
            aio_client = settings.aiokafka_kwargs()
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        if not file.is_file():
            typer.echo(f"no such file: {file}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        if compression not in (None, "gzip", "snappy", "lz4", "zstd"):
            typer.echo(f"--compression {compression!r}: use gzip, snappy, lz4 or zstd", err=True)
            raise typer.Exit(EXIT_CONFIG)
        fmt = _file_format(file)
        target = topic or settings.topics[0]
        try:
            count, elapsed, failed = _produce(
                client, aio_client, target, file, fmt, key.split(".") if key else None, rate,
                partitions, compression, quiet,
            )
        except Exception as exc:  # Kafka unreachable, unreadable file...
            typer.echo(f"produce failed: {type(exc).__name__}: {exc}", err=True)
            if "bootstrap" in str(exc).lower() or "NoBrokers" in type(exc).__name__:
                typer.echo(
                    f"cannot reach Kafka at {','.join(settings.bootstrap)}: check "
                    "source.kafka.bootstrap_servers, security_protocol and the credentials",
                    err=True,
                )
            raise typer.Exit(EXIT_RUNTIME) from None
        throughput = count / elapsed if elapsed > 0 else float("inf")
        typer.echo(f"produced {count - failed} events to {target} in {elapsed:.2f}s "
                   f"({throughput:,.0f} events/s)")
        if failed:
            typer.echo(f"{failed} events failed to deliver", err=True)
            raise typer.Exit(EXIT_RUNTIME)


def _produce(
    client: dict[str, Any], aio_client: dict[str, Any], topic: str, file: Path, fmt: str,
    key: list[str] | None, rate: float | None, partitions: int, compression: str | None,
    quiet: bool,
) -> tuple[int, float, int]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from driftline.stream.kafka.admin import TopicSpec, ensure_topics

    ensure_topics(client, [TopicSpec(topic, partitions=partitions)])
    batches = _jsonl_batches(file, key) if fmt == "jsonl" else _table_batches(file, fmt, key)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=console, disable=quiet or not console.is_terminal,
        transient=True,
    )
    total = None if progress.disable else _row_count(file, fmt)
    with progress:
        task = progress.add_task(f"→ {topic}", total=total)
        return asyncio.run(
            _send_all(aio_client, topic, batches, rate, compression,
                      lambda n: progress.update(task, completed=n))
        )


async def _send_all(
    aio_client: dict[str, Any], topic: str, batches: Iterator[Batch], rate: float | None,
    compression: str | None, on_progress: Callable[[int], None],
) -> tuple[int, float, int]:
    from driftline.stream.kafka.bulk import BulkProducer

    chunk = max(1, int(rate / 10)) if rate else BATCH_ROWS
    sent = 0
    start = time.monotonic()
    async with BulkProducer(aio_client, compression_type=compression) as producer:
        for values, keys in batches:
            for i in range(0, len(values), chunk):
                part = values[i : i + chunk]
                await producer.send_many(topic, part, keys[i : i + chunk] if keys else None)
                sent += len(part)
                on_progress(sent)
                if rate:
                    ahead = start + sent / rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)  # pacing to --rate
    return sent, time.monotonic() - start, producer.failed
