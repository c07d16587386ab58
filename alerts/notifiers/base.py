"""The outcome of one delivery attempt, and how HTTP answers map to it.

>>> import httpx
>>> classify(httpx.Response(429, headers={"Retry-After": "7"}))
Result(outcome='retry', retry_after=7.0, detail='HTTP 429', rate_limited=True)
>>> classify(httpx.Response(400, text="invalid_payload")).outcome
'fatal'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol

import httpx

from driftline.alerts.store import OutboxRow

Outcome = Literal["sent", "retry", "fatal"]


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    retry_after: float | None = None
    detail: str = ""
    rate_limited: bool = False


class Notifier(Protocol):
    """Delivers outbox rows of one channel. ``send`` never raises for service or network
    errors: it returns a :class:`Result` (whose ``detail`` never contains a secret)."""

    def send(self, row: OutboxRow) -> Result: ...

    def close(self) -> None: ...


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a response's Retry-After header (see :func:`parse_retry_after`)."""
    return parse_retry_after(response.headers.get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header value: integer seconds or an HTTP date.

    >>> parse_retry_after("7"), parse_retry_after(None), parse_retry_after("soon")
    (7.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify(response: httpx.Response, ok: tuple[int, ...] = (200, 202, 204)) -> Result:
    """2xx in ``ok``: sent; 429 and 5xx: retry (honouring Retry-After); other: fatal."""
    code = response.status_code
    if code in ok:
        return Result("sent", detail=f"HTTP {code}")
    body = response.text[:200].replace("\n", " ")
    if code == 429:
        return Result("retry", retry_after(response), f"HTTP {code}", rate_limited=True)
    if code >= 500 or code == 408:
        return Result("retry", retry_after(response), f"HTTP {code} {body}".strip())
    return Result("fatal", None, f"HTTP {code} {body}".strip())


_NEVER_WORKS = (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def network_error(exc: Exception) -> Result:
    """A transport failure: retry (a malformed URL: fatal). Only the exception's type is kept:
    its text may hold the URL, which for a webhook is the secret."""
    if isinstance(exc, _NEVER_WORKS):
        return Result("fatal", None, f"unusable URL: {type(exc).__name__}")
    return Result("retry", None, f"network error: {type(exc).__name__}")


def http_client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, follow_redirects=False)


def post_json(client: httpx.Client, url: str, body: object, ok: tuple[int, ...]) -> Result:
    try:
        response = client.post(url, json=body)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return network_error(exc)
    return classify(response, ok)
