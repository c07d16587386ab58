"""Event sources other than Kafka: file replay (JSONL, CSV, Parquet)."""

from driftline.stream.sources.files import (
    FORMATS,
    file_format,
    iter_events,
    read_events,
    table_to_decoded,
)

__all__ = ["FORMATS", "file_format", "iter_events", "read_events", "table_to_decoded"]
