"""The product uses libraries through their public APIs only (issue 11 item 6).

A private name (`_x`) may be reached only when this project defines it: our own modules,
classes and attributes. Anything else, `conn._execute`, `from yaml._yaml import ...`, is a
library's internals, which change without notice between the versions pyproject allows.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ivr", "simulator")
# namedtuple's documented methods start with an underscore so they cannot clash with fields
PUBLIC_UNDERSCORED = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _sources() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def _own_private_names(paths: list[Path]) -> set[str]:
    """Every `_name` this project defines: modules, functions, classes, attributes, names."""
    names = {path.stem for path in paths if path.stem.startswith("_")}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {name for name in names if name.startswith("_")}


def _private_uses(path: Path, own: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            name = node.attr
            private = name.startswith("_") and not name.startswith("__")
            if private and name not in own and name not in PUBLIC_UNDERSCORED:
                found.append(f"{path.name}:{node.lineno}: .{name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            parts = node.module.split(".")
            if top not in PACKAGES and any(p.startswith("_") for p in parts[1:]):
                found.append(f"{path.name}:{node.lineno}: from {node.module}")
    return found


def test_no_private_attribute_of_a_library_is_used() -> None:
    paths = _sources()
    own = _own_private_names(paths)
    assert [use for path in paths for use in _private_uses(path, own)] == []


def test_the_check_sees_library_internals(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from yaml._yaml import CParser\n"
        "async def f(conn):\n"
        "    await conn._execute(lambda: None)\n"
        "    return conn._conn, parts._replace(path='')\n"
    )
    uses = _private_uses(source, _own_private_names([source]))
    assert sorted(use.split(": ", 1)[1] for use in uses) == [
        "._conn",
        "._execute",
        "from yaml._yaml",
    ]


def test_no_coroutine_is_driven_by_hand() -> None:
    """Deadlines are asyncio.timeout's: no `coro.send`/`coro.throw` loops, no types.coroutine."""
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"throw", "coroutine"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert found == []
