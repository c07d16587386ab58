"""The docs tell the truth: README's commands and reference, and every docstring example runs."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from driftline.stream.config.reference import readme_block, render_reference

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("driftline.sketches", "driftline.stream", "driftline.alerts", "driftline.grafana")


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        names.append(pkg)
        for info in pkgutil.walk_packages(mod.__path__, f"{pkg}."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return names


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c][:2] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_config_reference_is_generated_from_the_model() -> None:
    assert readme_block(ROOT / "README.md") == render_reference(), (
        "README's configuration reference is stale: "
        "python -m driftline.stream.config.reference --update README.md"
    )


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
