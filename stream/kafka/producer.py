"""Batched Kafka producing (kafka-python): ``driftline produce``, results, partials, dead letters.

:class:`Producer` wraps ``KafkaProducer`` with throughput-friendly defaults (linger 20 ms, 256 KiB
batches, acks=all with idempotence) and counts delivered and failed records instead of letting a
failed future go unnoticed. :class:`DeadLetterWriter` writes records that could not be decoded to
the DLQ topic with the original value and where it came from.

>>> from driftline.stream.kafka.producer import DeadLetter, dead_letter_headers
>>> dict(dead_letter_headers(DeadLetter(b"{", "invalid json", "events", 3, 42)))["driftline.reason"]
b'invalid json'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kafka import KafkaProducer

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

REASON = "driftline.reason"
SOURCE_TOPIC = "driftline.source.topic"
SOURCE_PARTITION = "driftline.source.partition"
SOURCE_OFFSET = "driftline.source.offset"
SOURCE_KEY = "driftline.source.key"
TRUNCATED = "driftline.truncated"
"""Header on a DLQ record whose value was cut to fit the topic: the original size in bytes."""

_RECORD_OVERHEAD = 1024
"""Bytes kept free under the size limit for the batch/record framing, key and headers."""


class Producer:
    """A batched producer with delivery accounting; a context manager that flushes on exit.

    ``client`` is the connection kwargs (``cfg.kafka.client_kwargs()``); ``**options`` go to
    ``KafkaProducer`` as-is (e.g. ``acks=1``).

    >>> with Producer({"bootstrap_servers": "127.0.0.1:9092"}) as p:  # doctest: +SKIP
    ...     p.send("events", b'{"amount": 12.5}', key=b"user-1")
    ...     p.send_many("events", [b'{"amount": 3}', b'{"amount": 4}'])
    >>> p.delivered, p.failed  # doctest: +SKIP
    (3, 0)
    """

    def __init__(
        self,
        client: Mapping[str, Any],
        *,
        linger_ms: int = 20,
        batch_size: int = 262_144,
        compression_type: str | None = None,
        max_request_size: int = 1_048_576,
        **options: Any,
    ) -> None:
        known = KafkaProducer.DEFAULT_CONFIG
        kwargs = {k: v for k, v in client.items() if k in known}
        kwargs.update(
            linger_ms=linger_ms,
            batch_size=batch_size,
            compression_type=compression_type,
            max_request_size=max_request_size,
            **options,
        )
        self.max_request_size = max_request_size
        self._producer = KafkaProducer(**kwargs)
        self._lock = threading.Lock()
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.last_error: BaseException | None = None

    # -- delivery accounting (called from the producer's I/O thread) ---------------------------
    def _ok(self, _metadata: Any) -> None:
        with self._lock:
            self.delivered += 1

    def _error(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            self.last_error = exc
        log.warning("kafka delivery failed: %s", type(exc).__name__)

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> Any:
        """Queue one record (non-blocking unless the buffer is full); returns its future."""
        future = self._producer.send(
            topic, value=value, key=key, headers=headers, partition=partition,
            timestamp_ms=timestamp_ms,
        )
        self.sent += 1
        future.add_callback(self._ok)
        future.add_errback(self._error)
        return future

    def send_many(
        self,
        topic: str,
        values: Iterable[bytes],
        keys: Sequence[bytes | None] | None = None,
        timestamps_ms: Sequence[int | None] | None = None,
    ) -> int:
        """Queue many records (keys/timestamps aligned with values, if given); returns the count."""
        n = 0
        send = self._producer.send
        ok, err = self._ok, self._error
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else None
            ts = timestamps_ms[i] if timestamps_ms is not None else None
            send(topic, value=value, key=key, timestamp_ms=ts).add_callback(ok).add_errback(err)
            n += 1
        self.sent += n
        return n

    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued record is delivered or has failed."""
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush and close the connections."""
        self._producer.close(timeout=timeout)

    def partitions_for(self, topic: str) -> set[int]:
        """Partition ids of ``topic`` (fetches metadata if needed)."""
        return set(self._producer.partitions_for(topic) or ())

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.flush()
        finally:
            self.close()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A source record that could not be used, and why."""

    value: bytes | None
    reason: str
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp_ms: int | None = None


def dead_letter_headers(letter: DeadLetter, truncated_from: int | None = None) -> Headers:
    """The DLQ headers for ``letter`` (plus ``driftline.truncated`` when the value was cut)."""
    headers: Headers = [
        (REASON, letter.reason.encode("utf-8", "replace")[:1000]),
        (SOURCE_TOPIC, letter.topic.encode()),
        (SOURCE_PARTITION, str(letter.partition).encode()),
        (SOURCE_OFFSET, str(letter.offset).encode()),
    ]
    if letter.key is not None:
        headers.append((SOURCE_KEY, letter.key[:1024]))
    if truncated_from is not None:
        headers.append((TRUNCATED, str(truncated_from).encode()))
    return headers


def dead_letter_key(letter: DeadLetter) -> bytes:
    """The DLQ record key: ``<topic>/<partition>/<offset>`` of the source record. The DLQ is
    at-least-once (a worker killed before its checkpoint re-reads and re-sends the records
    after it); this key is the same for every copy, so a consumer, or a topic with
    ``cleanup.policy=compact``, keeps one.

    >>> dead_letter_key(DeadLetter(b"x", "invalid_json", "events", 3, 41))
    b'events/3/41'
    """
    return f"{letter.topic}/{letter.partition}/{letter.offset}".encode()


class DeadLetterWriter:
    """Writes :class:`DeadLetter` records to the DLQ topic through a :class:`Producer`.

    The original value is kept (the source key moves to a header: the record key is
    :func:`dead_letter_key`, stable across re-sends); a value larger than what the topic
    (``max.message.bytes``, see :func:`stream.kafka.admin.max_message_bytes`) or the producer
    accepts is truncated to fit and carries the ``driftline.truncated`` header with its
    original size, so a poison record is never lost to a "record too large" error.

    >>> writer = DeadLetterWriter(producer, "fraud.dlq", 1_048_588)  # doctest: +SKIP
    >>> writer.write(DeadLetter(b"not json", "invalid json", "events", 0, 17))  # doctest: +SKIP
    """

    def __init__(self, producer: Producer, topic: str, max_message_bytes: int = 1_048_588) -> None:
        self.producer = producer
        self.topic = topic
        self.limit = max(1, min(max_message_bytes, producer.max_request_size) - _RECORD_OVERHEAD)
        self.written = 0
        self.truncated = 0

    def write(self, letter: DeadLetter) -> Any:
        """Queue one dead letter; returns the send future."""
        value = letter.value
        original: int | None = None
        if value is not None and len(value) > self.limit:
            original = len(value)
            value = value[: self.limit]
            self.truncated += 1
        self.written += 1
        return self.producer.send(
            self.topic, value, key=dead_letter_key(letter),
            headers=dead_letter_headers(letter, original),
            timestamp_ms=letter.timestamp_ms,
        )

    def write_many(self, letters: Iterable[DeadLetter]) -> int:
        """Queue many dead letters; returns the count."""
        n = 0
        for letter in letters:
            self.write(letter)
            n += 1
        return n
