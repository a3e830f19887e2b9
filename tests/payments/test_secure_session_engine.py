"""Secure sessions in the engine, without a server: what brings the caller over, what the
processor is told, and where the caller goes when something fails."""

from __future__ import annotations

import pytest

from ivr.calls.pipeline import CallPipeline
from ivr.engine import secure_session
from ivr.engine.actions import Transfer
from ivr.engine.events import (
    CallStarted,
    DigitsCollected,
    HungUp,
    PromptFinished,
    TransferResult,
)
from ivr.engine.runtime import Engine, Turn
from ivr.engine.secure_session import SecureRequest
from ivr.engine.state import CallState
from ivr.payments.processor import ChargeRequest, ChargeResult
from ivr.payments.test_processor import TestProcessor
from ivr.sessions.base import ENDED_TTL_S
from ivr.sessions.memory import MemorySessionStore
from tests.payments.conftest import EngineFactory

CARDS_LINE = "+441134960001"


class Recording(TestProcessor):
    """The test processor, keeping what each charge was told (never the card)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ChargeRequest] = []

    async def charge(self, token: str, request: ChargeRequest) -> ChargeResult:
        self.requests.append(request)
        return await super().charge(token, request)


async def with_agent(engine: Engine, description: str | None = None) -> CallState:
    """A call on the cards line sent to the agent queue (`*`: no account number), then a
    pending secure session on it."""
    turn = await engine.start_call(CallStarted("c1", None, CARDS_LINE))
    turn = await engine.handle(turn.state, DigitsCollected("c1", "*"))
    state = turn.state
    assert secure_session.with_agent(state)
    secure_session.check_startable(state)
    asked = SecureRequest("12.00", "GBP", "agent", "INV-7", description)
    secure_session.request_session(Turn(state), asked, 1.0)
    return state


def transfer(turn: Turn) -> Transfer:
    [found] = [a for a in turn.actions if isinstance(a, Transfer)]
    return found


async def test_the_agents_description_goes_to_the_processor(make_engine: EngineFactory) -> None:
    processor = Recording()
    engine = make_engine(processor)
    state = await with_agent(engine, description="Arrears for March")
    turn = await engine.handle(state, PromptFinished("c1"))
    for keys in ("4111111111111111#", "1235#", "123#"):
        turn = await engine.handle(turn.state, DigitsCollected("c1", keys))
    assert transfer(turn).handoff["payment_outcome"] == "paid"
    assert [r.description for r in processor.requests] == ["Arrears for March"]
    assert processor.requests[0].amount_minor == 1200


async def test_without_a_description_the_flows_own_is_sent(make_engine: EngineFactory) -> None:
    processor = Recording()
    engine = make_engine(processor)
    turn = await engine.handle(await with_agent(engine), PromptFinished("c1"))
    for keys in ("4111111111111111#", "1235#", "123#"):
        turn = await engine.handle(turn.state, DigitsCollected("c1", keys))
    assert processor.requests[0].description == "Example Bank card payment taken for an adviser"


async def test_a_status_report_does_not_bring_the_caller_over(make_engine: EngineFactory) -> None:
    engine = make_engine()
    state = await with_agent(engine)
    status = TransferResult("c1", "status:in-progress")
    assert not engine.wants_after_end(state, status)
    turn = await engine.handle(state, status)
    assert turn.actions == []
    assert turn.state.secure is not None
    assert turn.state.secure["status"] == "pending"
    assert engine.wants_after_end(state, TransferResult("c1", "returned"))


async def test_an_overrun_sends_the_caller_back_to_the_sessions_route(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    state = await with_agent(engine)
    assert state.secure is not None
    session_id = state.secure["id"]
    turn = engine.route_to_agent(state, "response deadline")
    moved = transfer(turn)
    assert (moved.route_name, moved.target) == ("agent", "general")
    assert moved.handoff["payment_outcome"] == "error"
    assert moved.handoff["secure_session"] == session_id
    assert turn.state.secure is not None
    assert turn.state.secure["status"] == "error"


async def test_a_missing_secure_flow_sends_the_caller_back_with_an_error(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secure_session, "SECURE_FLOW", "no_such_flow")
    engine = make_engine()
    turn = await engine.handle(await with_agent(engine), PromptFinished("c1"))
    moved = transfer(turn)
    assert (moved.route_name, moved.target) == ("agent", "general")
    assert moved.handoff["payment_outcome"] == "error"
    assert turn.state.ended_by == "route"


def test_a_call_with_an_agent_is_kept_as_long_as_a_live_call() -> None:
    class Engines:
        engine: Engine

    pipeline = CallPipeline(
        Engines(), MemorySessionStore(), None,
        response_deadline_s=1.0, lock_wait_s=1.0, session_ttl_s=3600,
    )  # fmt: skip
    state = CallState("c1", "idv", "1", "cards", "en-GB", None, None, "unknown")
    assert pipeline._ttl(state) == 3600  # in the IVR
    state.ended_by, state.route = "route", {"kind": "agent", "name": "agent", "target": "general"}
    assert pipeline._ttl(state) == 3600  # with an agent: a secure session may still come
    state.gone = True
    assert pipeline._ttl(state) == ENDED_TTL_S  # hung up
    state.gone, state.route = False, {"kind": "self_service", "name": "x", "target": "y"}
    assert pipeline._ttl(state) == ENDED_TTL_S  # handed on elsewhere


async def test_a_pending_session_abandoned_never_reports_the_ivrs_own_payment(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine()
    turn = await engine.start_call(CallStarted("c1", None, "+441134960003"))  # flows/payments
    for keys in ("4111111111111111#", "1235#", "123#"):
        turn = await engine.handle(turn.state, DigitsCollected("c1", keys))
    assert transfer(turn).handoff["payment_outcome"] == "paid"  # paid in the IVR, to an agent
    state = turn.state
    asked = SecureRequest("12.00", "GBP", "agent")
    secure_session.request_session(Turn(state), asked, 1.0)
    assert engine.wants_after_end(state, HungUp("c1"))
    turn = await engine.handle(state, HungUp("c1"))
    assert turn.state.gone
    assert turn.state.secure is not None
    assert turn.state.secure["status"] == "abandoned"
    assert turn.state.secure["result"] == {
        "payment_outcome": "abandoned",
        "card_brand": None,
        "card_last4": None,
        "payment_reference": None,
    }
    with pytest.raises(secure_session.Refused, match="ended"):
        secure_session.check_startable(turn.state)


async def test_a_call_in_a_language_the_payment_flow_lacks_still_pays(
    make_engine: EngineFactory,
) -> None:
    """A Welsh callback with an agent: the secure_payment flow is in English only, so the
    payment is taken in English (it failed with an error before, and could never be taken)."""
    processor = Recording()
    engine = make_engine(processor)
    state = await with_agent(engine)
    state.language = "cy-GB"
    turn = await engine.handle(state, PromptFinished("c1"))
    assert turn.state.language == "en-GB"
    for keys in ("4111111111111111#", "1235#", "123#"):
        turn = await engine.handle(turn.state, DigitsCollected("c1", keys))
    assert transfer(turn).handoff["payment_outcome"] == "paid"
