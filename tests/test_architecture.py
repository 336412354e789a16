"""The rule of the house, checked on every import in the package (lazy ones inside functions too).

    cli -> web -> app -> care -> knowledge -> language -> speech -> engine -> content

A module imports only from its own room or the rooms to its right. The test set
generator and the evaluation harnesses live in bench/, outside the wheel, and
nothing in the package imports them (or the tests).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LAYERS = ("cli", "web", "app", "care", "knowledge", "language", "speech", "engine", "content")
PACKAGE = ROOT / "companion"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports by absolute or relative name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from companion.cli import ask" imports the module companion.cli.ask; a name that is
            # not a submodule comes from the module itself
            submodules = {alias.name for alias in node.names if (PACKAGE.parent / (
                module.replace(".", "/") + f"/{alias.name}")).with_suffix(".py").exists()}
            found.update(f"{module}.{name}" for name in submodules)
            if len(submodules) < len(node.names):
                found.add(module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules} for name, path in modules.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_is_in_a_room():
    homeless = [m for m in graph() if layer(m) is None and m not in ("companion", "companion.__main__")]
    assert not homeless, homeless


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in edges.items():
        here = layer(module)
        for target in targets:
            there = layer(target)
            if here is not None and there is not None and there < here:
                found.append(f"{module} -> {target}")
    return sorted(found)


def test_nothing_imports_upward():
    upward = upward_imports(graph())
    assert not upward, "imports against the rule of the house:\n" + "\n".join(upward)


def test_the_package_never_imports_bench_or_tests():
    leaks = [f"{path.relative_to(ROOT)} -> {name}" for path in PACKAGE.rglob("*.py") for name in imports(path)
             if name.split(".")[0] in ("bench", "tests", "testset", "evaluation")]
    assert not leaks, leaks


def test_there_are_no_import_cycles():
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if target == node or target in ("companion",):
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_a_violation():
    """The rule test itself: an engine module importing the app, or content importing anything above it,
    is reported; importing downward or within a room is not."""
    edges = graph()
    edges["companion.engine.session"] = edges["companion.engine.session"] | {"companion.app.runner"}
    edges["companion.content.locale"] = edges["companion.content.locale"] | {"companion.speech.ports"}
    assert upward_imports(edges) == ["companion.content.locale -> companion.speech.ports",
                                     "companion.engine.session -> companion.app.runner"]
    assert upward_imports({"companion.app.runner": {"companion.engine.session", "companion.app.records"}}) == []
