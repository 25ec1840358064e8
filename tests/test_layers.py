"""The package layout: one sub-package per stage, data only moving right, no import cycles.

Every module of ``geodemand`` is parsed (module-level imports *and* imports inside functions)
and each ``geodemand`` import is checked against the stage order::

    foundations -> ingest -> demand -> engines -> decide -> evaluate -> outputs -> jobs -> cli

A module may import from its own stage, from stages to its left and from the foundations
(errors, announcements, atomic writes, hashing, paths, version, figures, result display,
column helpers, the grid, the numba kernels); never from a later stage and never the package
facade ``geodemand`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "geodemand"
STAGES = ("ingest", "demand", "engines", "decide", "evaluate", "outputs", "jobs", "cli")
FOUNDATIONS = {
    "errors", "_announce", "_atomic", "_hashing", "_paths", "_version", "_figures", "_display",
    "_columns", "_spreadsheet", "grid",
    "_kernels", "resources",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(module: str) -> int | None:
    """0 for foundations, 1.. for the stages in order; None for the facade itself."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__",):
        return None
    top = parts[1]
    if top in FOUNDATIONS:
        return 0
    if top in STAGES:
        return STAGES.index(top) + 1
    raise AssertionError(f"{module}: not in a stage or the foundations; add it to one")


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every ``geodemand...`` module imported anywhere in the file, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
            out.extend((n, node.lineno) for n in names if n.split(".")[0] == "geodemand")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "geodemand":
                continue
            if node.module == "geodemand":  # from geodemand import X: X may be a module
                out.extend((f"geodemand.{a.name}", node.lineno) for a in node.names)
            else:
                out.append((node.module, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: line {node.lineno}: use absolute imports")
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str) -> str:
    """The module a dotted import names (``geodemand.x.y`` may be a name in ``geodemand.x``)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def test_every_module_belongs_to_a_stage():
    for name in MODULES:
        if name != "geodemand":
            stage_of(name)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in ("geodemand",)))
def test_no_module_imports_a_later_stage(module):
    own = stage_of(module)
    if own is None:  # geodemand.__main__ runs the CLI
        return
    for target, line in imports_of(MODULES[module]):
        resolved = _resolve(target)
        assert resolved != "geodemand", f"{module}:{line} imports the package facade"
        theirs = stage_of(resolved)
        assert theirs is not None and theirs <= own, (
            f"{module}:{line} imports {target} from a later stage "
            f"({STAGES[theirs - 1] if theirs else 'facade'} after "
            f"{STAGES[own - 1] if own else 'foundations'})"
        )


def test_no_import_cycles():
    graph = {
        m: {_resolve(t) for t, _ in imports_of(p)} - {m}
        for m, p in MODULES.items()
        if m != "geodemand"
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_checker_catches_a_backward_import(tmp_path):
    """The check itself can fail: an engine importing the weekly job is caught."""
    fake = tmp_path / "density.py"
    fake.write_text("def f():\n    from geodemand.jobs.weekly import run_weekly\n")
    [(target, line)] = imports_of(fake)
    assert stage_of(target) > stage_of("geodemand.engines.density") and line == 2
