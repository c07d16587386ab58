"""The runnable examples in the sketches package's docstrings stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import driftline.sketches as sketches

MODULES = ["sketches"] + [f"sketches.{m.name}" for m in pkgutil.iter_modules(sketches.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
