"""Route a call to an agent when the engine could not answer in time.

The engine routes on its own when an operation misses its deadline; this is the server's
last resort when the whole event overran the webhook budget (several slow operations, a
stuck lock). It uses the engine's public pieces: the service line's `agent` route and the
hand-off builder, and journals why the call left.
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.config import ConfigError
from ivr.engine.actions import RouteKind, Transfer
from ivr.engine.events import CallStarted
from ivr.engine.handoff import build_handoff, status_when_unrouted
from ivr.engine.runtime import Engine, Turn
from ivr.engine.state import CallState
from ivr.journal.records import JournalRecord, RecordKind

_log = logging.getLogger(__name__)


def new_state(engine: Engine, event: CallStarted) -> CallState:
    """The state a call would have had, for a call whose first event overran."""
    return engine.new_call_state(event)


def to_agent(engine: Engine, state: CallState, reason: str) -> Turn:
    """End the call with a transfer to the agent route, journalled with `reason`."""
    turn = Turn(state)
    name, target = "fallback", "agent"
    try:
        line = engine.config.service_line(state.service_line)
        name, route = engine.config.resolve_route(engine.settings.fallback_route, line)
        target = route.target
    except ConfigError:
        _log.warning("no agent route configured; using the adapter's default")
    if state.idv_status is None:
        state.idv_status = status_when_unrouted(state)
    handoff = build_handoff(state, ["idv_status"], None)
    records: list[tuple[RecordKind, str | None, dict[str, Any]]] = []
    if state.seq == 0:  # the call's first event overran: it still started
        records.append((RecordKind.CALL_STARTED, None, {"service_line": state.service_line}))
    turn.actions.append(Transfer(RouteKind.AGENT, target, name, handoff))
    state.route = {"kind": RouteKind.AGENT.value, "name": name, "target": target}
    state.ended_by = "route"
    records += [
        (RecordKind.STEP_OUTCOME, "fallback", {"reason": reason}),
        (RecordKind.IDV_STATUS, state.idv_status, {"customer_id": state.customer_id}),
        (RecordKind.ROUTED, RouteKind.AGENT.value, {"route": name, "target": target}),
        (RecordKind.CALL_ENDED, "route", {}),
    ]
    for kind, outcome, data in records:
        turn.records.append(
            JournalRecord(
                call_id=state.call_id,
                seq=state.seq,
                at=engine.clock(),
                kind=kind,
                flow_id=state.flow_id,
                flow_version=state.flow_version,
                service_line=state.service_line,
                step=state.step,
                outcome=outcome,
                data=data,
            )
        )
        state.seq += 1
    return turn
