"""CohortProfile: every feature sketch of one cohort in one window, plus the event count.

Example:
    >>> import numpy as np
    >>> schema = ProfileSchema((NumericSpec("age"), CategoricalSpec("country")))
    >>> p = CohortProfile(schema)
    >>> p.update({"age": Column(np.array([31.0, 47.0, 0.0]), null=np.array([0, 0, 1], bool)),
    ...           "country": Column(np.array(["de", "fr", "de"], dtype=object))}, events=3)
    >>> p.events, p["age"].nulls, p["country"].counts()
    (3, 1, {'de': 2, 'fr': 1})
    >>> q = CohortProfile.from_bytes(p.to_bytes()); q.merge(p).events
    6
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from driftline.sketches.canonical import canonical_categories, canonical_numbers
from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer, frame, unframe
from driftline.sketches.column import Column
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.schema import CategoricalSpec, NumericSpec, ProfileSchema

FeatureSketch = NumericSketch | CategoricalSketch


def new_sketch(spec: NumericSpec | CategoricalSpec) -> FeatureSketch:
    """An empty sketch for a spec."""
    return NumericSketch(spec) if isinstance(spec, NumericSpec) else CategoricalSketch(spec)


class CohortProfile:
    """All feature sketches of one cohort in one window. Features absent from an update batch
    count as null for every event of that batch.

    Example:
        >>> import numpy as np
        >>> p = CohortProfile(ProfileSchema((NumericSpec("x"),)))
        >>> p.update({}, events=4)  # no column for x: four nulls
        >>> p.events, p["x"].nulls, p["x"].n
        (4, 4, 0)
    """

    __slots__ = ("schema", "events", "features")

    def __init__(self, schema: ProfileSchema) -> None:
        if not isinstance(schema, ProfileSchema):
            raise TypeError(f"CohortProfile needs a ProfileSchema, got {type(schema).__name__}")
        self.schema = schema
        self.events = 0
        self.features: dict[str, FeatureSketch] = {s.name: new_sketch(s) for s in schema}

    def __getitem__(self, name: str) -> FeatureSketch:
        try:
            return self.features[name]
        except KeyError:
            raise KeyError(f"feature {name!r} is not in this profile") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.features)

    def update(self, columns: Mapping[str, Column], events: int) -> None:
        """Add one batch of ``events`` events: one :class:`Column` per feature (missing
        features are all-null). Columns must have ``events`` rows."""
        if events < 0:
            raise ValueError("events must be >= 0")
        for name, given in columns.items():
            if name in self.features and len(given) != events:
                raise ValueError(f"column {name!r} has {len(given)} rows, batch has {events}")
        for name, sketch in self.features.items():
            col = columns.get(name)
            if col is None:
                _update_missing(sketch, events)
            elif isinstance(sketch, NumericSketch):
                _update_numeric(sketch, col)
            else:
                _update_categorical(sketch, col)
        self.events += int(events)

    def merge(self, other: CohortProfile) -> CohortProfile:
        """Merge ``other`` into this profile (in place) and return self."""
        if not isinstance(other, CohortProfile):
            raise TypeError(f"cannot merge CohortProfile with {type(other).__name__}")
        if other.schema.fingerprint != self.schema.fingerprint:
            raise ValueError("cannot merge profiles of different schemas (fingerprints "
                             f"{self.schema.fingerprint} vs {other.schema.fingerprint})")
        for name, sketch in self.features.items():
            sketch.merge(other.features[name])  # type: ignore[arg-type]
        self.events += other.events
        return self

    def copy(self) -> CohortProfile:
        return CohortProfile.from_bytes(self.to_bytes(include_schema=False), self.schema)

    def to_bytes(self, include_schema: bool = True) -> bytes:
        """Compact bytes. Without the schema (e.g. checkpoints that know it) only its
        fingerprint is stored and :meth:`from_bytes` needs the schema back."""
        w = Writer()
        w.u8(include_schema)
        if include_schema:
            w.blob(self.schema.to_bytes())
        else:
            w.text(self.schema.fingerprint)
        w.u64(self.events)
        for sketch in self.features.values():
            w.blob(sketch._write_state())
        return frame(Kind.PROFILE, w.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes, schema: ProfileSchema | None = None) -> CohortProfile:
        r = Reader(unframe(data, Kind.PROFILE), "profile")
        if r.u8():
            stored = ProfileSchema.from_bytes(r.blob())
            if schema is not None and schema.fingerprint != stored.fingerprint:
                raise SketchFormatError("profile was written with a different schema")
            schema = stored
        else:
            fp = r.text()
            if schema is None:
                raise SketchFormatError("profile was written without its schema: pass schema=")
            if fp != schema.fingerprint:
                raise SketchFormatError(f"profile schema fingerprint {fp} does not match "
                                        f"{schema.fingerprint}")
        out = cls(schema)
        out.events = r.u64()
        for sketch in out.features.values():
            inner = Reader(r.blob(), f"sketch {sketch.spec.name!r}")
            sketch._read_state(inner)
            inner.done()
        r.done()
        return out

    def __repr__(self) -> str:
        return f"CohortProfile(events={self.events}, features={list(self.features)})"


def _update_missing(sketch: FeatureSketch, events: int) -> None:
    if isinstance(sketch, NumericSketch):
        sketch.update(np.empty(0), nulls=events)
    else:
        sketch.update_counts([], np.empty(0, np.int64), nulls=events)


def _update_numeric(sketch: NumericSketch, col: Column) -> None:
    values = col.values
    nulls, invalid = col.null_count, col.invalid_count
    valid = col.valid_mask()
    if values.dtype.kind not in "biuf":
        x, cnull, cinv = canonical_numbers(values if valid is None else values[valid])
        nulls += int(np.count_nonzero(cnull))
        invalid += int(np.count_nonzero(cinv))
        sketch.update(x[~(cnull | cinv)], nulls=nulls, invalid=invalid)
        return
    sketch.update(values if valid is None else values[valid], nulls=nulls, invalid=invalid)


def _update_categorical(sketch: CategoricalSketch, col: Column) -> None:
    values = col.values
    valid = col.valid_mask()
    if valid is not None:
        values = values[valid]
    labels, cnull, cinv = canonical_categories(values)
    bad = cnull | cinv
    sketch.update(labels[~bad] if bad.any() else labels,
                  nulls=col.null_count + int(np.count_nonzero(cnull)),
                  invalid=col.invalid_count + int(np.count_nonzero(cinv)))
