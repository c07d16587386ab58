"""Per-source-partition aggregation: decoded batches -> open windows' CohortProfiles.

One :class:`PartitionAggregator` per (topic, partition). It holds the open windows (a profile
per cohort), the watermark, last-seen times and the NEXT offset its state covers, so the Kafka
runtime can checkpoint ``snapshot()`` together with that offset and resume exactly there.

Updates are vectorized: per batch and segment the rows are grouped once (one stable argsort
of ``window * values + value``), every column is permuted once, and each (window, cohort)
group is a contiguous slice fed to the sketches with one call per feature — never a Python
loop per value. Categorical features are dictionary codes counted with ``np.bincount``. With
segments, the global profile is not updated per event: it is the merge of the first segment's
profiles when the window is emitted (same counts, sketches within their error bounds). With two
or more segments, in a large window (``CELL_MIN_EVENTS``) each event updates ONE profile, that
of its cell -- its cohorts in every segment, e.g. (region=eu, device=ios) -- and the segments'
cohorts are merged from the cells when the window is emitted: half the sketch updates with two
segments; a small window updates each segment's cohort (cheaper than a profile and merges per
cell when a cell holds a few events). A window whose cells
would pass ``MAX_CELLS`` (many cohorts per segment) is split into per-segment profiles then and
there and continues as one profile per segment and cohort, so state stays bounded.

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> from driftline.stream.decode.decoder import Decoder, FieldSpec
>>> agg = PartitionAggregator("tx", 0, ProfileSchema((NumericSpec("x"),)),
...     Decoder([FieldSpec("x", "numeric")], ["region"], "ts"), window_size=60)
>>> report = agg.ingest(RecordBatch("tx", 0, [0, 1], None,
...     [b'{"ts": 1, "x": 2.0, "region": "eu"}', b'{"ts": 61, "x": 3.0, "region": "us"}']))
>>> [(p.start, p.events) for p in agg.ready()], agg.flush()[0].events
([(0.0, 1)], 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import ProfileSchema
from driftline.stream.decode.batchops import take
from driftline.stream.decode.decoder import DEAD_LETTER_REASONS, DecodedBatch, Decoder
from driftline.stream.engine.batch import IngestReport, RecordBatch
from driftline.stream.engine.cohorts import GLOBAL, MISSING, OTHER, AdmittedView, Cohorts
from driftline.stream.engine.feed import feed
from driftline.stream.engine.framing import StateFormatError, pack, unpack
from driftline.stream.engine.grouping import busiest_first, unique_small
from driftline.stream.engine.open_windows import Cell, Window, decode_windows, encode_windows
from driftline.stream.engine.partial import CohortKey, PartialWindow
from driftline.stream.engine.plausible import PlausibleTimes, drop_implausible, repair_aggregator
from driftline.stream.engine.seen import note_seen
from driftline.stream.engine.windows import WindowClock

_MAGIC = b"DLAG"
_VERSION = 2  # 2: cells and routed values per window; 1 (no cells) restores too
MAX_CELLS = 128  # cells per window before it is split into per-segment profiles
CELL_MIN_EVENTS = 8_000  # cells when the last emitted window or the opening batch has as many

class PartitionAggregator:
    """Open windows of one source partition; see the module doc."""

    def __init__(
        self,
        topic: str,
        partition: int,
        schema: ProfileSchema,
        decoder: Decoder,
        window_size: float,
        allowed_lateness: float = 0.0,
        idle_timeout: float = 30.0,
        cohorts: Cohorts | AdmittedView | None = None,
        local_cap: int | None = None,
        plausible: PlausibleTimes | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.schema = schema
        self.decoder = decoder
        self.segments = list(decoder.segments)
        self.clock = WindowClock(window_size, allowed_lateness, idle_timeout)
        self.plausible = plausible if plausible is not None else PlausibleTimes()
        self.cohorts = cohorts
        max_k = cohorts.max_cohorts if cohorts is not None else 50
        self.local_cap = local_cap if local_cap is not None else 2 * max_k
        self.windows: dict[int, Window] = {}
        self.next_offset: int | None = None
        self.records = 0
        self.events = 0
        self.late = 0
        self.invalid: dict[str, int] = dict.fromkeys(DEAD_LETTER_REASONS, 0)
        self.last_seen: dict[str, float] = {}
        self._seen_cohorts: dict[str, int] = dict.fromkeys(self.segments, 0)
        self._last_events = 0  # events of the last emitted window

    # -- ingestion --------------------------------------------------------------------------
    def ingest(self, batch: RecordBatch, now: float | None = None) -> IngestReport:
        """Decode and aggregate one batch. Records below ``next_offset`` (already covered by a
        restored snapshot) are skipped, which makes replays after a restore exact."""
        report = IngestReport(self.topic, self.partition)
        values: Sequence[bytes] = batch.values
        ts = batch.timestamps_ms
        index_map: np.ndarray | None = None
        if self.next_offset is not None and len(batch):
            offs = np.asarray(batch.offsets, dtype=np.int64)
            fresh = offs >= self.next_offset
            if not fresh.all():
                index_map = np.flatnonzero(fresh)
                report.skipped = len(batch) - int(index_map.shape[0])
                values = [values[i] for i in index_map.tolist()]
                if ts is not None:
                    ts = np.asarray(ts)[index_map]
        report.records = len(values)
        if not values:
            return report
        decoded = self.decoder.decode(values, ts)
        if index_map is not None:
            decoded.rows = index_map[decoded.rows]
            for i, dl in enumerate(decoded.dead_letters):
                decoded.dead_letters[i] = type(dl)(int(index_map[dl.index]), dl.reason, dl.detail)
        self.ingest_decoded(decoded, records=len(values), now=now, report=report)
        nxt = batch.next_offset
        if nxt is not None:
            self.next_offset = max(self.next_offset or 0, nxt)
        return report

    def ingest_decoded(
        self,
        d: DecodedBatch,
        records: int | None = None,
        now: float | None = None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        """Aggregate already-decoded columns (file replay and baseline tools use this)."""
        rep = report or IngestReport(self.topic, self.partition)
        rep.records = records if records is not None else d.n + len(d.dead_letters)
        if d.n:
            d = drop_implausible(d, self.plausible, self.clock.max_event_time)
        rep.dead_letters = d.dead_letters
        self.records += rep.records
        for dl in d.dead_letters:
            self.invalid[dl.reason] = self.invalid.get(dl.reason, 0) + 1
        if now is not None:
            self.clock.touch(now)
        if d.n == 0:
            return rep
        win, late = self.clock.assign(d.event_time, now)
        n_late = int(np.count_nonzero(late))
        if n_late:
            keep = np.flatnonzero(~late)
            d = take(d, keep)
            win = win[keep]
            rep.late = n_late
            self.late += n_late
        rep.events = d.n
        self.events += d.n
        if d.n:
            self._aggregate(d, win)
            note_seen(self.last_seen, self._seen_cohorts, d, self.cohorts, 4 * self.local_cap)
        return rep

    def _aggregate(self, d: DecodedBatch, win: np.ndarray) -> None:
        wmin = int(win.min())
        if not self.segments:  # else the global profile is the merge of the first segment's
            uniq, inverse = unique_small(win - wmin)
            feed(d, inverse, [self._profile(self._window(wmin + k), GLOBAL)
                              for k in uniq.tolist()])
        if len(self.segments) > 1:
            self._open_by_size(win, wmin)
            rest = self._aggregate_cells(d, win, wmin)
            if rest is None:
                return
            d, win = take(d, rest), win[rest]
            wmin = int(win.min())
        for seg in self.segments:
            sc = d.segments[seg]
            width = len(sc.labels) + 1
            code = np.where(sc.codes < 0, len(sc.labels), sc.codes)
            wins, wpos = None, win - wmin
            if (int(win.max()) - wmin + 1) * width >= 1 << 62:  # tiny windows far apart
                wins, wpos = np.unique(win, return_inverse=True)  # number them densely
            uniq, inverse = unique_small(wpos * width + code)
            labels = [*sc.labels, MISSING]
            # route each distinct (window, value) once, the busiest first (they get the local
            # slots before a flood of rare values); values past the caps share __other__
            keys = uniq.tolist()
            profiles: list[CohortProfile | None] = [None] * len(keys)
            for j in busiest_first(inverse, len(keys)):
                k = keys[j] // width
                w = self._window(wmin + k if wins is None else int(wins[k]))
                profiles[j] = self._profile(w, (seg, self._route(w, seg, labels[keys[j] % width])))
            feed(d, inverse, profiles)

    def _open_by_size(self, win: np.ndarray, wmin: int) -> None:
        """Open the batch's new windows (``wmin``: the smallest of ``win``), in cells when they
        are expected to be large."""
        if self._last_events >= CELL_MIN_EVENTS:
            return  # _window opens them in cells
        uniq, inverse = unique_small(win - wmin)
        sizes = np.bincount(inverse, minlength=len(uniq)).tolist()
        for k, size in zip(uniq.tolist(), sizes, strict=True):
            if (i := wmin + k) not in self.windows:
                self.windows[i] = Window(size >= CELL_MIN_EVENTS)

    def _aggregate_cells(self, d: DecodedBatch, win: np.ndarray,
                         wmin: int) -> np.ndarray | None:
        """Update the cells of the windows in cell mode; return the rows of the others (None:
        no other)."""
        labels: list[list[str]] = []
        key = win - wmin
        span = int(win.max()) - wmin + 1
        for seg in self.segments:
            sc = d.segments[seg]
            labels.append([*sc.labels, MISSING])
            span *= len(labels[-1])
            key = key * len(labels[-1]) + np.where(sc.codes < 0, len(sc.labels), sc.codes)
        if span >= 1 << 62:  # too many distinct values to number the combinations
            for i in np.unique(win).tolist():
                self._split(self._window(int(i)))
            return np.arange(d.n)
        uniq, inverse = unique_small(key)
        parts = []
        rest = uniq
        for labs in reversed(labels):
            parts.append((rest % len(labs)).tolist())
            rest = rest // len(labs)
        parts.reverse()
        wins = (rest + wmin).tolist()
        # 1. route every distinct (window, values) to its cell; split windows that overflow
        cells: list[Cell | None] = [None] * len(wins)
        new: dict[int, set[Cell]] = {}
        for j in busiest_first(inverse, len(wins)):
            wi = wins[j]
            w = self._window(wi)
            if w.cells is None:
                continue
            cell = tuple(self._route(w, seg, labels[s][parts[s][j]])
                         for s, seg in enumerate(self.segments))
            cells[j] = cell
            if cell not in w.cells:
                new.setdefault(wi, set()).add(cell)
        for wi, fresh in new.items():
            w = self.windows[wi]
            if w.cells is not None and len(w.cells) + len(fresh) > MAX_CELLS:
                self._split(w)
        # 2. one update per feature and cell
        profiles: list[CohortProfile | None] = []
        for wi, routed in zip(wins, cells, strict=True):
            w = self.windows[wi]
            if routed is None or w.cells is None:
                profiles.append(None)
            else:
                p = w.cells.get(routed)
                if p is None:
                    p = w.cells[routed] = CohortProfile(self.schema)
                profiles.append(p)
        feed(d, inverse, profiles)
        skipped = np.array([p is None for p in profiles], dtype=bool)[inverse]
        other = np.flatnonzero(skipped)
        return other if other.shape[0] else None

    def _split(self, w: Window) -> None:
        """Turn a window's cells into its per-segment profiles (cell mode ends). In the last
        segment a cell no longer needed becomes the profile the others merge into (the same
        state as merging it into an empty profile, one creation and one merge cheaper)."""
        cells, w.cells = w.cells or {}, None
        last = len(self.segments) - 1
        for s, seg in enumerate(self.segments):
            for cell, p in cells.items():
                key = (seg, cell[s])
                if s == last and key not in w.profiles:
                    w.profiles[key] = p
                else:
                    self._profile(w, key).merge(p)

    def _route(self, w: Window, segment: str, value: str) -> str:
        """The cohort of ``value`` in this window: itself, or ``__other__`` past the caps."""
        if (segment, value) in w.own:
            return value
        reg = self.cohorts[segment] if self.cohorts is not None else None
        if reg is None or value not in reg.admitted:
            held = w.tracked.get(segment, 0)
            if (reg is not None and reg.full) or held >= self.local_cap:
                return OTHER  # stays so: `tracked` never shrinks within a window
            w.tracked[segment] = held + 1
        w.own.add((segment, value))
        return value

    def _profile(self, w: Window, key: CohortKey) -> CohortProfile:
        p = w.profiles.get(key)
        if p is None:
            p = w.profiles[key] = CohortProfile(self.schema)
        return p

    def _window(self, index: int) -> Window:
        w = self.windows.get(index)
        if w is None:
            w = self.windows[index] = Window(
                len(self.segments) > 1 and self._last_events >= CELL_MIN_EVENTS)
        return w

    # -- closing ----------------------------------------------------------------------------
    @property
    def watermark(self) -> float:
        return self.clock.watermark

    def ready(self, now: float | None = None) -> list[PartialWindow]:
        """Pop the windows the watermark has passed (after idle advance when ``now`` given)."""
        if now is not None:
            self.clock.advance_idle(now)
        size = self.clock.size
        done = sorted(i for i in self.windows if self.clock.closed_before((i + 1) * size))
        return [self._emit(i) for i in done]

    def flush(self) -> list[PartialWindow]:
        """End of input: close every open window."""
        if self.windows:
            self.clock.force((max(self.windows) + 1) * self.clock.size)
        return self.ready()

    def _emit(self, index: int) -> PartialWindow:
        w = self.windows.pop(index)
        if w.cells is not None:
            self._split(w)
        if self.segments and GLOBAL not in w.profiles:
            # every event is in exactly one profile of the first segment (its value, or
            # __other__/__missing__): their merge IS the global profile, one update cheaper
            glob = CohortProfile(self.schema)
            first = self.segments[0]
            for key, p in w.profiles.items():
                if key[0] == first:
                    glob.merge(p)
            w.profiles = {GLOBAL: glob, **w.profiles}
        whole = w.profiles.get(GLOBAL)
        self._last_events = whole.events if whole is not None else 0
        size = self.clock.size
        return PartialWindow(self.topic, self.partition, index * size, (index + 1) * size,
                             w.profiles, self.clock.watermark)

    def open_windows(self) -> list[float]:
        return [i * self.clock.size for i in sorted(self.windows)]

    # -- state ------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Versioned bytes of the whole state (open windows, watermark, counters, offset)."""
        wins, blobs = encode_windows(self.windows)
        meta = {
            "topic": self.topic, "partition": self.partition, "next_offset": self.next_offset,
            "schema": self.schema.fingerprint, "clock": self.clock.state(),
            "window_size": self.clock.size, "records": self.records, "events": self.events,
            "late": self.late, "invalid": self.invalid, "last_seen": self.last_seen,
            "windows": wins,
        }
        return pack(_MAGIC, _VERSION, meta, blobs)

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot of the same topic/partition and schema."""
        _, meta, blobs = unpack(data, _MAGIC, {1, _VERSION})
        if (meta["topic"], meta["partition"]) != (self.topic, self.partition):
            raise StateFormatError(
                f"snapshot of {meta['topic']}[{meta['partition']}] cannot restore "
                f"{self.topic}[{self.partition}]")
        if meta["schema"] != self.schema.fingerprint:
            raise StateFormatError("snapshot was taken with a different feature schema/baseline")
        if float(meta["window_size"]) != self.clock.size:
            raise StateFormatError("snapshot was taken with a different window size")
        self.windows = decode_windows(meta["windows"], blobs, self.schema)
        self.next_offset = meta["next_offset"]
        self.clock.load(meta["clock"])
        self.records, self.events, self.late = meta["records"], meta["events"], meta["late"]
        self.invalid = {**dict.fromkeys(DEAD_LETTER_REASONS, 0),
                        **{str(k): int(v) for k, v in meta["invalid"].items()}}
        self.last_seen = {str(k): float(v) for k, v in meta["last_seen"].items()
                          if v is not None}
        repair_aggregator(self)
        self._seen_cohorts = dict.fromkeys(self.segments, 0)
        for key in self.last_seen:
            seg = key[len("cohort:"):].split("=", 1)[0] if key.startswith("cohort:") else None
            if seg in self._seen_cohorts:
                self._seen_cohorts[seg] += 1

