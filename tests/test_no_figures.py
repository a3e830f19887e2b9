"""Speed figures live in bench/, not in the product's docstrings and comments (issue 11 item 8).

A figure written next to the code goes stale as soon as the code or the machine changes;
docstrings say why, and `python -m bench.<name>` prints the figure on the machine at hand.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(
    r"µs|\d\s*(us|ns)\b|~\s*\d[\d.,]*\s*(ms|s)\b|\d+(\.\d+)?\s*x\s+(faster|slower|cheaper)"
    r"|\b(ten|\d+) times (faster|slower|cheaper)|\d+(\.\d+)?\s*->\s*~?\d"
    r"|\d\s*ms (a|an|per|each)\b|\d+ ?% (less|more|faster|slower)"
)


def prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring in `source`."""
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                found.append((node.body[0].lineno, docstring))
    return found


def figures(source: str) -> list[str]:
    return [
        f"{line}: {match.group(0)!r}"
        for line, text in prose(source)
        for match in FIGURE.finditer(text)
    ]


def test_no_speed_figures_in_product_prose() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{where}"
        for package in ("ivr", "simulator")
        for path in sorted((ROOT / package).rglob("*.py"))
        for where in figures(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_check_sees_figures() -> None:
    source = '''"""Faster: ~5 -> ~1.5 µs per call."""
x = 1  # costs 20 us, ten times faster, 3x faster
def f() -> None:
    """A wait of 5-7 ms a verification here; 25 % less."""
'''
    assert len(figures(source)) >= 6
    assert figures('"""Durations look like 500ms, 5s or 2m."""\n') == []
