"""Shared pieces of the config models: the strict base model, durations, tier labels."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from driftline.stream.config.alerts import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds; accepts numbers or strings like ``30s``, ``5m``, ``6h``, ``1d``."""


class StrictModel(BaseModel):
    """Unknown fields are errors; values are frozen; field docstrings are the docs."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def format_duration(seconds: float) -> str:
    """The label of a window tier: 300 -> '5m', 3600 -> '1h', 90 -> '90s'."""
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0 and s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


class ConfigError(ValueError):
    """A driftline.yaml that cannot run, with one line per problem: field, value, what is valid."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")
