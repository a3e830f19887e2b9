"""One case per problem code: the code and the exact line:column where it is reported."""

from __future__ import annotations

import pytest

from ivr.flow.checks import ValidationContext
from ivr.flow.loader import FlowLoadError, load_flow_text, load_flows
from ivr.flow.problems import CODES
from tests.flow.helpers import BASE, ROOT, edit, found, problems_of, repo_context

WELCOME = "    play: welcome\n    next: identify\n"
DOB_USES = "    uses: verify.answer\n"
ACCOUNT_USES = "    uses: directory.lookup_by_account\n"

CASES = [
    ("yaml-syntax", edit("  - step: welcome", "  - step: welcome: x"), 4, 18),
    ("unsupported-yaml", edit("    play: welcome", "    play: &w welcome"), 5, 11),
    ("duplicate-key", edit("    next: identify\n", "    next: identify\n    next: verify\n"), 7, 5),
    ("non-string-key", edit("flow: {id", "flow: {null: 1, id"), 2, 8),
    ("unquoted-digits", edit('dont_have_key: "*"', "dont_have_key: 0"), 12, 22),
    ("unquoted-digits", edit('dont_have_key: "*"', "dont_have_key: 007"), 12, 22),
    ("unquoted-symbol", edit('dont_have_key: "*"', "dont_have_key: *"), 12, 23),
    ("unquoted-symbol", edit('dont_have_key: "*"', "dont_have_key: #"), 12, 22),
    ("empty-file", "# nothing here\n", 1, 1),
    ("unknown-key", edit("    next: identify", "    nxt: identify"), 6, 5),
    ("missing-key", edit("      digits: {min: 8, max: 8}\n", ""), 10, 7),
    ("bad-value", edit('version: "1"', "version: 1.5"), 2, 27),
    ("bad-value", edit("{min: 8, max: 8}}", "{min: 8, max: 8}, secret: yes}"), 21, 72),
    (
        "bad-duration",
        edit("{prompt: ask_date_of_birth,", "{prompt: ask_date_of_birth, timeout: 5x,"),
        21,
        47,
    ),
    ("no-step-kind", edit("    play: welcome", "    plya: welcome"), 4, 5),
    ("duplicate-step", edit("  - step: dob", "  - step: account"), 20, 11),
    ("reserved-step-id", edit("  - step: dob", "  - step: result"), 20, 11),
    ("unknown-step", edit("      found: verify", "      found: dobb"), 15, 14),
    ("bad-target", edit("    next: identify", "    next: next"), 6, 11),
    ("unknown-operation", edit(DOB_USES, "    uses: verify.answr\n"), 22, 11),
    ("input-mismatch", edit(ACCOUNT_USES, "    uses: directory.lookup_by_ani\n"), 13, 11),
    (
        "secret-kept",
        edit(
            "    ask: {prompt: ask_date_of_birth, digits: {min: 8, max: 8}}\n" + DOB_USES,
            "    ask: {prompt: ask_date_of_birth, digits: {min: 8, max: 8}, secret: true}\n",
        ),
        21,
        72,
    ),
    ("missing-param", edit("{field: date_of_birth}", "{}"), 23, 11),
    ("unknown-param", edit("{field: date_of_birth}", "{field: date_of_birth, fild: x}"), 23, 34),
    ("outcome-not-routed", edit("      error: result.not_identified\n", ""), 14, 5),
    (
        "unknown-outcome",
        edit("      found: verify\n", "      found: verify\n      foundd: verify\n"),
        16,
        7,
    ),
    (
        "retried-outcome",
        edit("      found: verify\n", "      found: verify\n      not_found: next\n"),
        16,
        7,
    ),
    ("missing-result", edit("  not_identified: {route: agent}\n", ""), 16, 18),
    (
        "unknown-route",
        edit("identified_only: {route: agent}", "identified_only: {route: agnet}"),
        32,
        28,
    ),
    ("unknown-prompt", edit("    play: welcome", "    play: welcom"), 5, 11),
    ("unknown-language", edit("languages: [en-GB]", "languages: [en-GB, fr-FR]"), 2, 51),
    (
        "unknown-flow",
        edit(WELCOME, "    call_flow: greeting\n    outcomes: {done: identify}\n"),
        5,
        16,
    ),
    (
        "bad-condition",
        edit(ACCOUNT_USES, ACCOUNT_USES + "    skip_if: call.ani and len(call.ani)\n"),
        14,
        27,
    ),
    (
        "bad-condition",
        edit(ACCOUNT_USES, ACCOUNT_USES + '    skip_if: "call.ani and len(call.ani)"\n'),
        14,
        28,
    ),
    (
        "unknown-name",
        edit(ACCOUNT_USES, ACCOUNT_USES + "    skip_if: customer.nam == null\n"),
        14,
        14,
    ),
    (
        "unreachable-step",
        edit("      found: verify", "      found: result.identified_only"),
        20,
        11,
    ),
    ("unbounded-loop", edit("    next: identify", "    next: welcome"), 4, 11),
]


@pytest.mark.parametrize(("code", "text", "line", "column"), CASES, ids=[c[0] for c in CASES])
def test_code_reported_at_its_position(code: str, text: str, line: int, column: int) -> None:
    assert (code, line, column) in found(text)


def test_every_code_has_a_case_or_a_dedicated_test() -> None:
    dedicated = {"duplicate-flow", "unknown-setting", "unused-prompt", "internal-error"}
    # issue 13's codes need the repository's directory fields: tests/flow/test_issue13.py
    dedicated |= {"unknown-field", "digits-mismatch", "prompt-positions", "dont-have-digit"}
    dedicated |= {"bad-currency"}  # a payment step's: tests/payments/test_flow_language.py
    assert {case[0] for case in CASES} | dedicated == set(CODES)


def test_hints_suggest_the_closest_name() -> None:
    hints = {
        p.code: p.hint
        for p in problems_of(edit("    next: identify", "    nxt: identify"))
        + problems_of(edit("      found: verify", "      found: dobb"))
        + problems_of(edit(DOB_USES, "    uses: verify.answr\n"))
        + problems_of(edit("    play: welcome", "    play: welcom"))
    }
    assert hints["unknown-key"] == "did you mean 'next'?"
    assert hints["unknown-step"] == "did you mean 'dob'?"
    assert hints["unknown-operation"] == "did you mean 'verify.answer'?"
    assert hints["unknown-prompt"].startswith("did you mean 'welcome'? Or add 'welcom:'")


def test_unquoted_digits_says_how_to_write_it() -> None:
    [problem] = problems_of(edit('dont_have_key: "*"', "dont_have_key: 007"))
    assert problem.hint == 'write it quoted: "007"'


def test_unknown_setting_is_a_warning_and_the_flow_loads() -> None:
    text = edit(ACCOUNT_USES, ACCOUNT_USES + "    skip_if: not settings.identify_by_an\n")
    loaded = load_flow_text(text, "flow.yaml", repo_context())
    [warning] = loaded.warnings
    assert (warning.code, warning.line, warning.column) == ("unknown-setting", 14, 14)
    assert warning.severity == "warning"
    assert warning.hint == "did you mean 'identify_by_ani'?"


def test_duplicate_flow_ids_across_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text(BASE)
    (tmp_path / "b.yaml").write_text(BASE)
    loaded, problems = load_flows([tmp_path], ValidationContext())
    assert list(loaded) == ["demo"]
    assert [(p.file, p.code, p.line, p.column) for p in problems] == [
        (str(tmp_path / "b.yaml"), "duplicate-flow", 2, 12)
    ]


def test_unused_prompt_warned_only_for_a_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "demo.yaml").write_text(BASE)
    _, problems = load_flows([tmp_path], repo_context())
    unused = {(p.code, p.line, p.column, p.severity) for p in problems}
    assert ("unused-prompt", 20, 3, "warning") in unused  # 'goodbye' in the en-GB catalogue
    _, problems = load_flows([tmp_path / "demo.yaml"], repo_context())
    assert not [p for p in problems if p.code == "unused-prompt"]


def test_a_validator_bug_is_still_a_flow_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("ivr.flow.loader.check_flow", broken)
    with pytest.raises(FlowLoadError) as caught:
        load_flow_text(BASE, "flow.yaml", ValidationContext())
    assert [p.code for p in caught.value.problems] == ["internal-error"]


def test_root_is_the_repo() -> None:
    assert (ROOT / "flows" / "idv.yaml").exists()


def test_an_operation_parameter_value_outside_its_choices_is_refused() -> None:
    text = edit(
        "identify:\n",
        "identify:\n  - step: by_ani\n    uses: directory.lookup_by_ani\n"
        "    with: {min_trust: D}\n"
        "    outcomes: {found: verify, not_found: next, many: next, error: next}\n",
    )
    problems = [p for p in problems_of(text) if p.code == "bad-value"]
    assert [(p.line, p.column, p.hint) for p in problems] == [(10, 23, "use one of: A, B, C")]
