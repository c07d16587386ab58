"""Where the baseline lives, and checking a new one there before a running worker uses it.

A :class:`BaselineLocation` is the configured file (``baseline``) or object URL
(``baseline_reload.url``). :meth:`BaselineLocation.fetch` reads it only when it changed: a file
when its size or modification time did, a URL when the server does not answer a conditional GET
(``If-None-Match`` with the last ETag) with 304. :class:`BaselineWatcher` turns that into a new
baseline, or ``None`` when nothing changed (also when the content is the running version), or a
:class:`BaselineRejected` with its reason:

* ``unreachable`` -- the file cannot be read or the URL fetched (retried at the next check);
* ``unreadable`` -- not a driftline baseline (truncated, corrupt, another format);
* ``incompatible`` -- other features or types than the config's, or other segments than the
  running baseline's (:func:`sketches.baseline_diff.incompatibilities`).

A rejected baseline is not retried until the location changes again; the running one stays.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "baseline.dlb"
>>> _ = p.write_bytes(b"not a baseline")
>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}]})
>>> w = BaselineWatcher(config=cfg, location=BaselineLocation(path=p), current=None)
>>> try:
...     w.poll()
... except BaselineRejected as exc:
...     print(exc.reason)
unreadable
>>> w.poll() is None  # the same file is not checked twice
True
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from driftline.sketches.baseline import Baseline, content_version
from driftline.sketches.baseline_diff import incompatibilities
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.engine.core import schema_for
from driftline.stream.sources.baselines import BaselineError, parse_baseline

REJECTION_REASONS = ("unreachable", "unreadable", "incompatible")


class BaselineRejected(ValueError):
    """A new baseline that is not used; ``reason`` is one of :data:`REJECTION_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BaselineLocation:
    """A baseline file or an http(s) URL (``auth``: the ``Authorization`` header value)."""

    path: Path | None = None
    url: str | None = None
    auth: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_config(cls, cfg: DriftlineConfig, environ: Mapping[str, str] | None = None
                    ) -> BaselineLocation | None:
        r = cfg.baseline_reload
        if r.url is not None:
            env = os.environ if environ is None else environ
            auth = env.get(r.auth_header_env) if r.auth_header_env else None
            return cls(url=r.url, auth=auth, timeout=r.timeout)
        return cls(path=cfg.baseline) if cfg.baseline is not None else None

    def __str__(self) -> str:
        return self.url if self.url is not None else str(self.path)

    def fetch(self, tag: str | None = None) -> tuple[bytes, str] | None:
        """``(content, tag)``, or None when unchanged since ``tag``; OSError when it cannot
        be read or fetched."""
        if self.path is not None:
            st = os.stat(self.path)
            now = f"{st.st_mtime_ns}-{st.st_size}"
            return None if now == tag else (self.path.read_bytes(), now)
        assert self.url is not None
        headers = {"Accept": "application/octet-stream"}
        if tag is not None:
            headers["If-None-Match"] = tag
        if self.auth:
            headers["Authorization"] = self.auth
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                data = resp.read()
                return data, resp.headers.get("ETag") or content_version(data)
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None
            raise OSError(f"HTTP {exc.code} {exc.reason}") from None

    def load(self) -> tuple[Baseline, str]:
        """Read and parse the baseline now (at start), with its tag (for the watcher's
        ``tag``, so its first check is a conditional one)."""
        try:
            got = self.fetch()
        except OSError as exc:
            raise BaselineError(f"cannot fetch baseline {self}: {exc}") from None
        assert got is not None
        return parse_baseline(got[0], str(self)), got[1]


def replacement_problems(cfg: DriftlineConfig, current: Baseline | None, new: Baseline
                         ) -> list[str]:
    """Why ``new`` cannot replace ``current`` under ``cfg`` (empty: it can)."""
    try:
        schema_for(cfg, new)
    except ValueError as exc:
        return [str(exc)]
    return [] if current is None else incompatibilities(current, new)


class BaselineWatcher:
    """Checks the location for a new, usable baseline; see the module doc. ``tag``: the one
    :meth:`BaselineLocation.load` gave with ``current`` (None: the first check reads it)."""

    def __init__(self, *, config: DriftlineConfig, location: BaselineLocation,
                 current: Baseline | None, tag: str | None = None) -> None:
        self.config = config
        self.location = location
        self.current = current
        self._tag = tag

    def poll(self) -> Baseline | None:
        """The new baseline to use, or None; raises :class:`BaselineRejected`."""
        try:
            got = self.location.fetch(self._tag)
        except OSError as exc:
            raise BaselineRejected("unreachable", f"cannot read {self.location}: {exc}") from None
        if got is None:
            return None
        data, self._tag = got
        if self.current is not None and content_version(data) == self.current.version:
            return None
        try:
            new = parse_baseline(data, str(self.location))
        except BaselineError as exc:
            raise BaselineRejected("unreadable", str(exc)) from None
        problems = replacement_problems(self.config, self.current, new)
        if problems:
            raise BaselineRejected("incompatible", f"{self.location} (version {new.version}) "
                                                   f"cannot replace the running baseline: "
                                                   + "; ".join(problems))
        self.current = new
        return new
