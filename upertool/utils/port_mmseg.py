"""Port code and configs written for mmsegmentation 1.x to upertool (tools/misc/port_mmseg_code.py).

What is rewritten, token by token so that formatting and comments stay as they are:
- the name `mmseg` in code (`import mmseg...`, `from mmseg.x import y`, `mmseg.x.y`) -> `upertool`;
- the strings `'mmseg'` (default_scope, `_scope_`, `init_default_scope`), `'mmseg.X'` (scoped
  types, custom_imports modules) and `'mmseg::path'` (inherited configs) -> upertool's.

What is checked after the rewrite and listed with file and line instead of being left to fail
later: modules and names upertool does not provide (with the reason `NotProvidedError` gives),
scoped types no upertool registry knows, inherited configs upertool does not ship, compiled
`mmcv.ops`, and mmsegmentation 0.x-era APIs (`mmcv.runner`, `mmcv.parallel`, `mmcv.utils`,
`mmseg.core`, `mmseg.ops`), which are out of scope: port that code to mmengine first.
"""
from __future__ import annotations

import ast
import difflib
import importlib
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

OLD, NEW = 'mmseg', 'upertool'
LEGACY = {
    'mmcv.runner': 'mmcv 1.x runner (mmsegmentation 0.x era): use mmengine.runner / '
                   'mmengine.model',
    'mmcv.parallel': 'mmcv 1.x parallel wrappers (0.x era): mmengine wraps models itself',
    'mmcv.utils': 'mmcv 1.x utils (0.x era): Config/Registry/print_log live in mmengine',
    'mmseg.core': 'mmsegmentation 0.x package: its parts moved to mmseg.engine / '
                  'mmseg.evaluation / mmseg.structures in 1.x',
    'mmseg.ops': 'mmsegmentation 0.x package: use upertool.models.utils (resize, Upsample)',
}
OUT_OF_SCOPE = ('0.x-era code (mmcv.runner, mmcv.parallel, mmcv.utils, mmseg.core, mmseg.ops) '
                'is out of scope: port it to mmsegmentation 1.x / mmengine first')


@dataclass
class Problem:
    """Something the tool could not map: where, what, and why."""

    path: Path
    line: int
    name: str
    reason: str

    def __str__(self) -> str:
        return f'{self.path}:{self.line}: {self.name}: {self.reason}'


@dataclass
class PortResult:
    path: Path
    old: str
    new: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return ''.join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f'{self.path} (mmsegmentation)', tofile=f'{self.path} (upertool)'))


def _rewrite_string(token: str) -> str:
    """A string token with mmseg's scope, scoped type or `mmseg::` config path rewritten."""
    prefix_end = 0
    while token[prefix_end] not in '\'"':
        prefix_end += 1
    if 'f' in token[:prefix_end].lower():
        return token  # f-strings are left alone
    quote = token[prefix_end] * (3 if token[prefix_end:prefix_end + 3] in ('"""', "'''") else 1)
    body = token[prefix_end + len(quote):-len(quote)]
    if body == OLD:
        body = NEW
    elif body.startswith(OLD + '.') or body.startswith(OLD + '::'):
        body = NEW + body[len(OLD):]
    return token[:prefix_end] + quote + body + quote


def rewrite_source(source: str) -> str:
    """`source` with every `mmseg` name token and mmseg scope string rewritten to upertool's."""
    edits: list[tuple[int, int, int, str]] = []  # (row, col, end_col, text) on one line
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string == OLD:
            edits.append((tok.start[0], tok.start[1], tok.end[1], NEW))
        elif tok.type == tokenize.STRING and tok.start[0] == tok.end[0]:
            new = _rewrite_string(tok.string)
            if new != tok.string:
                edits.append((tok.start[0], tok.start[1], tok.end[1], new))
    lines = source.splitlines(keepends=True)
    for row, col, end, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + text + line[end:]
    return ''.join(lines)


def _module_problem(module: str) -> str | None:
    """Why `module` cannot be imported, or None."""
    try:
        importlib.import_module(module)
    except ImportError as err:
        return f'upertool has no module {module} ({err})'
    return None


def _name_problem(module: str, name: str, local_names: set[str]) -> str | None:
    """Why `from module import name` fails after porting, or None."""
    problem = _module_problem(module)
    if problem is not None:
        return problem
    try:
        getattr(importlib.import_module(module), name)
    except ImportError as err:  # NotProvidedError says what to use instead
        return str(err)
    except AttributeError:
        try:
            importlib.import_module(f'{module}.{name}')
        except ImportError:
            if name in local_names:
                return None
            return f'upertool has no {module}.{name}'
    return None


def _registered(name: str) -> bool:
    from upertool import registry

    return any(isinstance(reg, registry.UpertoolRegistry) and reg.get(name) is not None
               for reg in vars(registry).values())


def _config_path_problem(value: str) -> str | None:
    rel = value[len(NEW) + 2:]
    import upertool

    root = Path(upertool.__file__).parent / '.mim' / 'configs'
    if (root / rel).is_file():
        return None
    return f"upertool ships no config {rel} (its configs: {root}); copy the file into your project"


def check_ported(path: Path, source: str, local_names: set[str]) -> list[Problem]:
    """What the ported `source` asks of upertool (or of mmcv) that is not there."""
    problems: list[Problem] = []
    tree = ast.parse(source, filename=str(path))

    def add(node: ast.AST, name: str, reason: str | None) -> None:
        if reason is not None:  # shown under the name the user wrote
            shown = OLD + name[len(NEW):] if name.startswith(NEW) else name
            problems.append(Problem(path, getattr(node, 'lineno', 0), shown, reason))

    def legacy(module: str, node: ast.AST) -> bool:
        original = OLD + module[len(NEW):] if module.startswith(NEW) else module
        for prefix, why in LEGACY.items():
            if original == prefix or original.startswith(prefix + '.'):
                add(node, original, f'{why}; {OUT_OF_SCOPE}')
                return True
        if module == 'mmcv.ops' or module.startswith('mmcv.ops.'):
            add(node, module, 'compiled mmcv ops are missing from mmcv-lite, which upertool '
                              'installs; install full mmcv or replace the op')
            return True
        return False

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if legacy(node.module, node) or not node.module.split('.')[0] == NEW:
                continue
            for alias in node.names:
                if alias.name != '*':
                    add(node, f'{node.module}.{alias.name}',
                        _name_problem(node.module, alias.name, local_names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not legacy(alias.name, node) and alias.name.split('.')[0] == NEW:
                    add(node, alias.name, _module_problem(alias.name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if value.startswith(NEW + '::'):
                add(node, value, _config_path_problem(value))
            elif value.startswith(NEW + '.') and value.count('.') == 1 and value[9:10].isupper():
                name = value.split('.', 1)[1]
                if name not in local_names and not _registered(name):
                    add(node, value, f'no upertool registry has {name!r}')
            elif value.startswith(NEW + '.') and value.replace('.', '').replace('_', '').islower():
                if legacy(value, node) is False and '/' not in value and ' ' not in value:
                    add(node, value, _module_problem(value))
    return problems


def defined_names(sources: dict[Path, str]) -> set[str]:
    """Classes and functions the ported files define themselves (their own registered types)."""
    names: set[str] = set()
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
    return names


def python_files(paths: list[Path]) -> list[Path]:
    """The .py files named, or found under the folders named (hidden and cache folders skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob('*.py') if not any(
                part.startswith('.') or part == '__pycache__' for part in p.parts))
        elif path.suffix == '.py':
            found.append(path)
        else:
            raise ValueError(f'{path}: not a .py file or a folder')
    return found


def port_files(paths: list[Path]) -> list[PortResult]:
    """Rewrite (in memory) and check every .py file under `paths`."""
    files = python_files(paths)
    results = []
    for path in files:
        old = path.read_text(encoding='utf-8')
        try:
            results.append(PortResult(path, old, rewrite_source(old)))
        except (tokenize.TokenError, SyntaxError, IndentationError) as err:
            raise ValueError(f'{path}: cannot be tokenized ({err}); fix the syntax first') from err
    local = defined_names({r.path: r.new for r in results})
    for result in results:
        result.problems = check_ported(result.path, result.new, local)
    return results
