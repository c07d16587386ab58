"""pyproject.toml declares exactly the distributions the product imports: none missing (an
install would break), none unused (an install would carry dead weight)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sketches", "stream", "alerts", "grafana")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules() -> set[str]:
    found = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"driftline", "__future__"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalize(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0])
            for d in project["dependencies"]}


def test_declared_dependencies_are_exactly_the_imported_ones() -> None:
    dists = packages_distributions()
    imported: set[str] = set()
    unknown = []
    declared = _declared()
    for module in sorted(_imported_top_level_modules()):
        names = {_normalize(n) for n in dists.get(module) or []}
        if not names:
            unknown.append(module)
        # a namespace shared by several distributions (``google``): the declared one provides it
        imported |= (names & declared) or names
    assert not unknown, f"imported but installed by no distribution: {unknown}"
    assert imported - declared == set(), f"imported, not declared: {sorted(imported - declared)}"
    # typer renders its help with rich; pyarrow is the CSV/Parquet reader: both imported
    assert declared - imported == set(), f"declared, never imported: {sorted(declared - imported)}"
