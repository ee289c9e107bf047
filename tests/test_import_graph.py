"""upertool's import graph: no cycles, and models/ depends on neither engine/ nor convert/.

The graph is read from the source (every `import` statement, at module level or inside a
function: a lazy import is still a dependency, only a later one). An import of `a.b.c` also
runs the packages `a.b` and `a`, so it depends on them too, except on the importer's own
packages, which have always run before it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'upertool'


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))}


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """upertool modules named by the import statements of one file."""
    package = module if path.name == '__init__.py' else module.rpartition('.')[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            found.add(target)
            found.update(f'{target}.{alias.name}' for alias in node.names)  # submodules
    return {name for name in found if name in known}


def _with_packages(target: str, importer: str) -> set[str]:
    """`target` and the packages above it that `importer` does not already sit in."""
    parts = target.split('.')
    names = {'.'.join(parts[:i]) for i in range(1, len(parts) + 1)}
    own = {'.'.join(importer.split('.')[:i]) for i in range(1, importer.count('.') + 2)}
    return names - own


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for target in _imported(module, path, known):
            edges |= _with_packages(target, module) & known
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_reader_sees_relative_lazy_and_package_imports():
    graph = import_graph()
    # `from . import backbones` in models/__init__; a function-level import in compat.
    assert 'upertool.models.backbones' in graph['upertool.models']
    assert 'upertool.compat.atomic_checkpoint' in graph['upertool.compat']
    # registry imports upertool.registry_build, whose package is the importer's own.
    assert 'upertool.registry_build' in graph['upertool.registry']
    assert 'upertool' not in graph['upertool.registry']


def test_find_cycle_reports_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


@pytest.mark.parametrize('forbidden', ['upertool.engine', 'upertool.convert'])
def test_models_import_neither_engine_nor_convert(forbidden):
    graph = import_graph()
    offenders = sorted(
        f'{module} -> {target}'
        for module, targets in graph.items() if module.startswith('upertool.models')
        for target in targets if target == forbidden or target.startswith(forbidden + '.'))
    assert not offenders, '\n'.join(offenders)
