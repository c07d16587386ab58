"""Dictionary-encoded categorical columns: one code per row, canonical labels once per batch.

Raw values are dictionary-encoded first (a C-level ``dict`` pass), then only the DISTINCT raw
values are canonicalized by ``sketches.canonical.canonical_categories`` (the one place that
defines labels), so a batch of 50,000 rows with 20 distinct values canonicalizes 20 values.
Cohort grouping and ``CategoricalSketch.update_counts`` then work on integer codes.

>>> c = encode_categories(["eu", "us", None, "eu", True, 3.0])
>>> c.labels, c.codes.tolist(), c.null.tolist()
(['eu', 'us', 'true', '3'], [0, 1, -1, 0, 2, 3], [False, False, True, False, False, False])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.sketches.canonical import canonical_categories
from driftline.sketches.column import Column


@dataclass(slots=True)
class CategoricalCodes:
    """``codes[i]`` indexes ``labels`` (-1 where the row is null or invalid)."""

    codes: np.ndarray
    labels: list[str]
    null: np.ndarray
    invalid: np.ndarray

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def column(self) -> Column:
        """The same rows as a ``Column`` of canonical labels ("" at null/invalid rows)."""
        table = np.array([*self.labels, ""], dtype=object)
        return Column(table[self.codes], self.null, self.invalid)

    def take(self, idx: np.ndarray) -> CategoricalCodes:
        return CategoricalCodes(self.codes[idx], self.labels, self.null[idx], self.invalid[idx])


def _collision_prone(keys: list[Any]) -> bool:
    # True == 1 and False == 0 share a dict slot; labels differ ("true" vs "1").
    return any(type(k) is not str and k is not None and (k == 0 or k == 1) for k in keys)


def encode_categories(
    raw: Sequence[Any], invalid: np.ndarray | None = None
) -> CategoricalCodes:
    """Encode raw JSON-ish values (str/int/float/bool/None); ``invalid`` marks rows the decoder
    already found invalid (their raw value is None)."""
    n = len(raw)
    values = raw if isinstance(raw, list) else list(raw)
    keys = list(dict.fromkeys(values))
    if _collision_prone(keys):
        values = [(v.__class__ is bool, v) for v in values]
        keys = list(dict.fromkeys(values))
        distinct = np.empty(len(keys), dtype=object)
        distinct[:] = [k[1] for k in keys]
    else:
        distinct = np.empty(len(keys), dtype=object)
        distinct[:] = keys
    labels_k, null_k, inv_k = canonical_categories(distinct)
    uniq: dict[str, int] = {}
    kcode = np.full(len(keys), -1, dtype=np.int32)
    for i, (lab, nl, iv) in enumerate(
        zip(labels_k.tolist(), null_k.tolist(), inv_k.tolist(), strict=True)
    ):
        if not (nl or iv):
            kcode[i] = uniq.setdefault(lab, len(uniq))
    position = {k: i for i, k in enumerate(keys)}
    ridx = np.fromiter(map(position.__getitem__, values), dtype=np.int64, count=n)
    codes = kcode[ridx]
    null = null_k[ridx]
    bad = inv_k[ridx]
    if invalid is not None and invalid.any():
        null &= ~invalid
        bad = bad | invalid
    return CategoricalCodes(codes, list(uniq), null, bad)


def concat_codes(parts: list[CategoricalCodes]) -> CategoricalCodes:
    """One column from consecutive chunks; labels stay in order of first appearance, so the
    result equals encoding the chunks' rows at once."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return CategoricalCodes(np.zeros(0, np.int32), [], np.zeros(0, bool), np.zeros(0, bool))
    labels: dict[str, int] = {}
    codes = []
    for p in parts:
        remap = np.array([labels.setdefault(lab, len(labels)) for lab in p.labels] + [-1],
                         dtype=np.int32)
        codes.append(remap[p.codes])  # code -1 picks the appended -1
    return CategoricalCodes(np.concatenate(codes), list(labels),
                            np.concatenate([p.null for p in parts]),
                            np.concatenate([p.invalid for p in parts]))
