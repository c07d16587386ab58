"""``driftline produce``: send a file of events (JSONL, CSV, Parquet) to the monitored topic.

JSONL lines are sent as they are; CSV and Parquet rows become JSON objects (column -> value).
Batched (linger + large batches), optionally keyed by a field, optionally paced to ``--rate``
events per second, with a progress bar on a terminal and a one-line summary at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from stream.cli import EXIT_CONFIG, EXIT_RUNTIME

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
    dumps, opts = orjson.dumps, orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY
    for batch in batches:
        rows = batch.to_pylist()
        values = [dumps(r, option=opts) for r in rows]
        keys = [_key_bytes(_dig(r, key)) for r in rows] if key is not None else None
        yield values, keys


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
            str | None, typer.Option("--compression", help="gzip (lz4/zstd/snappy if installed)")
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Send events from a file to Kafka (batched, optionally rate-limited)."""
        from stream.config import ConfigError, load_config

        try:
            cfg = load_config(config)
            settings = cfg.kafka
            client = settings.client_kwargs()
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        if not file.is_file():
            typer.echo(f"no such file: {file}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        fmt = _file_format(file)
        target = topic or settings.topics[0]
        try:
            count, elapsed, failed = _produce(
                client, target, file, fmt, key.split(".") if key else None, rate, partitions,
                compression, quiet,
            )
        except Exception as exc:  # Kafka unreachable, unreadable file...
            typer.echo(f"produce failed: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        throughput = count / elapsed if elapsed > 0 else float("inf")
        typer.echo(f"produced {count - failed} events to {target} in {elapsed:.2f}s "
                   f"({throughput:,.0f} events/s)")
        if failed:
            typer.echo(f"{failed} events failed to deliver", err=True)
            raise typer.Exit(EXIT_RUNTIME)


def _produce(
    client: dict[str, Any], topic: str, file: Path, fmt: str, key: list[str] | None,
    rate: float | None, partitions: int, compression: str | None, quiet: bool,
) -> tuple[int, float, int]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from stream.kafka.admin import TopicSpec, ensure_topics
    from stream.kafka.producer import Producer

    ensure_topics(client, [TopicSpec(topic, partitions=partitions)])
    batches = _jsonl_batches(file, key) if fmt == "jsonl" else _table_batches(file, fmt, key)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console, disable=quiet or not console.is_terminal, transient=True,
    )
    total = None if progress.disable else _row_count(file, fmt)
    sent = 0
    chunk = max(1, int(rate / 10)) if rate else BATCH_ROWS
    start = time.monotonic()
    with progress, Producer(client, compression_type=compression) as producer:
        task = progress.add_task(f"→ {topic}", total=total)
        for values, keys in batches:
            for i in range(0, len(values), chunk):
                part = values[i : i + chunk]
                producer.send_many(topic, part, keys[i : i + chunk] if keys else None)
                sent += len(part)
                progress.update(task, completed=sent)
                if rate:
                    ahead = start + sent / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)  # pacing to --rate, not a wait for a condition
        producer.flush()
    elapsed = time.monotonic() - start
    return sent, elapsed, producer.failed
