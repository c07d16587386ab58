"""Push generated dashboards to a Grafana server through its HTTP API (grafana-client).

The folder is created when missing (found by uid, else by title), and every dashboard is saved
into it with ``overwrite: true`` so re-running a push updates in place. The token is sent as a
Bearer header and never appears in logs or error messages. 429 and 5xx answers are retried a
few times (honouring ``Retry-After``); any other error stops the push with Grafana's message.

>>> folder_uid("driftline monitors")
'driftline-monitors'
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaServerError

from driftline.alerts.notifiers.base import parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")


class PushError(RuntimeError):
    """Grafana refused the push (message from Grafana; never contains the token)."""


@dataclass(frozen=True)
class PushResult:
    uid: str
    title: str
    url: str
    version: int
    folder_uid: str


def folder_uid(title: str) -> str:
    """A Grafana folder uid derived from its title."""
    return re.sub(r"[^a-z0-9_-]+", "-", title.lower()).strip("-")[:40] or "driftline"


class GrafanaPusher:
    """Saves dashboards into a folder of one Grafana server.

    >>> pusher = GrafanaPusher("http://127.0.0.1:3000", token="glsa_example")
    >>> pusher.folder_title
    'driftline'
    """

    def __init__(
        self,
        url: str,
        token: str,
        folder: str = "driftline",
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        if not token:
            raise ValueError("a Grafana service-account token is required")
        self.url = url.rstrip("/")
        self.folder_title = folder
        self.attempts = attempts
        self.backoff = backoff
        self._auth = _BearerToken(token)
        self.api = GrafanaApi.from_url(self.url, credential=self._auth, timeout=timeout)

    def __repr__(self) -> str:  # never show the token
        return f"GrafanaPusher(url={self.url!r}, folder={self.folder_title!r})"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except (GrafanaServerError, GrafanaClientError) as exc:
                retryable = isinstance(exc, GrafanaServerError) or exc.status_code == 429
                if not retryable or attempt == self.attempts:
                    raise PushError(f"{what}: Grafana answered {exc.status_code}: "
                                    f"{_message(exc)}") from None
                hinted = parse_retry_after(self._auth.retry_after)
                wait = min(hinted, 30.0) if hinted is not None else delay
                log.warning("%s: Grafana answered %s, retrying in %.1fs", what,
                            exc.status_code, wait)
                time.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")

    def health(self) -> dict[str, Any]:
        """``GET /api/health`` (database status and version)."""
        return dict(self._call("health", lambda: self.api.client.GET("/health")))

    def ensure_folder(self) -> str:
        """The uid of the target folder, created if needed."""
        uid = folder_uid(self.folder_title)
        try:
            self._call("get folder", lambda: self.api.folder.get_folder(uid))
            return uid
        except PushError as exc:
            if " 404:" not in str(exc):
                raise
        try:
            created = self._call(
                "create folder", lambda: self.api.folder.create_folder(self.folder_title, uid=uid)
            )
            log.info("created Grafana folder %r (uid %s)", self.folder_title, created["uid"])
            return str(created["uid"])
        except PushError as exc:
            if " 409:" not in str(exc) and " 412:" not in str(exc):
                raise
        for folder in self._call("list folders", self.api.folder.get_all_folders):
            if folder.get("title") == self.folder_title:
                return str(folder["uid"])
        raise PushError(f"folder {self.folder_title!r} exists but could not be found by title")

    def push(self, dashboards: Iterable[Mapping[str, Any]], message: str = "") -> list[PushResult]:
        """Save every dashboard into the folder (overwrite), in order."""
        uid = self.ensure_folder()
        results = []
        for dashboard in dashboards:
            body: dict[str, Any] = {
                "dashboard": {**dashboard, "id": None},
                "folderUid": uid,
                "overwrite": True,
                "message": message or "driftline grafana push",
            }
            title = str(dashboard.get("title"))
            answer: dict[str, Any] = self._call(
                f"save dashboard {title!r}", partial(self.api.dashboard.update_dashboard, body)
            )
            results.append(PushResult(
                uid=str(answer.get("uid", dashboard.get("uid"))),
                title=title,
                url=self.url + str(answer.get("url", "")),
                version=int(answer.get("version", 0)),
                folder_uid=uid,
            ))
            log.info("saved dashboard %r as version %s", title, answer.get("version"))
        return results


def _message(exc: GrafanaException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "message" in response:
        return str(response["message"])
    return str(getattr(exc, "message", "")) or type(exc).__name__


def push_dashboards(
    dashboards: Iterable[Mapping[str, Any]],
    url: str,
    token: str,
    folder: str = "driftline",
    message: str = "",
) -> list[PushResult]:
    """Push ``dashboards`` into ``folder`` on the Grafana at ``url``."""
    return GrafanaPusher(url, token, folder).push(dashboards, message)



class _BearerToken(niquests.auth.AuthBase):
    """The service-account token as the client's credential, which also reads each response's
    Retry-After (the client's errors carry only the body)."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.retry_after: str | None = None

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token}"
        request.register_hook("response", self._remember)
        return request

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.retry_after = response.headers.get("Retry-After")
        return response

    def __repr__(self) -> str:  # never show the token
        return "_BearerToken(***)"
