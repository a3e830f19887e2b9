"""The condition language: what is allowed, what is refused (with a column), None-safety."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.flow.expressions import ExpressionError, parse_expression

SCOPE: dict[str, dict[str, Any]] = {
    "call": {"ani": "+447700900123", "ani_trust": "verified", "language": "en-GB"},
    "customer": {"id": "C42", "locked": False, "verified": True},
    "settings": {"identify_by_ani": True, "max_tries": 3},
    "attempts": {"dob": 2},
    "vars": {"route_to": "agent"},
    "idv": {"status": "identified_only"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("not settings.identify_by_ani", False),
        ("settings.identify_by_ani and not customer.locked", True),
        ("call.ani == null", False),
        ("call.ani != None", True),
        ("customer.verified == true", True),
        ("customer.locked == False", True),
        ("attempts.dob >= 2", True),
        ("attempts.dob + 1 > settings.max_tries - 1", True),
        ("1 < attempts.dob < 3", True),
        ("call.ani_trust in ['verified', 'presented']", True),
        ("idv.status not in ('identified_and_verified',)", True),
        ("vars.route_to", "agent"),
        ("'x' + 'y'", "xy"),
        ("-1 < 0", True),
        ("settings.max_tries or 5", 3),
        ("customer.name or 'caller'", "caller"),
    ],
)
def test_allowed(source: str, expected: Any) -> None:
    assert parse_expression(source).evaluate(SCOPE) == expected


@pytest.mark.parametrize(
    "source",
    [
        "attempts.missing > 2",
        "attempts.missing < 2",
        "call.dnis >= 'a'",
        "settings.max_tries < 'x'",
        "call.ani in customer.nothing",
        "nothing.here == 1",
    ],
)
def test_missing_or_mismatched_values_compare_false(source: str) -> None:
    if source.startswith("nothing"):
        with pytest.raises(ExpressionError):
            parse_expression(source)
        return
    assert parse_expression(source).evaluate(SCOPE) is False


def test_missing_names_are_none() -> None:
    assert parse_expression("vars.nope").evaluate(SCOPE) is None
    assert parse_expression("vars.nope").evaluate({}) is None
    assert parse_expression("vars.nope + 1").evaluate(SCOPE) is None
    assert parse_expression("not vars.nope").evaluate({}) is True


def test_names_are_collected() -> None:
    expression = parse_expression("not settings.identify_by_ani or attempts.dob > 1")
    assert expression.names == frozenset({"settings.identify_by_ani", "attempts.dob"})


@pytest.mark.parametrize(
    ("source", "offset", "words"),
    [
        ("__import__('os').system('x')", 0, "calls"),
        ("open('/etc/passwd')", 0, "calls"),
        ("call.ani.__class__", 0, "namespace.field"),
        ("call.__class__", 0, "not a field"),
        ("settings['x']", 0, "indexing"),
        ("lambda: 1", 0, "lambdas"),
        ("[x for x in call]", 0, "comprehensions"),
        ("call.ani is None", 0, "use =="),
        ("2 * 3", 0, "only + and -"),
        ("x == 1", 0, "unknown name"),
        ("call == 1", 0, "namespace"),
        ("call.ani and len(call.ani)", 13, "calls"),
        ("1 if call.ani else 2", 0, "decide"),
        ("{'a': 1}", 0, "not allowed"),
        ("f'{call.ani}'", 0, "not allowed"),
        ("call.ani ==", 11, "incomplete"),
        ("call.ani call.dnis", 9, "not a valid"),
        ("", 0, "empty"),
        ("x" * 600, 0, "longer"),
    ],
)
def test_refused(source: str, offset: int, words: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(source)
    assert words in caught.value.message
    assert caught.value.offset == offset


def test_evaluation_is_fast() -> None:
    expression = parse_expression("not settings.identify_by_ani")
    runs = 20_000
    start = time.perf_counter()
    for _ in range(runs):
        expression.evaluate(SCOPE)
    per_call = (time.perf_counter() - start) / runs
    assert per_call < 5e-6  # measured about 0.4 µs


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_is_refused(source: str) -> None:
    offset = None
    try:
        expression = parse_expression(source)
    except ExpressionError as error:
        offset = error.offset
    if offset is not None:
        assert 0 <= offset <= len(source) + 1
        return
    expression.evaluate(SCOPE)
    expression.evaluate({})


_values = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats()


@given(st.dictionaries(st.sampled_from(["dob", "x"]), _values), st.sampled_from(["<", ">=", "=="]))
def test_comparisons_never_raise(attempts: dict[str, Any], op: str) -> None:
    expression = parse_expression(f"attempts.dob {op} attempts.x and attempts.dob + 1 in [2, 3]")
    expression.evaluate({"attempts": attempts})
