"""The in-process driver: the simulator talks to an Engine directly, no HTTP in between."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.engine.actions import Action
from ivr.engine.events import (
    CallerIdTrust,
    CallStarted,
    DigitsCollected,
    DigitsTermination,
    HungUp,
    NoInput,
)
from ivr.engine.runtime import Engine, Turn
from ivr.engine.state import CallState
from ivr.journal.records import JournalSink
from simulator.driver import CallSummary


class LocalDriver:
    def __init__(
        self,
        engine: Engine,
        flow_id: str | None = None,
        journal: JournalSink | None = None,
        context: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.context = context or {}  # a call the company placed (ivr.adapters.outbound)
        self.flow_id = flow_id
        self.journal = journal
        self.state: CallState | None = None

    async def start(
        self, call_id: str, ani: str | None, dnis: str | None, trust: str
    ) -> Sequence[Action]:
        event = CallStarted(call_id, ani, dnis, CallerIdTrust(trust), context=dict(self.context))
        return self._took(await self.engine.start_call(event, flow_id=self.flow_id))

    async def press(self, digits: str) -> Sequence[Action]:
        state = self._state()
        ended_by_key = bool(digits) and not digits[-1].isdigit()
        termination = DigitsTermination.TERM_KEY if ended_by_key else DigitsTermination.MAX_DIGITS
        event = DigitsCollected(state.call_id, digits, termination)
        return self._took(await self.engine.handle(state, event))

    async def no_input(self) -> Sequence[Action]:
        state = self._state()
        return self._took(await self.engine.handle(state, NoInput(state.call_id)))

    async def hang_up(self) -> Sequence[Action]:
        state = self._state()
        return self._took(await self.engine.handle(state, HungUp(state.call_id)))

    async def summary(self) -> CallSummary:
        state = self._state()
        return CallSummary(
            flow=state.flow_id,
            flow_version=state.flow_version,
            idv_status=state.idv_status,
            customer_id=state.customer_id,
            attempts=dict(state.attempts),
        )

    async def close(self) -> None:
        return None

    def _state(self) -> CallState:
        if self.state is None:
            raise RuntimeError("the call has not been started")
        return self.state

    def _took(self, turn: Turn) -> Sequence[Action]:
        self.state = turn.state
        if self.journal is not None and turn.records:
            self.journal.write(turn.records)
        return turn.actions
