"""The command line every benchmark section shares: ``--quick``, ``--json``, and printing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def section_args(doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    ap.add_argument("--json", action="store_true", help="print the section as one JSON line")
    return ap


def emit(section: dict[str, Any], as_json: bool) -> None:
    """Print a section: one JSON line for ``bench.run``, or its text and tables for people."""
    if as_json:
        print(json.dumps(section, default=str))
        return
    for line in section.get("text", []):
        print(line)
    for t in section.get("tables", []):
        print(t["headers"])
        for r in t["rows"]:
            print(r)


def run_section(doc: str | None, run: Callable[[bool], dict[str, Any]]) -> None:
    """The ``main()`` of a section whose only options are ``--quick`` and ``--json``."""
    a = section_args(doc).parse_args()
    emit(run(a.quick), a.json)
