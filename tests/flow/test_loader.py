"""The loader API the runtime and CLI use: clean demo flow, positions, all errors in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flow.loader import (
    FlowLoadError,
    LoadedFlow,
    ValidationContext,
    load_flow,
    load_flow_text,
    load_flows,
)
from ivr.flow.model import AskStep
from tests.flow.helpers import BASE, ROOT, edit, found, repo_context


def test_demo_flow_validates_clean() -> None:
    loaded = load_flow(ROOT / "flows" / "idv.yaml", repo_context())
    assert isinstance(loaded, LoadedFlow)
    assert loaded.warnings == ()
    assert loaded.flow.flow.id == "idv"
    assert loaded.step_lines == {
        "welcome": 20,
        "by_ani": 25,
        "account_number": 31,
        "date_of_birth": 47,
    }
    assert loaded.outcome_lines[("account_number", "dont_have")] == 42
    assert loaded.outcome_lines[("by_ani", "many")] == 29
    assert loaded.source_map[("identify", 1, "ask", "dont_have_key")] == (38, 22)


def test_base_flow_loads_without_catalog_or_config() -> None:
    loaded = load_flow_text(BASE, "flow.yaml", ValidationContext())
    assert isinstance(loaded.flow.identify[0], AskStep)
    assert loaded.path == "flow.yaml"


def test_menu_choices_are_outcome_lines() -> None:
    text = edit(
        "    play: welcome\n    next: identify\n",
        '    menu:\n      prompt: welcome\n      choices: {"1": identify, "2": verify}\n'
        "    outcomes: {max_attempts: hangup}\n",
    )
    loaded = load_flow_text(text, "flow.yaml", repo_context())
    assert loaded.outcome_lines[("welcome", "1")] == 7
    assert loaded.outcome_lines[("welcome", "max_attempts")] == 8


def test_all_errors_in_one_pass() -> None:
    """Schema errors in one step do not hide cross-reference errors elsewhere."""
    text = BASE
    text = edit("    next: identify", "    nxt: identify", text)  # unknown key (schema)
    text = edit("      found: verify", "      found: dobb", text)  # unknown step
    text = edit("{field: date_of_birth}", "{}", text)  # missing param
    text = edit("identified_only: {route: agent}", "identified_only: {route: agnet}", text)
    text = edit('dont_have_key: "*"', "dont_have_key: 7", text)  # unquoted digits
    text = edit("{prompt: ask_date_of_birth,", "{prompt: ask_date_of_birt, timeout: 5,", text)
    assert found(text) == {
        ("unknown-key", 6, 5),
        ("unquoted-digits", 12, 22),
        ("unknown-step", 15, 14),
        ("bad-duration", 21, 46),
        ("unknown-prompt", 21, 19),
        ("missing-param", 23, 11),
        ("unknown-route", 32, 28),
    }


def test_broken_step_is_set_aside_and_others_still_checked() -> None:
    text = edit("    play: welcome", "    plya: welcome")
    text = edit("      found: verify", "      found: dobb", text)
    codes = {code for code, _, _ in found(text)}
    assert codes == {"no-step-kind", "unknown-step"}


def test_error_message_lists_every_problem() -> None:
    text = edit(
        "      found: verify", "      found: dobb", edit("    play: welcome", "    play: welcom")
    )
    with pytest.raises(FlowLoadError) as caught:
        load_flow_text(text, "x.yaml", repo_context())
    lines = str(caught.value).splitlines()
    assert lines == [p.format() for p in caught.value.problems]
    assert lines[0].startswith("x.yaml:5:11: error unknown-prompt: ")


def test_load_flow_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlowLoadError) as caught:
        load_flow(tmp_path / "nope.yaml", ValidationContext())
    assert caught.value.problems[0].line == 1


def test_load_flows_checks_call_flow_returns(tmp_path: Path) -> None:
    sub = """\
schema_version: 1
flow: {id: greeting, version: "1", languages: [en-GB]}
steps:
  - step: hello
    play: welcome
    next: return.done
  - step: never
    return: skipped
"""
    main = edit(
        "    play: welcome\n    next: identify\n",
        "    call_flow: greeting\n    outcomes: {done: identify}\n",
    )
    (tmp_path / "greeting.yaml").write_text(sub)
    (tmp_path / "main.yaml").write_text(main)
    (tmp_path / "main.test.yaml").write_text("not: a flow\n")
    loaded, problems = load_flows([tmp_path], ValidationContext())
    codes = {(p.file.rsplit("/", 1)[-1], p.code, p.line, p.column) for p in problems}
    assert ("main.yaml", "outcome-not-routed", 6, 5) in codes  # 'skipped' is not routed
    assert ("greeting.yaml", "unreachable-step", 7, 11) in codes
    assert "demo" not in loaded


def test_on_error_default_allows_unrouted_error() -> None:
    text = edit("      error: result.not_identified\n", "")
    assert ("outcome-not-routed", 14, 5) in found(text)
    text = edit("steps:\n", "defaults: {on_error: result.not_identified}\nsteps:\n", text)
    assert found(text) == set()


def test_skip_if_makes_next_reachable() -> None:
    text = edit("      found: verify", "      found: result.identified_only")
    assert ("unreachable-step", 20, 11) in found(text)
    text = edit("    uses: verify.answer\n", "    uses: verify.answer\n", text)
    skipping = edit(
        "    uses: directory.lookup_by_account\n",
        "    uses: directory.lookup_by_account\n    skip_if: settings.identify_by_ani\n",
        text,
    )
    assert not {c for c in found(skipping) if c[0] == "unreachable-step"} - {
        ("unreachable-step", 21, 11)
    }


def test_a_single_file_sees_the_flows_beside_it(tmp_path: Path) -> None:
    sub = 'schema_version: 1\nflow: {id: greeting, version: "1", languages: [en-GB]}\n'
    sub += "steps:\n  - step: hello\n    return: done\n"
    (tmp_path / "greeting.yaml").write_text(sub)
    main = tmp_path / "main.yaml"
    main.write_text(
        edit(
            "    play: welcome\n    next: identify\n",
            "    call_flow: greeting\n    outcomes: {done: identify}\n",
        )
    )
    loaded, problems = load_flows([main], ValidationContext())
    assert problems == []
    assert list(loaded) == ["demo"]
