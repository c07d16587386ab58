"""Feature specifications and the schema of a cohort profile.

Specs are frozen, hashable and comparable. Bin ``edges`` (numeric) and the category
``vocabulary`` come from the baseline; a sketch built from a spec with edges keeps exact bin
counts over them. ``edges`` are the *interior* cut points, strictly increasing: ``B - 1`` edges
make ``B`` bins ``(-inf, e0), [e0, e1), ..., [e_last, +inf)``.

Example:
    >>> schema = ProfileSchema((NumericSpec("age", range=(0, 120)), CategoricalSpec("country")))
    >>> schema.names
    ('age', 'country')
    >>> schema["age"].k
    200
    >>> ProfileSchema.from_bytes(schema.to_bytes()) == schema
    True
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from driftline.sketches.codec import Kind, SketchFormatError, frame, unframe


@dataclass(frozen=True)
class NumericSpec:
    """A numeric feature: KLL with parameter ``k``, optional valid ``range`` and bin ``edges``.

    Example:
        >>> NumericSpec("amount", range=(0, 5e4), edges=(10.0, 100.0)).bins
        3
    """

    name: str
    k: int = 200
    range: tuple[float, float] | None = None
    edges: tuple[float, ...] | None = None
    kind: ClassVar[str] = "numeric"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.k, int) or not 8 <= self.k <= 65535:
            raise ValueError(f"feature {self.name!r}: KLL k must be an int in [8, 65535]")
        if self.range is not None:
            lo, hi = (float(self.range[0]), float(self.range[1]))
            if math.isnan(lo) or math.isnan(hi) or lo > hi:
                raise ValueError(f"feature {self.name!r}: range must be (low, high), low <= high")
            object.__setattr__(self, "range", (lo, hi))
        if self.edges is not None:
            edges = tuple(float(e) for e in self.edges)
            if not all(math.isfinite(e) for e in edges):
                raise ValueError(f"feature {self.name!r}: bin edges must be finite")
            if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError(f"feature {self.name!r}: bin edges must be strictly increasing")
            object.__setattr__(self, "edges", edges)

    @property
    def bins(self) -> int | None:
        """Number of bins the edges define (``len(edges) + 1``), or None without edges."""
        return None if self.edges is None else len(self.edges) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "k": self.k,
                "range": None if self.range is None else list(self.range),
                "edges": None if self.edges is None else list(self.edges)}


@dataclass(frozen=True)
class CategoricalSpec:
    """A categorical feature: exact counts of up to ``cap`` distinct labels, then frequent items
    plus an HLL distinct count; labels outside ``vocabulary`` are counted as unseen.

    Example:
        >>> CategoricalSpec("country", vocabulary=frozenset({"de", "fr"})).vocabulary_sorted
        ('de', 'fr')
    """

    name: str
    cap: int = 1000
    vocabulary: frozenset[str] | None = None
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.cap, int) or self.cap < 1:
            raise ValueError(f"feature {self.name!r}: cap must be a positive int")
        if self.vocabulary is not None:
            vocab = frozenset(self.vocabulary)
            if not all(isinstance(v, str) for v in vocab):
                raise ValueError(f"feature {self.name!r}: vocabulary labels must be strings")
            object.__setattr__(self, "vocabulary", vocab)

    @cached_property
    def vocabulary_sorted(self) -> tuple[str, ...]:
        """The vocabulary in a stable (sorted) order, the bin order of drift statistics."""
        return tuple(sorted(self.vocabulary or ()))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "cap": self.cap,
                "vocabulary": None if self.vocabulary is None else sorted(self.vocabulary)}


FeatureSpec = NumericSpec | CategoricalSpec


def spec_from_dict(d: dict[str, Any]) -> FeatureSpec:
    """Inverse of ``spec.to_dict()``."""
    try:
        if d["type"] == "numeric":
            rng = d.get("range")
            edges = d.get("edges")
            return NumericSpec(d["name"], int(d["k"]), None if rng is None else tuple(rng),
                               None if edges is None else tuple(edges))
        if d["type"] == "categorical":
            vocab = d.get("vocabulary")
            return CategoricalSpec(d["name"], int(d["cap"]),
                                   None if vocab is None else frozenset(vocab))
    except (KeyError, TypeError, ValueError) as exc:
        raise SketchFormatError(f"corrupt feature spec: {exc}") from exc
    raise SketchFormatError(f"corrupt feature spec: unknown type {d.get('type')!r}")


@dataclass(frozen=True)
class ProfileSchema:
    """The ordered feature specs of a profile, with a stable ``fingerprint``.

    Profiles merge only when their fingerprints match (same names, types, k, ranges, edges,
    vocabularies).
    """

    features: tuple[FeatureSpec, ...]
    _by_name: dict[str, FeatureSpec] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        feats = tuple(self.features)
        for f in feats:
            if not isinstance(f, NumericSpec | CategoricalSpec):
                raise TypeError(f"schema features must be NumericSpec/CategoricalSpec, got {f!r}")
        object.__setattr__(self, "features", feats)
        by_name = {f.name: f for f in feats}
        if len(by_name) != len(feats):
            raise ValueError("schema feature names must be unique")
        object.__setattr__(self, "_by_name", by_name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def __getitem__(self, name: str) -> FeatureSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"feature {name!r} is not in the schema") from None

    def get(self, name: str) -> FeatureSpec | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[FeatureSpec]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProfileSchema:
        try:
            return cls(tuple(spec_from_dict(f) for f in d["features"]))
        except (KeyError, TypeError) as exc:
            raise SketchFormatError(f"corrupt schema: {exc}") from exc

    @cached_property
    def _canonical(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")

    @cached_property
    def fingerprint(self) -> str:
        """Stable hex digest of the canonical schema (names, types, parameters, edges, vocab)."""
        return hashlib.sha256(self._canonical).hexdigest()[:32]

    def to_bytes(self) -> bytes:
        """Framed, zlib-compressed canonical JSON."""
        return frame(Kind.SCHEMA, zlib.compress(self._canonical, 6))

    @classmethod
    def from_bytes(cls, data: bytes) -> ProfileSchema:
        payload = unframe(data, Kind.SCHEMA)
        try:
            d = json.loads(zlib.decompress(payload).decode("utf-8"))
        except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SketchFormatError(f"corrupt schema: {exc}") from exc
        if not isinstance(d, dict):
            raise SketchFormatError("corrupt schema: not an object")
        return cls.from_dict(d)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"feature name must be a non-empty string, got {name!r}")
