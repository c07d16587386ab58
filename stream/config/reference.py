"""The configuration reference, generated from the pydantic model itself.

The README's reference table is this module's output (a test keeps them equal), so it can never
disagree with what ``driftline check-config`` accepts. Regenerate it with
``python -m driftline.stream.config.reference --update README.md``.

>>> "| `monitor` |" in render_reference()
True
"""

from __future__ import annotations

import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import PydanticUndefined

from driftline.stream.config.model import DriftlineConfig, format_duration

BEGIN = ("<!-- config-reference:begin (generated: "
         "python -m driftline.stream.config.reference --update README.md) -->")
END = "<!-- config-reference:end -->"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds directly, in lists or in dict values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    return out


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        inner = ", ".join(_type_name(a) for a in args)
        return f"list[{inner}]" if origin is list else f"{origin.__name__}[{inner}]"
    if origin is dict:
        k, v = typing.get_args(annotation)
        return f"map[{_type_name(k)}, {_type_name(v)}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "object"
        if issubclass(annotation, Enum):
            return " \\| ".join(repr(m.value) for m in annotation)
        return {"str": "string", "float": "number", "int": "integer", "bool": "boolean",
                "PosixPath": "path", "Path": "path"}.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _is_duration(field: Any) -> bool:
    return any(getattr(getattr(m, "func", None), "__name__", "") == "parse_duration"
               for m in field.metadata) or "parse_duration" in str(field.annotation)


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined:
        value = field.default_factory() if field.default_factory else None
    if _is_duration(field) and isinstance(value, int | float):
        return f"`{format_duration(value)}`"
    if isinstance(value, BaseModel):
        return "(see below)"
    if value in ([], {}, None):
        return "" if value is None else f"`{value}`"
    return f"`{value}`"


def _describe(model: type[BaseModel], name: str, field: Any) -> str:
    text = field.description or ""
    return " ".join(text.split()).replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str, seen: set[type[BaseModel]]) -> list[str]:
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        models = _models_in(field.annotation)
        shown_type = _type_name(field.annotation)
        if _is_duration(field):
            shown_type = shown_type.replace("number", "duration")
        rows.append(f"| `{path}` | {shown_type} | {_default(field)} | "
                    f"{_describe(model, name, field)} |")
        for m in models:
            origin = typing.get_origin(field.annotation)
            suffix = "[]." if origin is list else "{}." if origin is dict else "."
            if any(typing.get_origin(a) is list for a in typing.get_args(field.annotation)):
                suffix = "[]."
            if any(typing.get_origin(a) is dict for a in typing.get_args(field.annotation)):
                suffix = "{}."
            nested.append((f"{path}{suffix}", m))
    for sub_prefix, m in nested:
        if (m, sub_prefix) in seen:  # type: ignore[comparison-overlap]
            continue
        rows.extend(_rows(m, sub_prefix, seen))
    return rows


def render_reference() -> str:
    """Every field of driftline.yaml: path, type, default, meaning."""
    header = ["| field | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(header + _rows(DriftlineConfig, "", set())) + "\n"


def update_readme(path: Path) -> bool:
    """Replace the generated block between the markers; True if the file changed."""
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + render_reference() + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


def readme_block(path: Path) -> str:
    text = path.read_text()
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip("\n") + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        print("updated" if update_readme(Path(sys.argv[2])) else "unchanged")
    else:
        print(render_reference(), end="")
