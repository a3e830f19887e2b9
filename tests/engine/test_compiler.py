"""The routing tables compiled from a flow's definition agree with the StateChart built from it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.bootstrap import Loaded
from ivr.flow.compiler import (
    CompiledFlow,
    CompileError,
    _eventless_table,
    _static_routes,
    compile_flow,
    outcome_event,
)
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
    return library_advance(flow, state, outcome, scope, {})[0]


def library_advance(
    flow: CompiledFlow,
    state: str,
    outcome: str | None,
    scope: dict[str, Any],
    variables: dict[str, Any],
) -> tuple[str, list[tuple[str, str, str]]]:
    """What `advance` must answer: the library's own `send` on the shared instance."""
    machine, model = flow.machine()
    model.state, model.scope, model.variables, model.trace = state, scope, variables, []
    machine.send(outcome_event(outcome) if outcome is not None else "o__settle")
    return str(model.state), model.trace


SCOPES: list[dict[str, Any]] = [
    {"settings": {"identify_by_ani": True}},
    {"settings": {"identify_by_ani": False}},
    {},
    {"customer": {"verified": True}, "attempts": {"main_menu": 1}, "vars": {}},
    {"customer": {"verified": True}, "attempts": {"main_menu": 3}, "vars": {"route_to": "agent"}},
    {"settings": {"a": True, "b": True, "c": True}, "vars": {"tag": "x"}},
    {"settings": {"a": False, "b": True, "c": False}, "vars": {}},
    {"settings": {"a": True, "b": False, "c": False}, "vars": {"n": 4}},
]

# Chains of eventless transitions: set -> decide (first holding branch wins) -> skip_if -> ...
CHAINS = """schema_version: 1
flow: {id: chains, version: "1", languages: [en-GB]}
steps:
  - step: start
    set: {n: "vars.n + 1", tag: "'x'", flag: true}
    next: pick
  - step: pick
    decide:
      - if: vars.tag == 'x' and settings.a
        then: first
      - if: settings.a or settings.b
        then: second
      - if: vars.n > 3
        then: third
    else: menu
  - step: first
    skip_if: settings.b
    play: welcome
    next: second
  - step: second
    skip_if: settings.c
    menu: {prompt: welcome, choices: {"1": third, "2": route.agent}}
    outcomes: {max_attempts: route.agent}
  - step: third
    set: {done: "vars.flag"}
    next: menu
  - step: menu
    skip_if: vars.done and settings.c
    menu: {prompt: welcome, choices: {"1": again, "2": route.agent}}
    outcomes: {max_attempts: route.agent}
  - step: again
    menu: {prompt: welcome, choices: {"1": start, "2": pick, "3": first}}
    outcomes: {max_attempts: route.agent}
"""


def compiled(loaded: Loaded, text: str, name: str) -> CompiledFlow:
    context = ValidationContext(catalog=loaded.catalog, config=loaded.config)
    flow = load_flow_text(text, name, context)
    return compile_flow(flow.flow, flow.path, flow.step_lines)


def every_flow(loaded: Loaded) -> list[CompiledFlow]:
    """The real ID&V flow, a large generated one, every step kind, and eventless chains."""
    all_kinds = (ROOT / "tests" / "flow" / "all_kinds.yaml").read_text(encoding="utf-8")
    return [
        compiled(loaded, (ROOT_FLOWS / "idv.yaml").read_text(encoding="utf-8"), "idv.yaml"),
        big_flow(loaded),
        compiled(loaded, all_kinds, "all_kinds.yaml"),
        compiled(loaded, CHAINS, "chains.yaml"),
    ]


def outcomes_of(flow: CompiledFlow) -> list[str | None]:
    """Every outcome any state of the flow has a transition for, and None (no outcome)."""
    return [None, *sorted({outcome for _state, outcome in flow.static_routes})]


def states_of(flow: CompiledFlow) -> list[str]:
    return sorted(flow.settled_states | flow.eventless.keys())


def assert_table_is_the_library(
    flow: CompiledFlow,
    state: str,
    outcome: str | None,
    scope: dict[str, Any],
    variables: dict[str, Any],
) -> None:
    """Same state, trace, variables and scope from the table as from the library's `send`."""
    ours_scope, ours_vars = copy.deepcopy(scope), copy.deepcopy(variables)
    theirs_scope, theirs_vars = copy.deepcopy(scope), copy.deepcopy(variables)
    ours = flow.advance(state, outcome, ours_scope, ours_vars)
    theirs = library_advance(flow, state, outcome, theirs_scope, theirs_vars)
    case = (flow.flow_id, state, outcome, scope, variables)
    assert ours == theirs, case
    assert (ours_scope, ours_vars) == (theirs_scope, theirs_vars), case


def test_every_state_and_outcome_routes_as_the_statechart_does(loaded: Loaded) -> None:
    for flow in every_flow(loaded):
        assert flow.static_routes
        assert flow.settled_states
        for state in states_of(flow):
            for outcome in outcomes_of(flow):
                for scope in SCOPES:
                    assert_table_is_the_library(flow, state, outcome, scope, {})


def test_a_plain_hop_is_what_advance_answers_when_no_guard_runs(loaded: Loaded) -> None:
    for flow in every_flow(loaded):
        for state in states_of(flow):
            for outcome in outcomes_of(flow):
                hop = flow.plain_hop(state, outcome)
                routed = flow.advance(state, outcome, {}, {})
                if hop is not None:
                    assert routed == (hop, []), (state, outcome)
                else:  # a guard or an action runs on the way
                    assert state in flow.eventless or routed[1] or routed[0] != state
    idv = every_flow(loaded)[0]
    assert idv.plain_hop("s_welcome", "done") is None  # into by_ani's skip_if
    assert idv.plain_hop("s_account_number", "found") == "s_date_of_birth"
    assert idv.plain_hop("s_account_number", None) == "s_account_number"


def test_the_tables_cover_every_kind_of_eventless_transition(loaded: Loaded) -> None:
    idv, _big, all_kinds, chains = every_flow(loaded)
    assert idv.static_routes[("s_welcome", "done")] == "e_by_ani"
    assert [hop.target for hop in idv.eventless["e_by_ani"]] == ["s_account_number", "s_by_ani"]
    assert {
        "e_by_ani",
        "s_check",
        "s_remember",
    } <= idv.eventless.keys() | all_kinds.eventless.keys()
    assert len(chains.eventless["s_pick"]) == 4  # three guarded branches and the else


def test_routing_a_call_never_runs_the_library(loaded: Loaded) -> None:
    for flow in every_flow(loaded):
        for state in states_of(flow):
            for outcome in outcomes_of(flow):
                for scope in SCOPES:
                    flow.advance(state, outcome, copy.deepcopy(scope), {})
        assert flow._machine is None  # the shared instance is built on first use only


scope_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 6), st.sampled_from(["x", "agent"])
)
namespace = st.dictionaries(
    st.sampled_from(
        [
            "identify_by_ani",
            "a",
            "b",
            "c",
            "verified",
            "main_menu",
            "n",
            "tag",
            "route_to",
            "done",
            "flag",
        ]
    ),
    scope_values,
    max_size=6,
)
scopes = st.fixed_dictionaries(
    {},
    optional={
        "settings": namespace,
        "customer": namespace,
        "attempts": namespace,
        "vars": namespace,
    },
)


def test_generated_scopes_route_as_the_statechart_does(loaded: Loaded) -> None:
    flows = [flow for flow in every_flow(loaded) if flow.flow_id != "big"]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), scope=scopes, variables=namespace)
    def check(data: st.DataObject, scope: dict[str, Any], variables: dict[str, Any]) -> None:
        flow = data.draw(st.sampled_from(flows))
        state = data.draw(st.sampled_from(states_of(flow)))
        outcome = data.draw(st.sampled_from(outcomes_of(flow)))
        assert_table_is_the_library(flow, state, outcome, scope, variables)

    check()


def test_a_hop_into_a_skippable_step_takes_its_guard_from_the_table(loaded: Loaded) -> None:
    flow = loaded.registry.current("idv")
    assert flow.static_routes[("s_welcome", "done")] == "e_by_ani"
    assert "e_by_ani" not in flow.settled_states
    guard = flow.eventless["e_by_ani"][0].guard
    assert guard is not None
    assert guard.__name__ == "holds(not settings.identify_by_ani)"


def test_every_routed_outcome_has_a_transition_in_the_statechart(loaded: Loaded) -> None:
    flow = loaded.registry.current("idv")
    for step_id, plan in flow.plans.items():
        for outcome in plan.routes:
            assert machine_hop(flow, f"s_{step_id}", outcome) != f"s_{step_id}"


def test_skip_if_is_checked_with_the_call_scope(loaded: Loaded) -> None:
    flow = loaded.registry.current("idv")
    assert "e_by_ani" not in flow.settled_states
    assert "s_by_ani" in flow.settled_states  # its outcomes are not re-checked against skip_if
    on = flow.advance("s_welcome", "done", {"settings": {"identify_by_ani": True}}, {})
    off = flow.advance("s_welcome", "done", {"settings": {"identify_by_ani": False}}, {})
    assert on == ("s_by_ani", [])
    assert off == ("s_account_number", [("skipped", "s_by_ani", "s_account_number")])


def test_set_writes_variables_and_the_scope_along_a_chain(loaded: Loaded) -> None:
    chains = every_flow(loaded)[3]
    variables: dict[str, Any] = {"n": 3}
    scope: dict[str, Any] = {"settings": {"a": False, "b": False, "c": True}, "vars": variables}
    state, trace = chains.advance("s_again", "key_1", scope, variables)
    assert state == "s_again"  # start, pick (n is now 4), third, menu skipped, again
    assert variables == {"n": 4, "tag": "x", "flag": True, "done": True}
    assert trace == [
        ("set", "s_start", "s_pick"),
        ("decided", "s_pick", "s_third"),
        ("set", "s_third", "e_menu"),
        ("skipped", "s_menu", "s_again"),
    ]


def test_eventless_transitions_that_loop_are_refused() -> None:
    flow = FlowFile.model_validate(
        {
            "schema_version": 1,
            "flow": {"id": "loop", "version": "1", "languages": ["en-GB"]},
            "steps": [
                {"step": "a", "decide": [{"if": "vars.x", "then": "hangup"}], "else": "b"},
                {"step": "b", "set": {"x": "vars.y"}, "next": "a"},
                {"step": "c", "hangup": {}},
            ],
        }
    )
    with pytest.raises(CompileError, match="eventless transitions loop: s_a -> s_b -> s_a"):
        compile_flow(flow)


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


def test_a_transition_the_tables_cannot_run_is_refused() -> None:
    guarded_outcome = {"s_a": {"on": {"o_x": [{"target": "s_b", "cond": bool}]}}}
    with pytest.raises(CompileError, match="not a plain hop"):
        _static_routes(guarded_outcome)
    named_guard = {"s_a": {"transitions": [{"target": "s_b", "cond": "is_ready"}]}}
    with pytest.raises(CompileError, match="not a Python callable"):
        _eventless_table(named_guard)
