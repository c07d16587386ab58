"""Reading driftline.yaml text: UTF-8 only, and a key written twice in one mapping is an error
(plain YAML loaders keep the last one silently, which hides typos and merge accidents).

>>> read_yaml_text("monitor: a\\nwindows: {size: 5m}\\n", "cfg.yaml")
{'monitor': 'a', 'windows': {'size': '5m'}}
>>> try:
...     read_yaml_text("drift:\\n  metric: psi\\n  metric: ks\\n", "cfg.yaml")
... except ConfigError as exc:
...     print(*exc.problems)
drift.metric: key written twice (lines 2 and 3); keep one (YAML would silently use the last)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from driftline.stream.config.types import ConfigError


class _Loader(yaml.SafeLoader):
    """A safe loader that records duplicate keys (with their dotted path and lines)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []
        self._paths: dict[int, str] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        prefix = self._paths.get(id(node), "")
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)  # type: ignore[no-untyped-call]
            path = f"{prefix}{key}"
            line = key_node.start_mark.line + 1
            self._paths[id(value_node)] = f"{path}."
            if isinstance(value_node, yaml.SequenceNode):
                for i, item in enumerate(value_node.value):
                    self._paths[id(item)] = f"{path}.{i}."
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: pydantic reports it
                continue
            if first is not None:
                self.duplicates.append((line,
                    f"{path}: key written twice (lines {first} and {line}); keep one "
                    "(YAML would silently use the last)"))
            else:
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml_text(text: str, source: str) -> Any:
    """The YAML document in ``text``; :class:`ConfigError` for bad YAML or duplicate keys."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()  # type: ignore[no-untyped-call]
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {' '.join(str(exc).split())}"]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    if loader.duplicates:
        raise ConfigError(source, [msg for _, msg in sorted(loader.duplicates)])
    return data


def read_yaml_file(path: Path) -> Any:
    """Read ``path`` as UTF-8 YAML; :class:`ConfigError` names what is wrong with the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(str(path), [
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded; "
            "save the file as UTF-8"]) from None
    return read_yaml_text(text, str(path))
