"""The runtime over the real idv flow and small inline flows."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from typing import Any

from ivr.bootstrap import Loaded
from ivr.engine.actions import CollectDigits, Hangup, Play, Transfer
from ivr.engine.events import CallerIdTrust, CallStarted, DigitsCollected, HungUp, NoInput
from ivr.engine.operations import OperationCall, OperationResult
from ivr.engine.registry import FlowRegistry
from ivr.engine.runtime import Engine, EngineSettings, Turn
from ivr.engine.state import CallState
from ivr.journal.records import RecordKind
from tests.engine.flows import HEADER, add_flow

DEMO_LINE = "+441134960000"
ALICE = "+447700900123"


async def play(engine: Engine, ani: str | None, keys: list[str], call_id: str = "c1") -> Turn:
    """Start a call and feed it keys ('t' no input, 'h' hang up); returns the last turn with
    every action and record of the call gathered on it."""
    turn = await engine.start_call(CallStarted(call_id, ani, DEMO_LINE))
    actions, records = list(turn.actions), list(turn.records)
    for key in keys:
        if key == "t":
            event: NoInput | HungUp | DigitsCollected = NoInput(call_id)
        elif key == "h":
            event = HungUp(call_id)
        else:
            event = DigitsCollected(call_id, key)
        turn = await engine.handle(turn.state, event)
        actions += turn.actions
        records += turn.records
    return Turn(turn.state, actions, records)


def transfer_of(turn: Turn) -> Transfer:
    transfers = [a for a in turn.actions if isinstance(a, Transfer)]
    assert len(transfers) == 1
    return transfers[0]


async def test_known_caller_verified_is_routed_by_the_service_line(engine: Engine) -> None:
    turn = await play(engine, ALICE, ["01021980#"])
    transfer = transfer_of(turn)
    assert turn.state.idv_status == "identified_and_verified"
    assert transfer.route_name == "self_service"
    assert transfer.handoff["customer_id"] == "C1001"
    assert transfer.handoff["idv_token"]
    assert turn.state.ended_by == "route"


async def test_first_prompt_asks_for_the_date_of_birth_without_an_identifier(
    engine: Engine,
) -> None:
    turn = await engine.start_call(CallStarted("c1", ALICE, DEMO_LINE))
    collect = turn.actions[-1]
    assert isinstance(collect, CollectDigits)
    assert [p.prompt_id for p in collect.prompts] == ["ask_date_of_birth"]
    assert (collect.min_digits, collect.max_digits, collect.term_key) == (8, 8, "#")
    assert collect.dont_have_key == "*"
    assert (collect.timeout_s, collect.inter_digit_timeout_s) == (5.0, 3.0)


async def test_retry_prompts_follow_what_went_wrong(engine: Engine) -> None:
    turn = await play(engine, None, ["1#", "t", "2#"])
    heard = [p.prompt_id for a in turn.actions if isinstance(a, CollectDigits) for p in a.prompts]
    assert heard == [
        "ask_account_number",
        "ask_account_number_invalid",  # too short
        "ask_account_number_no_input",  # silence: never "that didn't match" (issue 13)
    ]
    assert turn.state.attempts["account_number"] == 3
    assert turn.state.idv_status == "not_identified"


async def test_attempts_reset_when_a_step_is_entered_again(loaded: Loaded, engine: Engine) -> None:
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="loop", version="1")
        + """steps:
  - step: pick
    menu: {prompt: welcome, choices: {"1": again, "2": route.agent}}
    max_attempts: 2
    outcomes: {max_attempts: route.agent}
  - step: again
    play: goodbye
    next: pick
""",
        "loop",
    )
    engine.flows = registry
    turn = await engine.start_call(CallStarted("c1", None, DEMO_LINE), flow_id="loop")
    state = turn.state
    await engine.handle(state, NoInput("c1"))
    assert state.attempts["pick"] == 2
    await engine.handle(state, DigitsCollected("c1", "1"))
    assert state.attempts["pick"] == 1  # re-entered: counting starts again
    assert not state.ended


async def test_a_runaway_loop_is_stopped_by_the_step_budget(loaded: Loaded, engine: Engine) -> None:
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="spin", version="1")
        + """steps:
  - step: pick
    menu: {prompt: welcome, choices: {"1": again}}
    outcomes: {max_attempts: route.agent}
  - step: again
    play: goodbye
    next: pick
""",
        "spin",
    )
    engine.flows = registry
    engine.settings = EngineSettings(step_budget=20)
    turn = await engine.start_call(CallStarted("c1", None, DEMO_LINE), flow_id="spin")
    state = turn.state
    for _ in range(50):
        if state.ended:
            break
        last = await engine.handle(state, DigitsCollected("c1", "1"))
    assert state.ended_by == "route"
    assert state.route is not None
    assert state.route["name"] == "agent"
    assert any(r.outcome == "fallback" for r in last.records)


async def test_decide_set_and_a_called_flow_that_returns(loaded: Loaded, engine: Engine) -> None:
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="sub", version="1")
        + """steps:
  - step: ask_choice
    menu: {prompt: welcome, choices: {"1": return.yes, "2": return.no}}
    outcomes: {max_attempts: return.no}
""",
        "sub",
    )
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="main", version="1")
        + """steps:
  - step: mark
    set: {tries: 1}
  - step: branch
    decide:
      - {if: "vars.tries == 1 and settings.identify_by_ani", then: confirm}
    else: hangup
  - step: confirm
    call_flow: sub
    outcomes: {"yes": route.main_menu, "no": route.agent}
""",
        "main",
    )
    engine.flows = registry
    turn = await engine.start_call(CallStarted("c1", None, DEMO_LINE), flow_id="main")
    state = turn.state
    assert state.flow_id == "sub"
    assert state.variables["tries"] == 1
    decided = [r for r in turn.records if r.step == "branch" and r.outcome == "decided"]
    assert decided
    done = await engine.handle(state, DigitsCollected("c1", "1"))
    assert state.flow_id == "main"
    assert transfer_of(done).route_name == "main_menu"
    assert any(r.step == "confirm" and r.outcome == "yes" for r in done.records)


async def test_a_flow_cannot_hand_over_a_caller_as_verified_without_proof(
    loaded: Loaded, engine: Engine
) -> None:
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="liar", version="1")
        + """identify:
  - step: by_ani
    uses: directory.lookup_by_ani
    outcomes: {found: result.identified_and_verified, not_found: result.identified_and_verified,
               many: result.not_identified, error: result.not_identified}
results:
  identified_and_verified: {route: after_verification, handoff: [idv_status, customer_id]}
  not_identified: {route: agent}
""",
        "liar",
    )
    engine.flows = registry
    known = await engine.start_call(CallStarted("c1", ALICE, DEMO_LINE), flow_id="liar")
    assert known.state.idv_status == "identified_only"
    unknown = await engine.start_call(CallStarted("c2", None, DEMO_LINE), flow_id="liar")
    assert unknown.state.idv_status == "not_identified"
    assert "customer_id" not in transfer_of(unknown).handoff


async def test_an_event_after_the_end_or_out_of_turn_changes_nothing(engine: Engine) -> None:
    turn = await play(engine, ALICE, ["01021980#"])
    before = dataclasses.asdict(turn.state)
    again = await engine.handle(turn.state, DigitsCollected("c1", "01021980#"))
    assert again.actions == []
    assert again.records == []
    assert dataclasses.asdict(turn.state) == before


async def test_caller_hang_up_ends_the_call_with_what_is_known(engine: Engine) -> None:
    turn = await play(engine, ALICE, ["h"])
    assert turn.state.ended_by == "hangup"
    assert turn.state.idv_status == "identified_only"
    kinds = [r.kind for r in turn.records]
    assert kinds[-2:] == [RecordKind.HANGUP, RecordKind.CALL_ENDED]


async def test_directory_that_hangs_routes_the_caller_to_an_agent(engine: Engine) -> None:
    async def hang(_call: OperationCall) -> OperationResult:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    engine.operations.implementations["directory.lookup_by_account"] = hang
    engine.settings = EngineSettings(operation_deadline_s=0.05)
    turn = await play(engine, None, ["12345678#"])
    assert turn.state.idv_status == "not_identified"
    assert transfer_of(turn).route_name == "agent"
    operation = [r for r in turn.records if r.kind is RecordKind.OPERATION][-1]
    assert (operation.outcome, operation.data["detail"]) == ("error", "deadline")


async def test_an_engine_error_routes_to_an_agent_never_silence(engine: Engine) -> None:
    async def broken(_call: OperationCall) -> OperationResult:
        return OperationResult("no-such-outcome")

    engine.operations.implementations["verify.answer"] = broken
    turn = await play(engine, ALICE, ["01021980#"])
    assert transfer_of(turn).route_name == "agent"
    assert turn.state.idv_status == "identified_only"


async def test_collected_secrets_never_reach_the_journal(engine: Engine) -> None:
    turn = await play(engine, None, ["12345678#", "31121999#", "01021980#"])
    journal = json.dumps([dataclasses.asdict(r) for r in turn.records], default=str)
    for secret in ("31121999", "01021980", "12345678"):
        assert secret not in journal
    lengths = [r.data["length"] for r in turn.records if r.kind is RecordKind.INPUT]
    assert lengths == [8, 8, 8]


async def test_two_calls_interleaved_on_one_shared_machine_keep_their_own_state(
    engine: Engine,
) -> None:
    first = (await engine.start_call(CallStarted("a", ALICE, DEMO_LINE))).state
    second = (await engine.start_call(CallStarted("b", None, DEMO_LINE))).state
    await engine.handle(second, DigitsCollected("b", "23456789#"))
    await engine.handle(first, DigitsCollected("a", "99999999#"))
    await engine.handle(second, DigitsCollected("b", "15071975#"))
    assert second.idv_status == "identified_and_verified"
    assert second.customer_id == "C1002"
    assert first.state == "s_date_of_birth"
    assert first.attempts == {"date_of_birth": 2}


async def test_call_state_round_trips_through_plain_data(engine: Engine) -> None:
    turn = await engine.start_call(CallStarted("c1", ALICE, DEMO_LINE, CallerIdTrust.FULL))
    saved = json.loads(json.dumps(turn.state.to_dict()))
    restored = CallState.from_dict(saved)
    done = await engine.handle(restored, DigitsCollected("c1", "01021980#"))
    assert done.state.idv_status == "identified_and_verified"
    assert restored.caller_id_trust == "A"


async def test_play_then_collect_are_returned_together(engine: Engine) -> None:
    turn = await engine.start_call(CallStarted("c1", None, DEMO_LINE))
    assert [type(a) for a in turn.actions] == [Play, CollectDigits]


async def test_hangup_step_says_goodbye_and_hangs_up(loaded: Loaded, engine: Engine) -> None:
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="bye", version="1")
        + "steps:\n  - step: bye\n    hangup: {say: goodbye}\n",
        "bye",
    )
    engine.flows = registry
    turn = await engine.start_call(CallStarted("c1", None, DEMO_LINE), flow_id="bye")
    assert [type(a) for a in turn.actions] == [Play, Hangup]
    assert turn.state.ended_by == "hangup"


async def test_skip_if_is_checked_on_entry_only_not_when_the_outcome_arrives(
    loaded: Loaded, engine: Engine
) -> None:
    """The lookup identifies the caller, which makes its own skip_if true: its outcome must
    still be routed from it, not from the step after it."""
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="entry", version="1")
        + """identify:
  - step: by_ani
    uses: directory.lookup_by_ani
    skip_if: customer.identified
    outcomes: {found: route.main_menu, not_found: next, many: next, error: next}
  - step: pick
    menu: {prompt: welcome, choices: {"1": route.agent}}
    outcomes: {max_attempts: route.agent}
""",
        "entry",
    )
    engine.flows = registry
    turn = await engine.start_call(CallStarted("c1", ALICE, DEMO_LINE), flow_id="entry")
    assert transfer_of(turn).route_name == "main_menu"


async def test_ani_lookup_can_require_an_attestation_level(loaded: Loaded, engine: Engine) -> None:
    registry = FlowRegistry()
    add_flow(
        loaded,
        registry,
        HEADER.format(flow_id="trusted", version="1")
        + """identify:
  - step: by_ani
    uses: directory.lookup_by_ani
    with: {min_trust: A}
    outcomes: {found: route.main_menu, not_found: route.agent, many: route.agent,
               error: route.agent}
""",
        "trusted",
    )
    engine.flows = registry
    routes = {}
    for trust in (CallerIdTrust.FULL, CallerIdTrust.PARTIAL, CallerIdTrust.UNKNOWN):
        event = CallStarted(f"c-{trust.value}", ALICE, DEMO_LINE, trust)
        turn = await engine.start_call(event, flow_id="trusted")
        routes[trust] = transfer_of(turn).route_name
        assert turn.state.customer_id == ("C1001" if trust is CallerIdTrust.FULL else None)
    assert routes == {
        CallerIdTrust.FULL: "main_menu",
        CallerIdTrust.PARTIAL: "agent",
        CallerIdTrust.UNKNOWN: "agent",
    }


def test_call_state_from_dict_leaves_the_saved_data_as_it_was() -> None:
    """The call core loads the same saved data twice when an event overruns its deadline."""
    from ivr.engine.state import Frame

    state = CallState("c", "idv", "1", "demo", "en-GB", None, None, "A", attempts={"x": 2})
    for stack in ([], [Frame("outer", "1", "s_call")]):
        state.stack = stack
        saved = state.to_dict()
        kept = copy.deepcopy(saved)
        first, second = CallState.from_dict(saved), CallState.from_dict(saved)
        assert first == second == state
        first.stack.append(Frame("x", "1", "s_y"))
        assert saved == kept
        assert second.stack == stack


async def test_prompts_follow_a_replaced_catalogue_and_each_callers_name(engine: Engine) -> None:
    """Prompts without placeholders are resolved once per catalogue; named ones per call."""
    from ivr.engine.actions import PromptRef

    state = CallState("c", "idv", "1", "demo", "en-GB", None, None, "A")
    first = engine._prompts(state, ["welcome"])
    assert engine._prompts(state, ["welcome"]) == first

    class Replaced:
        def resolve(self, prompt_id: str, language: str, values: dict[str, str]) -> PromptRef:
            return PromptRef(prompt_id, f"{values['customer_name']} new", None)

        def get(self, prompt_id: str, language: str) -> Any:
            return type("Entry", (), {"placeholders": frozenset({"customer_name"})})()

    engine.catalog = Replaced()  # type: ignore[assignment]
    state.customer_name = "Alice"
    assert engine._prompts(state, ["welcome"])[0].text == "Alice new"
    state.customer_name = "Bob"
    assert engine._prompts(state, ["welcome"])[0].text == "Bob new"


async def test_numbers_are_masked_in_the_records_the_engine_writes(engine: Engine) -> None:
    """Masked at the source, so the live views (this process's and the others' through the live
    bus) show what the store keeps."""
    turn = await play(engine, ALICE, ["01021980#"])
    started = turn.records[0]
    assert started.kind is RecordKind.CALL_STARTED
    assert started.data["ani"] == "*********0123"
    assert started.data["dnis"].startswith("*")
    assert started.data["dnis"][-4:].isdigit()
    assert ALICE not in json.dumps([dataclasses.asdict(r) for r in turn.records], default=str)
