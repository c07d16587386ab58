"""What every feature sketch shares: the row counters, copying and self-describing bytes.

A subclass names its ``KIND`` (codec frame kind), ``SPEC`` (the spec class it takes) and
``LABEL`` (for error messages), and implements ``_write_state``/``_read_state``; this class
turns those into ``copy()``, ``to_bytes()`` and ``from_bytes()`` with one framing and one set of
format checks for all sketches.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Generic, Self, TypeVar

from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer, frame, unframe
from driftline.sketches.schema import FeatureSpec, spec_from_dict

SpecT = TypeVar("SpecT", bound=FeatureSpec)


class FeatureSketchBase(Generic[SpecT]):
    KIND: ClassVar[Kind]
    SPEC: ClassVar[type[Any]]
    LABEL: ClassVar[str]

    __slots__ = ("spec", "_count", "_nulls", "_invalid")
    spec: SpecT

    def __init__(self, spec: SpecT) -> None:
        if not isinstance(spec, self.SPEC):
            raise TypeError(f"{type(self).__name__} needs a {self.SPEC.__name__}, "
                            f"got {type(spec).__name__}")
        self.spec = spec
        self._count = 0
        self._nulls = 0
        self._invalid = 0

    # -- state (subclasses) -----------------------------------------------------------------
    def _write_state(self) -> bytes:
        raise NotImplementedError

    def _read_state(self, r: Reader) -> None:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """All rows seen, including nulls and invalid ones (and, numeric, NaN/inf)."""
        return self._count

    @property
    def nulls(self) -> int:
        """Rows where the feature was missing or null."""
        return self._nulls

    @property
    def invalid(self) -> int:
        """Rows where the value had the wrong type (counted by the decoder)."""
        return self._invalid

    def copy(self) -> Self:
        out = type(self)(self.spec)
        out._read_state(Reader(self._write_state(), self.LABEL))
        return out

    def to_bytes(self) -> bytes:
        """Self-describing bytes (spec included)."""
        w = Writer()
        w.text(json.dumps(self.spec.to_dict()))
        w.blob(self._write_state())
        return frame(self.KIND, w.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        r = Reader(unframe(data, cls.KIND), cls.LABEL)
        try:
            spec = spec_from_dict(json.loads(r.text()))
        except json.JSONDecodeError as exc:
            raise SketchFormatError(f"corrupt spec: {exc}") from exc
        if not isinstance(spec, cls.SPEC):
            raise SketchFormatError(f"{cls.LABEL} blob carries a {type(spec).__name__}")
        out = cls(spec)
        inner = Reader(r.blob(), cls.LABEL)
        out._read_state(inner)
        inner.done()
        r.done()
        return out
