"""Mergeable sketch of one categorical feature.

Exact mode: a count per distinct label, while there are at most ``spec.cap`` of them.
Past the cap the sketch switches (for good) to: exact counts of the vocabulary labels (so
PSI/JS/chi-square over the baseline bins stay exact), an exact total of the other labels, a
frequent-items sketch of the other labels (estimates with error bounds) and an HLL distinct
count. ``unseen`` -- values outside ``spec.vocabulary`` -- is always exact.

Example:
    >>> import numpy as np
    >>> s = CategoricalSketch(CategoricalSpec("country", vocabulary=frozenset({"de", "fr"})))
    >>> s.update(np.array(["de", "de", "fr", "xx"], dtype=object), nulls=1)
    >>> s.count, s.n, s.nulls, s.unseen, s.counts()
    (5, 4, 1, 1, {'de': 2, 'fr': 1, 'xx': 1})
    >>> s.update_counts(["de", "it"], np.array([3, 2]))
    >>> CategoricalSketch.from_bytes(s.to_bytes()).counts()["de"]
    5
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from collections.abc import Sequence
from itertools import repeat

import numpy as np
from datasketches import (
    frequent_items_error_type,
    frequent_strings_sketch,
    hll_sketch,
    hll_union,
    tgt_hll_type,
)

from driftline.sketches.base import FeatureSketchBase
from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer
from driftline.sketches.schema import CategoricalSpec

FREQUENT_LG_MAX_MAP = 9  # frequent-items map of 512 slots: error <= ~0.7% of the other labels
HLL_LG_K = 12  # HLL relative error ~1.6% (1 sigma)
_COUNTERS = struct.Struct("<5Q")  # the counters at the start of a sketch's state


class CategoricalSketch(FeatureSketchBase[CategoricalSpec]):
    """Sketch of one categorical feature; see the module docstring.

    Example:
        >>> import numpy as np
        >>> s = CategoricalSketch(CategoricalSpec("device", cap=2))
        >>> s.update_counts(["ios", "android"], np.array([5, 3])); s.is_exact
        True
        >>> s.update(["web"]); s.is_exact, s.n, s.count_of("ios")  # 3 labels > cap 2
        (False, 9, 5)
    """

    KIND = Kind.CATEGORICAL
    SPEC = CategoricalSpec
    LABEL = "categorical sketch"
    __slots__ = ("_vocab", "_unseen", "_exact", "_vocab_counts", "_other", "_fi", "_hll")

    def __init__(self, spec: CategoricalSpec) -> None:
        super().__init__(spec)
        self._vocab = spec.vocabulary
        self._unseen = 0
        self._exact: dict[str, int] | None = {}
        self._vocab_counts: dict[str, int] = {}
        self._other = 0
        self._fi: frequent_strings_sketch | None = None
        self._hll: hll_sketch | None = None

    # ------------------------------------------------------------------ update / merge
    def update(self, values: np.ndarray | Sequence[str], nulls: int = 0, invalid: int = 0) -> None:
        """Add a batch of canonical string labels (see ``canonical_categories``)."""
        vals = values.tolist() if isinstance(values, np.ndarray) else values
        counts = Counter(vals)  # counting runs in C, not a Python loop per value
        labels = list(counts)
        for lab in labels:
            if not isinstance(lab, str):
                raise TypeError(f"feature {self.spec.name!r}: category labels must be str, got "
                                f"{type(lab).__name__} (convert with canonical_categories)")
        self.update_counts(labels, np.fromiter(counts.values(), dtype=np.int64,
                                               count=len(labels)), nulls, invalid)

    def update_counts(self, labels: Sequence[str], counts: np.ndarray | Sequence[int],
                      nulls: int = 0, invalid: int = 0) -> None:
        """Add pre-aggregated counts (one entry per distinct label; zero counts are skipped)."""
        c = np.asarray(counts, dtype=np.int64)
        if c.shape != (len(labels),):
            raise ValueError("labels and counts must have the same length")
        CategoricalSketch.update_groups([self], labels, c[None, :], [nulls], [invalid])

    @staticmethod
    def update_groups(sketches: Sequence[CategoricalSketch], labels: Sequence[str],
                      counts: np.ndarray, nulls: Sequence[int] | np.ndarray | None = None,
                      invalid: Sequence[int] | np.ndarray | None = None) -> None:
        """``sketches[g].update_counts(labels, counts[g], nulls[g], invalid[g])`` for every g:
        ``counts`` is one row per sketch, checked, summed and scanned for present labels in
        one pass for all of them.

            >>> a, b = (CategoricalSketch(CategoricalSpec("c")) for _ in range(2))
            >>> CategoricalSketch.update_groups([a, b], ["x", "y"], np.array([[2, 0], [1, 4]]),
            ...                                 nulls=[0, 3])
            >>> a.counts(), b.counts(), b.count
            ({'x': 2}, {'x': 1, 'y': 4}, 8)
        """
        n_groups = len(sketches)
        c = np.asarray(counts, dtype=np.int64)
        if c.shape != (n_groups, len(labels)):
            raise ValueError("labels and counts must have the same length")
        zeros = np.zeros(n_groups, dtype=np.int64)
        nul = zeros if nulls is None else np.asarray(nulls, dtype=np.int64)
        inv = zeros if invalid is None else np.asarray(invalid, dtype=np.int64)
        if (c < 0).any() or (nul < 0).any() or (inv < 0).any():
            raise ValueError("counts, nulls and invalid must be >= 0")
        totals = (c.sum(axis=1) + nul + inv).tolist()
        rows, cols = np.nonzero(c)  # a loop per *present* label only (whole dictionaries)
        vals, cols_ = c[rows, cols].tolist(), cols.tolist()
        ends = np.searchsorted(rows, np.arange(1, n_groups + 1)).tolist()
        start = 0
        for sk, total, nu, iv, end in zip(sketches, totals, nul.tolist(), inv.tolist(), ends,
                                          strict=True):
            sk._count += total
            sk._nulls += nu
            sk._invalid += iv
            if end > start:
                sk._add_pairs([(labels[i], v) for i, v in zip(cols_[start:end],
                                                               vals[start:end], strict=True)])
            start = end

    def _add_pairs(self, pairs: list[tuple[str, int]]) -> None:
        """Add ``(label, count)`` pairs of distinct labels."""
        vocab = self._vocab
        if vocab is not None:
            self._unseen += sum(v for lab, v in pairs if lab not in vocab)
        if self._exact is not None:
            exact = self._exact
            for lab, v in pairs:
                exact[lab] = exact.get(lab, 0) + v
            if len(exact) > self.spec.cap:
                self._to_approximate()
            return
        self._add_approximate(pairs)

    def _to_approximate(self) -> None:
        exact = self._exact or {}
        self._exact = None
        self._fi = frequent_strings_sketch(FREQUENT_LG_MAX_MAP)
        self._hll = hll_sketch(HLL_LG_K, tgt_hll_type.HLL_4)
        self._add_approximate(list(exact.items()))

    def _add_approximate(self, pairs: list[tuple[str, int]]) -> None:
        vocab = self._vocab or frozenset()
        vc = self._vocab_counts
        fi, hll = self._fi, self._hll
        assert fi is not None and hll is not None
        for lab, v in pairs:
            hll.update(lab)
            if lab in vocab:
                vc[lab] = vc.get(lab, 0) + v
            else:
                self._other += v
                fi.update(lab, v)

    def merge(self, other: CategoricalSketch) -> CategoricalSketch:
        """Merge ``other`` into this sketch (in place) and return self."""
        if not isinstance(other, CategoricalSketch):
            raise TypeError(f"cannot merge CategoricalSketch with {type(other).__name__}")
        if other.spec is not self.spec and other.spec != self.spec:
            raise ValueError(f"cannot merge sketches of different specs: {self.spec.name!r}")
        self._count += other._count
        self._nulls += other._nulls
        self._invalid += other._invalid
        self._unseen += other._unseen
        if self._exact is not None and other._exact is not None:
            exact = self._exact
            for lab, v in other._exact.items():
                exact[lab] = exact.get(lab, 0) + v
            if len(exact) > self.spec.cap:
                self._to_approximate()
            return self
        if self._exact is not None:
            self._to_approximate()
        if other._exact is not None:
            self._add_approximate(list(other._exact.items()))
            return self
        for lab, v in other._vocab_counts.items():
            self._vocab_counts[lab] = self._vocab_counts.get(lab, 0) + v
        self._other += other._other
        assert self._fi is not None and self._hll is not None
        self._fi.merge(other._fi)
        union = _hll_union(self._hll, other._hll)
        self._hll = union
        return self

    # ------------------------------------------------------------------ properties
    @property
    def n(self) -> int:
        """Rows with a valid label (the sample size of every drift statistic)."""
        return self._count - self._nulls - self._invalid

    @property
    def unseen(self) -> int:
        """Valid values whose label is not in ``spec.vocabulary`` (0 without a vocabulary)."""
        return self._unseen

    @property
    def is_exact(self) -> bool:
        """True while every label has an exact count (at most ``spec.cap`` distinct labels)."""
        return self._exact is not None

    @property
    def distinct(self) -> float:
        """Distinct labels: exact while ``is_exact``, else the HLL estimate."""
        if self._exact is not None:
            return float(len(self._exact))
        assert self._hll is not None
        return float(self._hll.get_estimate())

    @property
    def max_error(self) -> int:
        """Upper bound of the error of any count from ``counts()`` (0 while exact)."""
        if self._fi is None:
            return 0
        return int(np.ceil(self._fi.epsilon * self._fi.total_weight))

    def counts(self) -> dict[str, int]:
        """Label counts: exact while ``is_exact``; afterwards exact for vocabulary labels plus
        frequent-items estimates (+- ``max_error``) for the most frequent other labels."""
        if self._exact is not None:
            return dict(self._exact)
        out = dict(self._vocab_counts)
        for lab, est, _lo, _hi in self.frequent_items():
            out[lab] = est
        return out

    def frequent_items(self) -> list[tuple[str, int, int, int]]:
        """``(label, estimate, lower_bound, upper_bound)`` of the non-vocabulary labels the
        frequent-items sketch tracks (empty while exact), most frequent first."""
        if self._fi is None or self._fi.is_empty():
            return []
        items = self._fi.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        return [(str(i[0]), int(i[1]), int(i[2]), int(i[3])) for i in items]

    def count_of(self, label: str) -> int:
        """Count of one label (exact for vocabulary labels and in exact mode)."""
        if self._exact is not None:
            return self._exact.get(label, 0)
        if self._vocab is not None and label in self._vocab:
            return self._vocab_counts.get(label, 0)
        assert self._fi is not None
        return int(self._fi.get_estimate(label))

    def vocabulary_counts(self, vocabulary: Sequence[str]) -> tuple[np.ndarray, int, bool]:
        """Counts for ``vocabulary`` labels, the count of everything else, and whether they are
        exact (always true for this sketch's own vocabulary)."""
        own = self._vocab is not None and self._vocab.issuperset(vocabulary)
        if self._exact is not None or own:
            table = self._exact if self._exact is not None else self._vocab_counts
            counts = map(table.get, vocabulary, repeat(0))  # C-level lookups
        else:
            counts = map(self.count_of, vocabulary)
        c = np.fromiter(counts, dtype=np.int64, count=len(vocabulary))
        other = max(self.n - int(c.sum()), 0)
        return c, other, self._exact is not None or own

    # ------------------------------------------------------------------ bytes
    def _write_state(self) -> bytes:
        w = Writer()
        for v in (self._count, self._nulls, self._invalid, self._unseen, self._other):
            w.u64(v)
        exact = self._exact is not None
        w.u8(exact)
        table = self._exact if exact else self._vocab_counts
        labels = list(table)  # type: ignore[arg-type]
        w.blob(zlib.compress(json.dumps(labels, separators=(",", ":")).encode(), 1))
        counts = np.fromiter(table.values(), dtype="<i8", count=len(labels))  # type: ignore[union-attr]
        w.blob(zlib.compress(counts.tobytes(), 1))
        if not exact:
            assert self._fi is not None and self._hll is not None
            w.blob(self._fi.serialize())
            w.blob(self._hll.serialize_compact())
        return w.getvalue()

    def _read_state(self, r: Reader) -> None:
        name = self.spec.name
        (self._count, self._nulls, self._invalid, self._unseen, self._other) = r.fields(_COUNTERS)
        exact = r.u8()
        try:
            labels = json.loads(zlib.decompress(r.blob()))
            raw_counts = zlib.decompress(r.blob())
        except (zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SketchFormatError(f"corrupt categorical sketch {name!r}: {exc}") from exc
        if len(raw_counts) % 8:
            raise SketchFormatError(f"corrupt categorical sketch {name!r}: bad count table")
        counts = np.frombuffer(raw_counts, dtype="<i8")
        if (not isinstance(labels, list) or len(labels) != counts.shape[0]
                or not all(isinstance(lab, str) for lab in labels) or np.any(counts < 0)):
            raise SketchFormatError(f"corrupt categorical sketch {name!r}: bad count table")
        table = dict(zip(labels, counts.tolist(), strict=True))
        if exact:
            self._exact, self._fi, self._hll = table, None, None
            total = sum(table.values())
        else:
            self._exact, self._vocab_counts = None, table
            try:
                self._fi = frequent_strings_sketch.deserialize(r.blob())
                self._hll = hll_sketch.deserialize(r.blob())
            except SketchFormatError:
                raise
            except Exception as exc:
                raise SketchFormatError(f"corrupt categorical sketch {name!r}: {exc}") from exc
            total = sum(table.values()) + self._other
        if total + self._nulls + self._invalid != self._count or self._unseen > total:
            raise SketchFormatError(f"categorical sketch {name!r}: inconsistent counters")

    def __repr__(self) -> str:
        return (f"CategoricalSketch({self.spec.name!r}, count={self.count}, "
                f"distinct={self.distinct:g}, exact={self.is_exact})")


def _hll_union(a: hll_sketch, b: hll_sketch | None) -> hll_sketch:
    u = hll_union(HLL_LG_K)
    u.update(a)
    if b is not None:
        u.update(b)
    return u.get_result(tgt_hll_type.HLL_4)
