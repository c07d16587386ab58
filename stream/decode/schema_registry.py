"""A small client for a Confluent-compatible schema registry: schemas by id, cached.

Only one call of the Confluent REST API is used, ``GET {url}/schemas/ids/{id}``, which every
compatible registry serves (Confluent Schema Registry, Apicurio Registry's ``/apis/ccompat/v7``,
Karapace, Redpanda). A schema id names one immutable schema, so a found schema is cached for
the life of the process. Outcomes of a lookup:

* found: the schema text and its type (``AVRO`` when the registry omits ``schemaType``);
* the registry answers 404: the id is unknown (:class:`UnknownSchemaId`); remembered for
  ``negative_ttl`` seconds so a stream of such records does not hammer the registry;
* no answer, a 5xx, a 401/403 or a timeout after ``retries`` attempts: the registry is
  unavailable (:class:`RegistryUnavailable`); for ``cooldown`` seconds after that, lookups of
  ids not in the cache fail at once (a dead registry does not cost every batch its retries),
  then the registry is asked again.

Credentials come from environment variables (their names are configured) and are sent as HTTP
basic auth; no message of this module contains them or the URL's user-info.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from driftline.stream.config.formats import SchemaRegistryConfig


class RegistryError(Exception):
    """A schema could not be had for an id (see the subclasses)."""


class UnknownSchemaId(RegistryError):
    """The registry does not know the id (HTTP 404)."""


class RegistryUnavailable(RegistryError):
    """The registry could not be asked (connection, timeout, 5xx, 401/403)."""


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """One schema of the registry: its id, type (AVRO, PROTOBUF, JSON) and text."""

    id: int
    type: str
    text: str


def redact_url(url: str) -> str:
    """``url`` without user-info (``https://user:pw@host`` -> ``https://host``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class SchemaRegistryClient:
    """Schemas by id from ``url`` (the registry's base URL, e.g.
    ``http://registry:8081`` or ``http://apicurio:8080/apis/ccompat/v7``)."""

    def __init__(
        self,
        *,
        url: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        negative_ttl: float = 60.0,
        cooldown: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.safe_url = redact_url(self.url)
        self.retries = max(1, retries)
        self.negative_ttl = negative_ttl
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(timeout=timeout, auth=auth, transport=transport,
                                  headers={"Accept": "application/vnd.schemaregistry.v1+json, "
                                                     "application/json"})
        self._found: dict[int, RegisteredSchema] = {}
        self._unknown: dict[int, float] = {}
        self.cooldown = cooldown
        self._down_until = 0.0
        self._down_reason = ""
        self.lookups = 0  # HTTP requests made (a cache hit makes none)

    @classmethod
    def from_config(cls, cfg: SchemaRegistryConfig, environ: Mapping[str, str]
                    ) -> SchemaRegistryClient:
        """A client for a ``source.schema_registry`` section (secrets read from ``environ``)."""
        from driftline.stream.config.types import ConfigError

        secrets: dict[str, str | None] = {}
        for key in ("username_env", "password_env"):
            name = getattr(cfg, key, None)
            secrets[key] = environ.get(name) if name else None
            if name and not secrets[key]:
                raise ConfigError("(environment)", [
                    f"source.schema_registry.{key}: environment variable {name} is not set"])
        return cls(url=str(cfg.url), username=secrets["username_env"],
                   password=secrets["password_env"],
                   timeout=float(getattr(cfg, "timeout", 5.0)),
                   retries=int(getattr(cfg, "retries", 3)))

    def get(self, schema_id: int) -> RegisteredSchema:
        """The schema with ``schema_id`` (cached), or :class:`RegistryError`."""
        hit = self._found.get(schema_id)
        if hit is not None:
            return hit
        if time.monotonic() < self._down_until:  # failed just now: fail fast, ask again later
            raise RegistryUnavailable(f"schema registry unavailable: {self._down_reason}")
        since = self._unknown.get(schema_id)
        if since is not None and time.monotonic() - since < self.negative_ttl:
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
        try:
            found = self._fetch(schema_id)
        except RegistryUnavailable as exc:
            self._down_until = time.monotonic() + self.cooldown
            self._down_reason = str(exc).removeprefix("schema registry unavailable: ")
            raise
        self._found[schema_id] = found
        self._unknown.pop(schema_id, None)
        return found

    def _fetch(self, schema_id: int) -> RegisteredSchema:
        last = ""
        for attempt in range(self.retries):
            if attempt:
                time.sleep(min(2.0, 0.2 * 2 ** (attempt - 1)))
            self.lookups += 1
            try:
                resp = self._http.get(f"{self.url}/schemas/ids/{schema_id}")
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__} from {self.safe_url}"
                continue
            if resp.status_code == 404:
                self._unknown[schema_id] = time.monotonic()
                raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
            if resp.status_code in (401, 403):
                raise RegistryUnavailable(
                    f"registry {self.safe_url} refused the credentials (HTTP {resp.status_code})")
            if resp.status_code != 200:
                last = f"HTTP {resp.status_code} from {self.safe_url}"
                continue
            try:
                body = resp.json()
                text = body["schema"]
            except (ValueError, KeyError, TypeError):
                last = f"unexpected answer from {self.safe_url} (no 'schema')"
                continue
            return RegisteredSchema(schema_id, str(body.get("schemaType") or "AVRO"), str(text))
        raise RegistryUnavailable(f"schema registry unavailable: {last}")

    def close(self) -> None:
        self._http.close()
