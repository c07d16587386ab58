"""PartialWindow: one source partition's profiles of one closed window.

The aggregator of each source partition emits one per window once its watermark passed the
window end; the merger merges the partials of all partitions. Profiles are keyed by
``(segment, value)``: the global cohort is ``("all", "all")``; a segment value may be a raw
value the merger has not admitted yet, or ``__other__`` (see :mod:`stream.engine.cohorts`).

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> from driftline.sketches.profile import CohortProfile
>>> schema = ProfileSchema((NumericSpec("x"),))
>>> p = PartialWindow("t", 0, 0.0, 60.0, {("all", "all"): CohortProfile(schema)}, 60.0)
>>> PartialWindow.from_bytes(p.to_bytes(), schema).source
('t', 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import ProfileSchema
from driftline.stream.engine.framing import StateFormatError, pack, unpack

_MAGIC = b"DLPW"
_VERSION = 1

CohortKey = tuple[str, str]


@dataclass(slots=True)
class PartialWindow:
    topic: str
    partition: int
    start: float
    end: float
    profiles: dict[CohortKey, CohortProfile]
    watermark: float
    late: int = 0
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def source(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    @property
    def events(self) -> int:
        g = self.profiles.get(("all", "all"))
        return 0 if g is None else g.events

    def to_bytes(self) -> bytes:
        keys = list(self.profiles)
        fp = next(iter(self.profiles.values())).schema.fingerprint if keys else ""
        meta = {"topic": self.topic, "partition": self.partition, "start": self.start,
                "end": self.end, "watermark": self.watermark, "late": self.late,
                "keys": [list(k) for k in keys], "schema": fp, "meta": self.meta}
        blobs = [self.profiles[k].to_bytes(include_schema=False) for k in keys]
        return pack(_MAGIC, _VERSION, meta, blobs)

    @classmethod
    def from_bytes(cls, data: bytes, schema: ProfileSchema) -> PartialWindow:
        _, meta, blobs = unpack(data, _MAGIC, {_VERSION})
        if meta["keys"] and meta["schema"] != schema.fingerprint:
            raise StateFormatError("partial window was built with a different schema")
        profiles = {
            (k[0], k[1]): CohortProfile.from_bytes(b, schema)
            for k, b in zip(meta["keys"], blobs, strict=True)
        }
        return cls(meta["topic"], int(meta["partition"]), float(meta["start"]),
                   float(meta["end"]), profiles, float(meta["watermark"]), int(meta["late"]),
                   dict(meta.get("meta") or {}))
