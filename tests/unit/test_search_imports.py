"""forum/search keeps its shape: imports point one way, and no module grows huge.

The package reads bottom-up (docs/search.md): text analysis, whoosh storage helpers,
documents and the change record, the index writers, the process machinery, query
understanding, the evaluator, the service, then views and commands. Every import
between its modules - at the top of a file or inside a function, relative or absolute -
must point to the same layer or a lower one, and no chain of imports may lead back to
where it started; and no forum module is imported inside a function (outside the
package's ``__init__``). A new module gets a place in ``LAYERS`` (the failure says so), which
is also where docs/search.md's module map should list it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "forum" / "search"

# Bottom to top. A module may import modules of its own layer or of a lower one.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (name, frozenset(modules.split()))
    for name, modules in (
        ("text analysis", "lexicon schema concepts analysis"),
        (
            "whoosh storage",
            "index lru packs blocks segment threadids matches phrases spelling postwriter pool",
        ),
        ("documents and the change record", "documents replica"),
        (
            "index writers and the change applier",
            "fastwriter build semantic snapshot_files changes ahead checkpoints rebuild",
        ),
        (
            "the process: applier thread, start-up, follower, snapshots",
            "applier snapshot runtime follower",
        ),
        ("query understanding", "stats query"),
        ("evaluator", "clauses topk engine"),
        ("service", "highlight resultrows service"),
        ("views, commands and the package's public functions", "views cli __init__"),
    )
)
MAX_LINES = 420  # "about 400"; vocabulary data is exempt
DATA_FILES = ("lexicon",)  # synonym groups and drug classes: data, not code


def _node(path: Path) -> str:
    """The graph node of a file: a module of the package, or a subpackage as a whole."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _target(path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Package nodes an import statement in ``path`` refers to."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level == 0:
        names = [f"{node.module}.{a.name}" for a in node.names]
    else:
        here = path.parent.relative_to(PACKAGE.parent.parent).parts  # ('forum', 'search', ...)
        base = list(here[: len(here) - (node.level - 1)])
        module = [*base, *(node.module.split(".") if node.module else [])]
        names = [".".join([*module, a.name]) for a in node.names]
    found = []
    for dotted in names:
        parts = dotted.split(".")
        if parts[:2] == ["forum", "search"] and len(parts) > 2:
            sub = parts[2]
            if (PACKAGE / f"{sub}.py").exists() or (PACKAGE / sub).is_dir():
                found.append(sub)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        src = _node(path)
        edges = graph.setdefault(src, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges.update(t for t in _target(path, node) if t != src)
    return graph


def _layer_of() -> dict[str, int]:
    return {module: i for i, (_name, modules) in enumerate(LAYERS) for module in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walker_sees_the_package():
    """Guards the tests below: the graph holds the modules and edges we know of."""
    graph = _graph()
    assert {"engine", "query", "service", "changes", "documents"} <= set(graph)
    assert "concepts" in graph["analysis"]
    assert "service" in graph["__init__"]  # an import inside a function counts too


def test_no_import_circle():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle in forum/search: " + " -> ".join(cycle or [])


def test_imports_point_down_the_layers():
    layer = _layer_of()
    graph = _graph()
    upward = [
        f"{src} ({LAYERS[layer[src]][0]}) imports {dst} ({LAYERS[layer[dst]][0]})"
        for src, targets in sorted(graph.items())
        for dst in sorted(targets)
        if src in layer and dst in layer and layer[dst] > layer[src]
    ]
    assert not upward, "upward imports in forum/search:\n" + "\n".join(upward)


def test_every_module_has_a_layer():
    missing = sorted(set(_graph()) - set(_layer_of()))
    assert not missing, (
        f"add {missing} to LAYERS in tests/unit/test_search_imports.py (and to the module "
        "map in docs/search.md): the lowest layer whose modules it needs"
    )


def test_forum_modules_are_imported_at_the_top():
    """An import of a forum module inside a function hides a dependency (it is how the
    old circle stayed closed). Only the package's ``__init__`` imports lazily, so that
    ``import forum.search`` stays cheap; optional third-party libraries may be lazy."""
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (
                    node.level or (node.module or "").split(".")[0] == "forum"
                ):
                    rel = path.relative_to(PACKAGE)
                    hidden.append(f"{rel}:{node.lineno} in {func.name}(): {ast.unparse(node)}")
    assert not hidden, "imports inside functions:\n" + "\n".join(hidden)


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p.stem not in DATA_FILES],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_module_stays_readable(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, (
        f"forum/search/{path.relative_to(PACKAGE)} has {lines} lines (limit {MAX_LINES}): "
        "split it where the data flow has a seam (see docs/search.md)"
    )
