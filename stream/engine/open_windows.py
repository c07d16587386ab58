"""The open windows of one source partition: their profiles, and how a snapshot stores them.

A window holds one profile per (segment, cohort), or with two or more segments one profile per
*cell* (a cohort of every segment at once) until it is split; ``tracked`` counts the raw values
held per segment and ``own`` the (segment, value)s with a cohort of their own in it. In a
snapshot each window is a JSON entry (its keys, cells, tracked and own) and its profiles are
blobs in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import ProfileSchema
from driftline.stream.engine.partial import CohortKey

Cell = tuple[str, ...]


class Window:
    """One open window of a partition (see the module doc)."""

    __slots__ = ("profiles", "tracked", "own", "cells")

    def __init__(self, cells: bool) -> None:
        self.profiles: dict[CohortKey, CohortProfile] = {}
        self.tracked: dict[str, int] = {}  # per segment: raw (not admitted) values held
        self.own: set[CohortKey] = set()  # (segment, value)s with a cohort of their own here
        # one profile per cell (a cohort of every segment), or None: one per segment and cohort
        self.cells: dict[Cell, CohortProfile] | None = {} if cells else None


def encode_windows(windows: dict[int, Window]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The snapshot entries of ``windows`` (by index) and their profiles' blobs, in order."""
    wins: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for idx in sorted(windows):
        w = windows[idx]
        cells = w.cells or {}
        wins.append({"index": idx, "keys": [list(k) for k in w.profiles],
                     "tracked": w.tracked, "own": sorted(map(list, w.own)),
                     "cells": None if w.cells is None else [list(c) for c in cells]})
        blobs.extend(p.to_bytes(include_schema=False) for p in w.profiles.values())
        blobs.extend(p.to_bytes(include_schema=False) for p in cells.values())
    return wins, blobs


def decode_windows(entries: list[dict[str, Any]], blobs: list[bytes], schema: ProfileSchema
                   ) -> dict[int, Window]:
    """The windows of a snapshot (version 1 entries, without cells or routes, too)."""
    profiles: Iterator[bytes] = iter(blobs)
    windows: dict[int, Window] = {}
    for wm in entries:
        w = Window(wm.get("cells") is not None)
        w.tracked = {str(k): int(v) for k, v in wm["tracked"].items()}
        for key in wm["keys"]:
            w.profiles[(key[0], key[1])] = CohortProfile.from_bytes(next(profiles), schema)
        for cell in wm.get("cells") or []:
            w.cells[tuple(cell)] = CohortProfile.from_bytes(  # type: ignore[index]
                next(profiles), schema)
        # version 1 kept no routes: a value had its own cohort iff it had a profile
        w.own = ({(str(k[0]), str(k[1])) for k in wm["own"]} if "own" in wm
                 else set(w.profiles))
        windows[int(wm["index"])] = w
    return windows
