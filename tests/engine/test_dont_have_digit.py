"""Issue 13: a `dont_have_key` that is a digit means "I don't have it" only as the whole entry;
an account number that starts with that digit is an account number."""

from __future__ import annotations

from ivr.bootstrap import Loaded
from ivr.engine.events import CallStarted, DigitsCollected
from ivr.engine.registry import FlowRegistry
from ivr.engine.runtime import Engine
from tests.engine.flows import HEADER, add_flow

FLOW = (
    HEADER.format(flow_id="zero", version="1")
    + """identify:
  - step: account_number
    ask: {prompt: ask_account_number, digits: {min: 8, max: 8}, dont_have_key: "0"}
    uses: directory.lookup_by_account
    outcomes: {found: result.identified_only, dont_have: result.not_identified,
               max_attempts: result.not_identified, error: result.not_identified}
results:
  identified_only: {route: agent, handoff: [idv_status, customer_id]}
  not_identified: {route: agent}
"""
)


async def _identify(engine: Engine, loaded: Loaded, keys: str, call_id: str) -> str | None:
    registry = FlowRegistry()
    for flow in loaded.flows.values():
        registry.add(loaded.registry.current(flow.flow.flow.id))
    add_flow(loaded, registry, FLOW, "zero")
    engine.flows = registry
    turn = await engine.start_call(CallStarted(call_id, None, None), flow_id="zero")
    turn = await engine.handle(turn.state, DigitsCollected(call_id, keys))
    return turn.state.idv_status


async def test_an_account_starting_with_the_key_is_an_account(
    engine: Engine, loaded: Loaded
) -> None:
    assert await _identify(engine, loaded, "0#", "z1") == "not_identified"  # the key alone
    # an entry that begins with the key is looked up (here: no such account, asked again),
    # not taken as "I don't have it"
    assert await _identify(engine, loaded, "01234567#", "z2") is None
    assert await _identify(engine, loaded, "12345678#", "z3") == "identified_only"
