"""The dependency rule the layout promises (README, Layout), checked on the source with ``ast``
as python-gitlab's ``tests/unit/meta/`` checks its own structure.

- The core (``rollback_advisor`` minus ``web/`` and the CLI) imports neither ``connectors`` nor
  ``rollback_advisor.web``: the surfaces (the CLI and the web service) may import both.
- ``connectors`` builds on the core only: never on a surface.
- The web modules import each other without a circle (the factory assembles; the blueprints
  take the per-app services from ``services.py``, never from the factory).
- The core keeps no copy of the hook parsers' source names: the parsers own that list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SURFACES = ("rollback_advisor.web", "rollback_advisor.cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports (at any depth, lazy imports too), absolute, with its line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # ``from . import x`` may name a submodule
                yield f"{target}.{alias.name}", node.lineno


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _core_modules() -> dict[str, Path]:
    return {m: p for m, p in _modules("rollback_advisor").items()
            if not any(_is_under(m, s) for s in SURFACES)}


def test_the_scan_sees_the_layers():
    """Guard the guard: the walk finds core modules and resolves relative imports."""
    core = _core_modules()
    assert {"rollback_advisor.models", "rollback_advisor.engine",
            "rollback_advisor.store.service_tables"} <= set(core)
    found = {name for name, _ in imports_of("rollback_advisor.store.service_tables",
                                            core["rollback_advisor.store.service_tables"])}
    assert "rollback_advisor.models" in found and "rollback_advisor.store.schema" in found


@pytest.mark.parametrize("module", sorted(_core_modules()))
def test_core_imports_no_connector_and_no_surface(module):
    """A core module importing connectors or web would tie the engine to vendors or Flask."""
    path = _core_modules()[module]
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for name, line in imports_of(module, path)
           if _is_under(name, "connectors") or any(_is_under(name, s) for s in SURFACES)]
    assert not bad, "the core imports neither connectors nor a surface:\n" + "\n".join(bad)


def test_connectors_build_on_the_core_only():
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for module, path in _modules("connectors").items()
           for name, line in imports_of(module, path)
           if any(_is_under(name, s) for s in SURFACES)]
    assert not bad, "connectors import no surface:\n" + "\n".join(bad)


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``edges`` (as a path that returns to its start), else None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_web_modules_import_each_other_without_a_circle():
    web = {m: p for m, p in _modules("rollback_advisor").items()
           if _is_under(m, "rollback_advisor.web")}
    edges = {m: {name for name, _ in imports_of(m, p) if name in web and name != m}
             for m, p in web.items()}
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])


def test_the_core_keeps_no_copy_of_the_hook_sources():
    """The store once held its own tuple of hook sources, which a new parser had to remember
    to update: the list lives with the parsers (connectors.hooks.PARSERS) and nowhere else."""
    from connectors.hooks import PARSERS

    sources = set(PARSERS)
    copies = []
    for module, path in _core_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                names = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(names & sources) >= 3:
                    copies.append(f"{module}:{node.lineno}")
    assert not copies, "copies of the hook source list: " + ", ".join(copies)
