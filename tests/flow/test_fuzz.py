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


TARGETS = st.sampled_from(
    ["a", "b", "c", "next", "identify", "verify", "steps", "hangup", "result.not_identified",
     "result.nope", "route.agent", "route.nope", "return.done", "nowhere"]
)  # fmt: skip
OUTCOMES = st.dictionaries(
    st.sampled_from(["found", "not_found", "many", "error", "verified", "wrong", "max_attempts",
                     "dont_have", "collected", "done", "hangup", "x"]),
    TARGETS,
    max_size=6,
)  # fmt: skip
ASK = st.fixed_dictionaries(
    {"prompt": st.sampled_from(["welcome", "nope"]), "digits": st.just({"min": 1, "max": 4})},
    optional={"dont_have_key": st.sampled_from(["*", "#"]), "retry_prompts": st.just(["welcome"])},
)
STEP = st.fixed_dictionaries(
    {"step": st.sampled_from(["a", "b", "c", "verify"])},
    optional={
        "uses": st.sampled_from(["directory.lookup_by_ani", "verify.answer", "nope.op"]),
        "ask": ASK,
        "play": st.sampled_from(["welcome", "nope"]),
        "menu": st.fixed_dictionaries({"prompt": st.just("welcome"), "choices": st.dictionaries(
            st.sampled_from(["1", "2", "#"]), TARGETS, min_size=1)}),
        "decide": st.lists(st.fixed_dictionaries({"if": st.sampled_from(
            ["vars.x", "attempts.a > 1", "call.nope", "len(x)"]), "then": TARGETS}), min_size=1),
        "else": TARGETS,
        "set": st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "vars.x", "f"])),
        "route": st.sampled_from(["agent", "nope"]),
        "call_flow": st.sampled_from(["demo", "other"]),
        "return": st.just("done"),
        "hangup": st.just({}),
        "outcomes": OUTCOMES,
        "next": TARGETS,
        "skip_if": st.sampled_from(["not settings.identify_by_ani", "settings.nope", "1 +"]),
        "with": st.dictionaries(st.sampled_from(["field", "min_trust", "x"]), st.just("v")),
    },
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "steps": st.lists(STEP, max_size=4),
            "identify": st.lists(STEP, max_size=3),
            "verify": st.lists(STEP, max_size=3),
            "defaults": st.fixed_dictionaries({}, optional={"on_error": TARGETS}),
        },
    )
)
def test_plausible_steps_reach_the_cross_reference_checks(sections: dict[str, Any]) -> None:
    document = {"schema_version": 1, "flow": {"id": "f", "version": "1", "languages": ["en-GB"]}}
    results = {"results": {"not_identified": {"route": "agent"}}}
    check(yaml.safe_dump({**document, **sections, **results}, sort_keys=False))
