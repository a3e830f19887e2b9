"""docs/flow-language.md stays true: every code is documented, every example evaluates as shown."""

from __future__ import annotations

import ast
import re
from typing import Any

from ivr.flow.expressions import parse_expression
from ivr.flow.problems import CODES
from tests.flow.helpers import ROOT

DOC = (ROOT / "docs" / "flow-language.md").read_text(encoding="utf-8")
SCOPE: dict[str, dict[str, Any]] = {
    "call": {"ani": "+447700900123", "ani_trust": "verified"},
    "settings": {"identify_by_ani": True},
    "customer": {"locked": False, "verified": True},
    "attempts": {"dob": 2},
    "idv": {"status": "identified_only"},
}


def test_every_code_is_in_the_table() -> None:
    documented = set(re.findall(r"^\| `([a-z-]+)` \| (?:error|warning) \|", DOC, re.MULTILINE))
    assert documented == set(CODES)


_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


def _literal(text: str) -> Any:
    return _WORDS[text] if text in _WORDS else ast.literal_eval(text)


def test_expression_examples_evaluate_as_documented() -> None:
    block = DOC.split("Examples, evaluated against this call", 1)[1].split("```text", 1)[1]
    block = block.split("```", 1)[0]
    examples = [line.split("=>") for line in block.splitlines() if "=>" in line]
    assert len(examples) >= 8
    for source, expected in examples:
        value = parse_expression(source.strip()).evaluate(SCOPE)
        assert value == _literal(expected.strip()), source
