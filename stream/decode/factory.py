"""The record decoder a config asks for: JSON, Avro or Protobuf (``source.format``).

Every decoder gives the same :class:`~stream.decode.batch.DecodedBatch` columns, so nothing
above this layer knows the format.

>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}]})
>>> type(decoder_for(cfg)).__name__
'Decoder'
"""

from __future__ import annotations

from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.avro import AvroDecoder
from driftline.stream.decode.decoder import Decoder
from driftline.stream.decode.protobuf import ProtobufDecoder


def decoder_for(config: DriftlineConfig, require_event_time: bool = True,
                fast: bool = True) -> Decoder:
    """A decoder for ``config``'s format (``require_event_time=False`` keeps records without a
    usable event time, with time NaN: baseline building; ``fast=False``: JSON's exact path
    only). Avro and Protobuf look schemas up in the registry when records name new ids."""
    fmt = config.source.format
    if fmt == "avro":
        return AvroDecoder.for_config(config, require_event_time)
    if fmt == "protobuf":
        return ProtobufDecoder.for_config(config, require_event_time)
    return Decoder.from_config(config, require_event_time, fast)
