"""Record structs for the decoder's exact path, generated from the configured field paths.

A dotted path such as ``model.score`` becomes a nested msgspec struct, so one typed decode
per record extracts every monitored value in C (unknown fields are skipped).

>>> struct, leaves = build_struct([("amount", "numeric", "amount"),
...                                ("model.score", "numeric", "score")])
>>> rec = msgspec.json.decode(b'{"amount": 2, "model": {"score": 0.5}}', type=struct)
>>> [leaf.attr for leaf in leaves], rec.f0, rec.f1.f0
(['f0', 'f1.f0'], 2.0, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import methodcaller
from typing import Any, Literal

import msgspec

Kind = Literal["numeric", "categorical", "segment", "time"]


@dataclass(slots=True)
class Leaf:
    """One monitored value: its kind, feature name, struct attribute path and JSON keys."""

    kind: Kind
    name: str
    attr: str  # attribute path in the generated struct
    attr_path: tuple[str, ...] = ()  # the JSON keys


def build_struct(leaves: list[tuple[str, Kind, str]]) -> tuple[type, list[Leaf]]:
    """A msgspec struct type for the dotted paths (nested paths become nested structs)."""
    tree: dict[str, Any] = {}
    for path, kind, name in leaves:
        node = tree
        parts = path.split(".")
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ValueError(f"path {path!r} conflicts with the leaf field {p!r}")
            node = child
        if parts[-1] in node:
            raise ValueError(f"field path {path!r} is used twice")
        node[parts[-1]] = (kind, name)
    out: list[Leaf] = []
    counter = [0]

    def make(node: dict[str, Any], prefix: str, keys: tuple[str, ...]) -> type:
        fields: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for key, val in node.items():
            attr = f"f{len(fields)}"
            rename[attr] = key
            if isinstance(val, dict):
                sub = make(val, f"{prefix}{attr}.", (*keys, key))
                fields.append((attr, sub, msgspec.field(default_factory=sub)))
            else:
                kind, name = val
                typ: Any = {
                    "numeric": float | None,
                    "time": float | str | None,
                }.get(kind, str | int | float | bool | None)
                fields.append((attr, typ, None))
                out.append(Leaf(kind, name, f"{prefix}{attr}", (*keys, key)))
        counter[0] += 1
        return msgspec.defstruct(
            f"_Record{counter[0]}", fields, rename=rename, gc=False, omit_defaults=False
        )

    root = make(tree, "", ())
    return root, out


def dict_getter(keys: tuple[str, ...]) -> Any:
    """A function reading the value at ``keys`` from a decoded dict (None when absent)."""
    if len(keys) == 1:
        return methodcaller("get", keys[0])
    return lambda obj: _lookup(obj, keys)


def _lookup(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    cur: Any = obj
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
        if cur is None:
            return None
    return cur
