"""Building blocks of the alert config models: durations, the strict base model, and
:class:`ConfigProblems` (several problems of one block, each with its field path).

>>> parse_duration("1h30m")
5400.0
>>> str(ConfigProblems([("critical", "0.1 is below warning 0.2")]))
'critical: 0.1 is below warning 0.2'
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

Severity = Literal["warning", "critical"]

MAX_DURATION = 3650 * 86400.0
"""The longest duration any setting accepts (ten years): longer ones are typos."""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def _bounded(seconds: float, value: Any) -> float:
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError("longer than 3650d (ten years): not a plausible duration; use e.g. 5m, 1d")
    return seconds


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``5m``, ``6h``, ``1d``, ``1h30m``, ``250ms``, a number or a timedelta.
    Negative, non-finite and absurdly long (over ten years) durations are rejected.

    >>> parse_duration("6h"), parse_duration(90), parse_duration("250ms")
    (21600.0, 90.0, 0.25)
    """
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value)
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return _bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 6h, 1d)")
    text = value.strip().lower().replace(" ", "")
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return parse_duration(number)
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 6h, 1d)")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 6h, 1d, 1h30m)")
    return _bounded(total, value)


Duration = Annotated[float, BeforeValidator(parse_duration)]


class StrictModel(BaseModel):
    """The base of every config model: unknown fields are errors, values are frozen, field
    docstrings are the descriptions (the README reference is generated from them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              use_attribute_docstrings=True)


class ConfigProblems(ValueError):
    """Several problems found by one model validator, each as (field path relative to the
    model, message). The config loader prints one line per problem with the full path."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


def raise_problems(problems: list[tuple[str, str]]) -> None:
    """Raise :class:`ConfigProblems` when there is any."""
    if problems:
        raise ConfigProblems(problems)


def did_you_mean(name: str, choices: list[str] | tuple[str, ...], show_choices: bool = True
                 ) -> str:
    """`` (did you mean 'psi'?)`` for a close match, else the valid choices.

    >>> did_you_mean("psii", ["psi", "ks"]), did_you_mean("zzz", ["psi", "ks"])
    (" (did you mean 'psi'?)", ' (valid: psi, ks)')
    """
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if not choices or not show_choices:
        return ""
    shown = ", ".join(list(choices)[:10])
    return f" (valid: {shown}{', ...' if len(choices) > 10 else ''})"


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
