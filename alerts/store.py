"""Durable state: alert statuses, control-chart history and the notification outbox (SQLite,
WAL, in ``state_dir``). A window's state changes and the notifications they cause are committed
in one transaction, so after a crash either both exist or neither does. Writers of one process
take one lock (no SQLite busy-waiting), and WAL checkpoints run on the delivery threads when they
are idle, never inside the evaluating thread's commit.

>>> store = Store(None)  # in memory (backtest)
>>> store.commit({"k": None}, {}, [OutboxRow("slack", "digest", "w1", {"text": "hi"})])
>>> [(r.channel, r.payload["text"]) for r in store.pending_rows("slack", limit=5)]
[('slack', 'hi')]
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.alerts.control_chart import ChartState
from driftline.alerts.lifecycle import AlertStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (key TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chart_history (
    key TEXT PRIMARY KEY, n INTEGER NOT NULL, mean REAL NOT NULL, var REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
    created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending', last_error TEXT, done_at REAL);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (channel, status, id);
CREATE TABLE IF NOT EXISTS windows_seen (tier TEXT PRIMARY KEY, ends TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS am_active (
    channel TEXT NOT NULL, key TEXT NOT NULL, alerts TEXT NOT NULL, PRIMARY KEY (channel, key));
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One notification to deliver to one channel (no secrets: URLs and keys are added at send
    time from the environment)."""

    channel: str
    kind: str
    key: str
    payload: dict[str, Any]
    id: int = 0
    created: float = 0.0
    attempts: int = 0


class Store:
    """SQLite-backed state of one monitor; ``path=None`` keeps everything in memory."""

    def __init__(self, directory: Path | None) -> None:
        self.path = None if directory is None else Path(directory) / "alerts.sqlite"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._memory: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        with self._lock:
            conn = self.conn()
            conn.executescript(_SCHEMA)
            conn.commit()

    def conn(self) -> sqlite3.Connection:
        """A connection for the calling thread (SQLite connections are not shared)."""
        if self.path is None:
            if self._memory is None:
                self._memory = sqlite3.connect(":memory:", check_same_thread=False)
            return self._memory
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoint()
            self._local.conn = conn
        return conn

    # -- evaluation side -------------------------------------------------------------------
    def load_states(self) -> dict[str, AlertStatus]:
        rows = self.conn().execute("SELECT key, status FROM alert_state").fetchall()
        return {k: AlertStatus.from_json(s) for k, s in rows}

    def load_history(self) -> dict[str, ChartState]:
        rows = self.conn().execute("SELECT key, n, mean, var FROM chart_history").fetchall()
        return {k: ChartState(n, mean, var) for k, n, mean, var in rows}

    def load_windows(self) -> dict[str, list[float]]:
        rows = self.conn().execute("SELECT tier, ends FROM windows_seen").fetchall()
        return {tier: json.loads(ends) for tier, ends in rows}

    def commit(
        self,
        states: Mapping[str, AlertStatus | None],
        history: Mapping[str, ChartState],
        rows: Iterable[OutboxRow],
        windows: Mapping[str, list[float]] | None = None,
    ) -> None:
        """Persist state changes (None deletes), the windows evaluated and the notifications
        to send, atomically."""
        now = time.time()
        with self._lock:
            conn = self.conn()
            with conn:
                conn.executemany(
                    "DELETE FROM alert_state WHERE key = ?",
                    [(k,) for k, s in states.items() if s is None],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO alert_state (key, status) VALUES (?, ?)",
                    [(k, s.to_json()) for k, s in states.items() if s is not None],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO chart_history (key, n, mean, var) VALUES (?,?,?,?)",
                    [(k, h.n, h.mean, h.var) for k, h in history.items()],
                )
                conn.executemany(
                    "INSERT INTO outbox (channel, kind, key, payload, created) VALUES (?,?,?,?,?)",
                    [(r.channel, r.kind, r.key, json.dumps(r.payload), now) for r in rows],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO windows_seen (tier, ends) VALUES (?, ?)",
                    [(tier, json.dumps(ends)) for tier, ends in (windows or {}).items()],
                )

    # -- delivery side -----------------------------------------------------------------------
    def pending_rows(self, channel: str, limit: int = 1) -> list[OutboxRow]:
        cur = self.conn().execute(
            "SELECT id, channel, kind, key, payload, created, attempts FROM outbox "
            "WHERE channel = ? AND status = 'pending' ORDER BY id LIMIT ?",
            (channel, limit),
        )
        return [
            OutboxRow(ch, kind, key, json.loads(p), id=i, created=c, attempts=a)
            for i, ch, kind, key, p, c, a in cur.fetchall()
        ]

    def mark(self, row_id: int, status: str, error: str | None = None) -> None:
        """Record the outcome of an attempt: ``sent``, ``failed`` (given up) or ``pending``
        (will be retried)."""
        conn = self.conn()
        with self._lock, conn:
            conn.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, "
                "done_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END WHERE id = ?",
                (status, error, status, time.time(), row_id),
            )

    def drop_channels_except(self, channels: Iterable[str]) -> int:
        """Mark pending rows of channels no longer configured as ``dropped``; how many."""
        keep = list(channels)
        marks = ",".join("?" * len(keep)) or "''"
        conn = self.conn()
        with self._lock, conn:
            cur = conn.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'channel no longer configured' "
                f"WHERE status = 'pending' AND channel NOT IN ({marks})",
                keep,
            )
        return int(cur.rowcount)

    def pending_count(self) -> int:
        cur = self.conn().execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        return int(cur.fetchone()[0])

    def outbox_report(self) -> list[dict[str, Any]]:
        """Every notification with its status and last (redacted) error: for audits and tests."""
        cur = self.conn().execute(
            "SELECT id, channel, kind, key, status, attempts, last_error FROM outbox ORDER BY id"
        )
        names = ("id", "channel", "kind", "key", "status", "attempts", "last_error")
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def am_set(self, channel: str, key: str, alerts: list[dict[str, Any]] | None) -> None:
        conn = self.conn()
        with self._lock, conn:
            if alerts is None:
                conn.execute("DELETE FROM am_active WHERE channel = ? AND key = ?", (channel, key))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO am_active (channel, key, alerts) VALUES (?, ?, ?)",
                    (channel, key, json.dumps(alerts)),
                )

    def am_get(self, channel: str, key: str) -> list[dict[str, Any]]:
        cur = self.conn().execute(
            "SELECT alerts FROM am_active WHERE channel = ? AND key = ?", (channel, key)
        )
        row = cur.fetchone()
        return [] if row is None else list(json.loads(row[0]))

    def am_active(self, channel: str) -> list[dict[str, Any]]:
        cur = self.conn().execute("SELECT alerts FROM am_active WHERE channel = ?", (channel,))
        return [a for (text,) in cur.fetchall() for a in json.loads(text)]

    def checkpoint(self) -> None:
        """Copy the WAL back into the database (PASSIVE: never blocks writers). Automatic
        checkpoints are off so that the fsync never lands inside a commit of the evaluating
        thread; the delivery threads call this when idle."""
        if self.path is not None:
            self.conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Close the calling thread's connection (the evaluating thread checkpoints the WAL)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self.checkpoint()
            conn.close()
            self._local.conn = None
        if self._memory is not None:
            self._memory.close()
            self._memory = None
