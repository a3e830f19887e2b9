"""Whatever the text, loading returns a flow or raises FlowLoadError with positioned problems."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.flow.loader import FlowLoadError, LoadedFlow, ValidationContext, load_flow_text
from ivr.flow.model import STEP_KINDS
from tests.flow.helpers import BASE, ROOT, repo_context

CONTEXT = repo_context()
DEMO = (ROOT / "flows" / "idv.yaml").read_text(encoding="utf-8")
KEYS = sorted(
    {
        *STEP_KINDS,
        "schema_version", "flow", "id", "version", "languages", "defaults", "input", "timeout",
        "inter_digit_timeout", "term_key", "barge_in", "max_attempts", "on_error", "steps",
        "identify", "verify", "results", "step", "skip_if", "outcomes", "prompt", "retry_prompts",
        "digits", "min", "max", "dont_have_key", "secret", "with", "next", "choices", "if", "then",
        "else", "say", "handoff", "token", "start", "found", "error", "identified_only",
    }
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 100)
    | st.sampled_from(
        [
            "next",
            "verify",
            "result.not_identified",
            "route.agent",
            "hangup",
            "welcome",
            "5s",
            "#",
            "*",
            "007",
            "directory.lookup_by_ani",
            "verify.answer",
            "en-GB",
            "not settings.identify_by_ani",
            "call.ani ==",
            "x",
        ]
    )  # fmt: skip
    | st.text(max_size=8)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


def check(text: str, context: ValidationContext = CONTEXT) -> None:
    problems = []
    try:
        loaded = load_flow_text(text, "fuzz.yaml", context)
    except FlowLoadError as error:
        problems = error.problems
        if not problems:
            raise AssertionError("FlowLoadError without problems") from error
    else:
        assert isinstance(loaded, LoadedFlow)
    for problem in problems:
        assert problem.line >= 1, problem
        assert problem.column >= 1, problem
        assert problem.code != "internal-error", problem.message


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_yaml_documents_of_flow_keys(document: Any) -> None:
    check(yaml.safe_dump(document, sort_keys=False))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["steps", "identify", "verify", "results", "defaults"]), DOCUMENTS
    ),
)
def test_valid_header_with_random_sections(sections: dict[str, Any]) -> None:
    document = {"schema_version": 1, "flow": {"id": "f", "version": "1", "languages": ["en-GB"]}}
    check(yaml.safe_dump({**document, **sections}, sort_keys=False))


def _mutations(text: str) -> st.SearchStrategy[str]:
    lines = text.splitlines(keepends=True)
    operations = st.lists(
        st.tuples(st.sampled_from(["delete", "duplicate", "swap"]), st.integers(0, len(lines) - 1)),
        min_size=1,
        max_size=4,
    )

    def apply(ops: list[tuple[str, int]]) -> str:
        result = list(lines)
        for op, index in ops:
            index %= len(result)
            if op == "delete" and len(result) > 1:
                del result[index]
            elif op == "duplicate":
                result.insert(index, result[index])
            elif op == "swap" and index + 1 < len(result):
                result[index], result[index + 1] = result[index + 1], result[index]
        return "".join(result)

    return operations.map(apply)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(DEMO))
def test_mutated_demo_flow(text: str) -> None:
    check(text)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(BASE))
def test_mutated_base_flow_without_context(text: str) -> None:
    check(text, ValidationContext())
