"""Record formats beyond JSON: the ``source.schema_registry`` and ``source.protobuf`` sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from driftline.stream.config.types import Duration, StrictModel


class SchemaRegistryConfig(StrictModel):
    """A Confluent-compatible schema registry; records carry the Confluent wire format
    (magic byte 0, 4-byte big-endian schema id, then the Avro or Protobuf body). The password is
    never in the file: ``password_env`` names the environment variable that holds it."""

    url: str
    """Base URL of the registry's Confluent API, e.g. `http://registry:8081` or, for Apicurio
    Registry, `http://apicurio:8080/apis/ccompat/v7`.
    """
    username_env: str | None = None
    """NAME of the environment variable holding the basic-auth user (unset: no auth)."""
    password_env: str | None = None
    """NAME of the environment variable holding the basic-auth password."""
    timeout: Duration = 5.0
    """Timeout of one schema lookup."""
    retries: int = Field(3, ge=1, le=10)
    """Attempts per new schema id before its records go to the DLQ as
    `schema_registry_unavailable`.
    """

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"schema_registry.url must start with http:// or https://, got {v!r}")
        if "@" in v.split("/")[2]:
            raise ValueError("schema_registry.url must not contain credentials; use username_env "
                             "and password_env (names of environment variables)")
        return v


class ProtobufConfig(StrictModel):
    """How Protobuf records are decoded: a compiled descriptor set and the message type."""

    descriptor_file: Path
    """FileDescriptorSet of the message and its imports (`protoc --include_imports
    --descriptor_set_out=FILE`).
    """
    message: str
    """Full name of the record's message type, e.g. `shop.v1.Payment`."""
