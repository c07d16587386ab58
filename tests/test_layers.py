"""The layers are visible in the folders and imports point down only, with no cycles.

From top to bottom (a module may import its own layer's package and the layers below it):

    stream.cli          the command line: the only place that may import everything
    stream.demo         the embedded demo (source generator + runner)
    grafana             dashboards, provisioning, Prometheus rules generated from the config
    stream.report       the self-contained HTML report (backtests, results-topic ranges)
    stream.kafka        the Kafka runtime        | stream.sources   files: backtest, baselines
    stream.monitor      monitor = engine + alerting + results; freshness; Prometheus exporter
    stream.performance  model quality: prediction-label join, realized and estimated performance,
                        performance alerts, retraining triggers
    stream.engine       windows, cohorts, aggregation, partials, merge, evaluation, results
      | alerts          rules, significance, alert state, routing, notifiers
    stream.decode       record bytes -> feature columns (and the native decoder)
    stream.config       the one pydantic model of driftline.yaml (alerts' sections included) and
                        the names other tools rely on (metrics, labels, dashboard uids)
    sketches            pure math: sketches, profiles, baselines, drift statistics
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = ("sketches", "stream", "alerts", "grafana")
# top first; each row is one layer, packages in a row must not import each other
LAYERS: tuple[tuple[str, ...], ...] = (
    ("stream.cli",),
    ("stream.demo",),
    ("grafana",),
    ("stream.report",),
    ("stream.kafka", "stream.sources"),
    ("stream.monitor",),
    ("stream.performance",),
    ("stream.engine", "alerts"),
    ("stream.decode",),
    ("stream.config",),
    ("sketches",),
)


def _modules() -> dict[str, Path]:
    found = {}
    for top in TOP_LEVEL:
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found["driftline." + ".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every driftline module a module imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("driftline."))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            if base.startswith("driftline."):
                yield base
                yield from (f"{base}.{a.name}" for a in node.names)


def _layer(module: str) -> tuple[int, str] | None:
    short = module.removeprefix("driftline.")
    for i, row in enumerate(LAYERS):
        for pkg in row:
            if short == pkg or short.startswith(pkg + "."):
                return i, pkg
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {imp for imp in _imports(name, path) if imp in modules and imp != name}
        for name, path in modules.items()
    }


def test_every_module_belongs_to_a_layer() -> None:
    loose = [m for m in _modules() if _layer(m) is None and m.count(".") > 1]
    allowed = {"driftline.stream.__main__"}
    assert set(loose) <= allowed, f"modules outside every layer: {sorted(set(loose) - allowed)}"


def test_imports_point_down_only() -> None:
    wrong = []
    for module, imports in _graph().items():
        here = _layer(module)
        if here is None:
            continue
        for imp in imports:
            there = _layer(imp)
            if there is None:
                continue
            if there[0] < here[0] or (there[0] == here[0] and there[1] != here[1]):
                wrong.append(f"{module} -> {imp}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its modules is not a cycle of the modules themselves
    edges = {
        m: {i for i in deps if not m.startswith(i + ".") and not i.startswith(m + ".")}
        for m, deps in graph.items()
    }
    cycles, state, stack = [], dict.fromkeys(edges, 0), []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state[nxt] == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif state[nxt] == 0:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if state[node] == 0:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_code_imports_only_the_driftline_namespace() -> None:
    """No module imports a top-level folder by its bare name (``import stream``): installed, it
    only exists as ``driftline.stream``."""
    bare = []
    for top in (*TOP_LEVEL, "tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    names = [node.module or ""]
                bare += [f"{path.relative_to(ROOT)}: {n}" for n in names
                         if n.split(".")[0] in TOP_LEVEL]
    assert not bare, "\n".join(bare)
