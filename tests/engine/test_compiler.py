"""The compiled StateChart and the static hop table read from its definition agree."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.bootstrap import Loaded
from ivr.flow.compiler import CompiledFlow, CompileError, compile_flow, outcome_event
from ivr.flow.loader import ValidationContext, load_flow_text
from ivr.flow.model import FlowFile
from tests.engine.conftest import ROOT
from tests.engine.flows import generated_flow

ROOT_FLOWS = ROOT / "flows"


def machine_hop(flow: CompiledFlow, state: str, outcome: str) -> str:
    machine, model = flow.machine()
    model.state = state
    model.scope = {}
    machine.send(outcome_event(outcome))
    return str(model.state)


def big_flow(loaded: Loaded) -> CompiledFlow:
    context = ValidationContext(catalog=loaded.catalog, config=loaded.config)
    flow = load_flow_text(generated_flow(200), "big.yaml", context)
    return compile_flow(flow.flow, flow.path, flow.step_lines)


def library_hop(flow: CompiledFlow, state: str, outcome: str, scope: dict[str, Any]) -> str:
    """The state the library itself reaches, every microstep in its own engine."""
    machine, model = flow.machine()
    model.state, model.scope, model.variables, model.trace = state, scope, {}, []
    machine.send(outcome_event(outcome))
    return str(model.state)


SCOPES: list[dict[str, Any]] = [
    {"settings": {"identify_by_ani": True}},
    {"settings": {"identify_by_ani": False}},
    {},
]


def test_every_static_hop_is_what_the_statechart_does(loaded: Loaded) -> None:
    for flow in (loaded.registry.current("idv"), big_flow(loaded)):
        assert flow.static_routes
        for state, outcome in flow.static_routes:
            for scope in SCOPES:
                expected = library_hop(flow, state, outcome, scope)
                got, _trace = flow.advance(state, outcome, dict(scope), {})
                assert got == expected, (state, outcome, scope)


def test_a_hop_into_a_skippable_step_runs_only_its_guard_in_the_library(
    loaded: Loaded,
) -> None:
    flow = loaded.registry.current("idv")
    assert flow.static_routes[("s_welcome", "done")] == "e_by_ani"
    assert "e_by_ani" not in flow.settled_states


def test_every_routed_outcome_has_a_transition_in_the_statechart(loaded: Loaded) -> None:
    flow = loaded.registry.current("idv")
    for step_id, plan in flow.plans.items():
        for outcome in plan.routes:
            assert machine_hop(flow, f"s_{step_id}", outcome) != f"s_{step_id}"


def test_skip_if_runs_in_the_statechart_with_the_call_scope(loaded: Loaded) -> None:
    flow = loaded.registry.current("idv")
    assert "e_by_ani" not in flow.settled_states
    assert "s_by_ani" in flow.settled_states  # its outcomes are not re-checked against skip_if
    on = flow.advance("s_welcome", "done", {"settings": {"identify_by_ani": True}}, {})
    off = flow.advance("s_welcome", "done", {"settings": {"identify_by_ani": False}}, {})
    assert on == ("s_by_ani", [])
    assert off == ("s_account_number", [("skipped", "s_by_ani", "s_account_number")])


def test_a_flow_whose_steps_cannot_leave_is_refused(loaded: Loaded) -> None:
    flow = FlowFile.model_validate(
        {
            "schema_version": 1,
            "flow": {"id": "stuck", "version": "1", "languages": ["en-GB"]},
            "steps": [
                {
                    "step": "a",
                    "menu": {"prompt": "welcome", "choices": {"1": "b"}},
                    "outcomes": {"max_attempts": "b"},
                },
                {
                    "step": "b",
                    "menu": {"prompt": "welcome", "choices": {"1": "a"}},
                    "outcomes": {"max_attempts": "a"},
                },
            ],
        }
    )
    with pytest.raises(CompileError, match="no way out"):
        compile_flow(flow)


def test_machine_state_ids_cannot_clash_with_library_attributes(loaded: Loaded) -> None:
    context = ValidationContext(catalog=loaded.catalog, config=loaded.config)
    text = """schema_version: 1
flow: {id: clash, version: "1", languages: [en-GB]}
steps:
  - step: send
    menu: {prompt: welcome, choices: {"1": model}}
    outcomes: {max_attempts: route.agent}
  - step: model
    play: welcome
    next: route.agent
"""
    flow = load_flow_text(text, "clash.yaml", context)
    compiled = compile_flow(flow.flow, flow.path, flow.step_lines)
    assert machine_hop(compiled, "s_send", "key_1") == "s_model"


def test_a_changed_flow_must_bump_its_version(loaded: Loaded) -> None:
    from ivr.engine.registry import FlowRegistry, VersionConflict

    context = ValidationContext(catalog=loaded.catalog, config=loaded.config)
    text = (ROOT_FLOWS / "idv.yaml").read_text(encoding="utf-8")
    registry = FlowRegistry()
    first = load_flow_text(text, "idv.yaml", context)
    registry.add(compile_flow(first.flow, first.path, first.step_lines))
    registry.add(compile_flow(first.flow, first.path, first.step_lines))  # same content: fine
    changed = load_flow_text(text.replace("max_attempts: 3", "max_attempts: 2"), "x", context)
    with pytest.raises(VersionConflict, match="bump flow.version"):
        registry.add(compile_flow(changed.flow, changed.path, changed.step_lines))
    bumped = load_flow_text(
        text.replace("max_attempts: 3", "max_attempts: 2").replace('version: "1"', 'version: "2"'),
        "x",
        context,
    )
    registry.add(compile_flow(bumped.flow, bumped.path, bumped.step_lines))
    assert registry.current("idv").version == "2"
    assert registry.version("idv", "1").flow.defaults.max_attempts == 3
