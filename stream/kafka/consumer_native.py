"""The librdkafka consumer without a message object per record (``_rdfetch``, Rust).

:class:`NativeClient` offers the calls of ``confluent_kafka.Consumer`` that
:class:`~stream.kafka.consumer_rdkafka.RdkafkaBatchConsumer` makes, on the same librdkafka
(the one confluent-kafka ships, loaded once more by path), with one difference: records come
back as :class:`~stream.kafka.consumer.PartitionRecords`, built in one native pass per fetch.
confluent-kafka's ``consume()`` makes a ``Message`` object per record (a Python object, a
bytes copy and a topic string) and the per-partition lists are then read from them with a method
call per field; here the lists hold the values, keys, offsets and timestamps directly, and
librdkafka's own work runs without the GIL. Rebalances call the owner's callbacks exactly as
confluent-kafka does (``on_assign(client, partitions)``, on the thread inside
``consume_records``/``close``).

Without the extension (an install without a Rust toolchain) :func:`native_client` returns None
and the consumer uses confluent-kafka's ``Consumer``.

>>> from driftline.stream.kafka.consumer_native import conf_value
>>> conf_value(False), conf_value(10), conf_value("plain")
('false', '10', 'plain')
"""

from __future__ import annotations

import ctypes.util
import logging
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from driftline.stream.kafka.consumer import PartitionRecords

try:
    from driftline.stream.kafka._rdfetch import Consumer as _Native
except ImportError:  # pragma: no cover - installs without a Rust toolchain
    _Native = None

log = logging.getLogger(__name__)

Callback = Callable[[Any, list[Any]], None]


def conf_value(value: object) -> str:
    """A librdkafka property value as the string its C API takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def librdkafka_path() -> str | None:
    """The librdkafka confluent-kafka loads: the one its wheel ships, else the system's."""
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    shipped = sorted(libs.glob("librdkafka*.so*"))
    if shipped:
        return str(shipped[0])
    return ctypes.util.find_library("rdkafka")


def native_client(conf: Mapping[str, Any]) -> NativeClient | None:
    """A :class:`NativeClient` for ``conf``, or None without the extension or the library."""
    path = librdkafka_path() if _Native is not None else None
    return NativeClient(conf, path) if path is not None else None


class NativeClient:
    """``confluent_kafka.Consumer``'s calls that the batch consumer makes, natively."""

    def __init__(self, conf: Mapping[str, Any], library: str) -> None:
        import confluent_kafka

        assert _Native is not None
        self._ck = confluent_kafka
        me = weakref.ref(self)  # the native handle must not keep its client alive (a cycle)

        def rebalance(kind: str, tps: list[tuple[str, int]]) -> None:
            client = me()
            if client is not None:
                client._rebalance(kind, tps)

        self._native = _Native(library, [(k, conf_value(v)) for k, v in conf.items()],
                               rebalance)
        self._on_assign: Callback | None = None
        self._on_revoke: Callback | None = None

    def subscribe(self, topics: list[str], *, on_assign: Callback, on_revoke: Callback) -> None:
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._native.subscribe(list(topics))

    def _rebalance(self, kind: str, tps: list[tuple[str, int]]) -> None:
        callback = self._on_assign if kind == "assign" else self._on_revoke
        assert callback is not None
        callback(self, [self._ck.TopicPartition(t, p) for t, p in tps])

    def assign(self, partitions: list[Any]) -> None:
        self._native.assign([(p.topic, p.partition, p.offset) for p in partitions])

    def unassign(self) -> None:
        self._native.assign(None)

    def consume_records(self, max_records: int, timeout_ms: int) -> list[PartitionRecords]:
        """Up to ``max_records`` records within ``timeout_ms``, per partition (messages that
        carried an error are logged and left out)."""
        parts, failed = self._native.consume(max_records, timeout_ms)
        for topic, partition, error in failed:
            log.info("consumer: %s[%d]: %s", topic, partition, error)
        return [PartitionRecords(*p) for p in parts]

    def close(self) -> None:
        self._native.close()

    def seek(self, tp: Any) -> None:
        self._native.seek(tp.topic, tp.partition, tp.offset)

    def position(self, partitions: list[Any]) -> list[Any]:
        out = []
        for p in partitions:
            pos = self._native.position(p.topic, p.partition)
            out.append(self._ck.TopicPartition(p.topic, p.partition,
                                               self._ck.OFFSET_INVALID if pos is None else pos))
        return out

    def get_watermark_offsets(self, tp: Any, cached: bool = True) -> tuple[int, int]:
        high = self._native.watermark(tp.topic, tp.partition)
        return (-1, -1 if high is None else high)

    def commit(self, offsets: list[Any], asynchronous: bool = False) -> None:
        error = self._native.commit([(p.topic, p.partition, p.offset) for p in offsets])
        if error is not None:
            raise self._ck.KafkaException(error)
