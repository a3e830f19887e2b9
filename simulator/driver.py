"""A call driver: how the simulator talks to an engine, in process or over HTTP.

The console, the scripted replay and the `*.test.yaml` runner all drive calls through this
interface, so the same cases run in process and through every gateway adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivr.engine.actions import Action


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What the engine knows of a call at its end (no secrets)."""

    flow: str
    flow_version: str
    idv_status: str | None
    customer_id: str | None
    attempts: dict[str, int] = field(default_factory=dict)
    # fields this protocol cannot report (Twilio's answer to a hang-up carries no status)
    unobservable: frozenset[str] = frozenset()


class CallDriver(Protocol):
    async def start(
        self, call_id: str, ani: str | None, dnis: str | None, trust: str
    ) -> Sequence[Action]:
        """Place the call; returns the first actions (prompts, collect...)."""
        ...

    async def press(self, digits: str) -> Sequence[Action]:
        """The caller keyed `digits` (terminator included if they pressed it)."""
        ...

    async def no_input(self) -> Sequence[Action]: ...

    async def hang_up(self) -> Sequence[Action]: ...

    async def summary(self) -> CallSummary: ...

    async def close(self) -> None: ...


def summary_dict(summary: CallSummary) -> dict[str, Any]:
    return {
        "flow": summary.flow,
        "flow_version": summary.flow_version,
        "idv_status": summary.idv_status,
        "customer_id": summary.customer_id,
        "attempts": dict(summary.attempts),
    }
