"""When an event overruns the webhook's budget: the caller still goes somewhere.

The engine does the work (`Engine.route_to_agent`, synchronous so it cannot overrun too);
these helpers give the call core a state to end when the first event never finished.
"""

from __future__ import annotations

from ivr.engine.events import CallStarted
from ivr.engine.runtime import Engine, Turn
from ivr.engine.state import CallState


def new_state(engine: Engine, event: CallStarted) -> CallState:
    """The state a call would have had, for a call whose first event overran."""
    return engine.new_call_state(event)


def to_agent(engine: Engine, state: CallState, reason: str) -> Turn:
    """End the call with a transfer to the agent route, journalled with `reason`."""
    return engine.route_to_agent(state, reason)
