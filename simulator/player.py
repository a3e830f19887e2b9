"""Play one call through a driver with a caller (scripted or at the keyboard).

The result is the simulator's JSON contract: flow, version, ID&V status, customer, route,
handoff, prompts played in order, attempts per step, and how the call ended. The transcript
(what the caller heard, pressed, and the silences) feeds `--record`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ivr.engine.actions import Action, CollectDigits, Hangup, Play, PromptRef, Transfer
from simulator.driver import CallDriver, CallSummary
from simulator.script import CallerStep

MAX_TURNS = 1000  # a caller script can't keep a call alive for ever


@dataclass(frozen=True, slots=True)
class HeardPrompt:
    prompt: PromptRef
    while_collecting: bool  # keys pressed during it cut it short when barge-in is on
    barge_in: bool


@dataclass(frozen=True, slots=True)
class PressedKeys:
    keys: str
    secure: bool = False  # card digits: a recording writes silence, never their tones


@dataclass(frozen=True, slots=True)
class Silence:
    seconds: float


TranscriptItem = HeardPrompt | PressedKeys | Silence
Caller = Callable[[CollectDigits], Awaitable[CallerStep | None]]


@dataclass
class CallOutcome:
    summary: CallSummary
    ended_by: Literal["route", "hangup"]
    transfer: Transfer | None
    prompts: list[str] = field(default_factory=list)
    transcript: list[TranscriptItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        route: dict[str, Any]
        if self.transfer is not None and self.ended_by == "route":
            route = {"kind": self.transfer.kind.value, "target": self.transfer.target}
            handoff = dict(self.transfer.handoff)
        else:
            route = {"kind": "hangup", "target": None}
            handoff = {}
        return {
            "flow": self.summary.flow,
            "flow_version": self.summary.flow_version,
            "idv_status": self.summary.idv_status,
            "customer_id": self.summary.customer_id,
            "route": route,
            "handoff": handoff,
            "prompts": list(self.prompts),
            "attempts": dict(self.summary.attempts),
            "ended_by": self.ended_by,
        }


async def play_call(
    driver: CallDriver,
    caller: Caller,
    *,
    ani: str | None,
    dnis: str | None,
    trust: str = "unknown",
    call_id: str | None = None,
    on_actions: Callable[[Sequence[Action]], None] | None = None,
) -> CallOutcome:
    """Run the call until it is routed or hung up; the caller answers every collect."""
    prompts: list[str] = []
    transcript: list[TranscriptItem] = []

    def took(actions: Sequence[Action]) -> tuple[Transfer | None, bool, CollectDigits | None]:
        if on_actions is not None:
            on_actions(actions)
        transfer: Transfer | None = None
        hung_up = False
        collect: CollectDigits | None = None
        for action in actions:
            if isinstance(action, Play | CollectDigits):
                is_collect = isinstance(action, CollectDigits)
                for prompt in action.prompts:
                    prompts.append(prompt.prompt_id)
                    transcript.append(HeardPrompt(prompt, is_collect, action.barge_in))
                if isinstance(action, CollectDigits):
                    collect = action
            elif isinstance(action, Transfer):
                transfer = action
            elif isinstance(action, Hangup):
                hung_up = True
        return transfer, hung_up, collect

    actions = await driver.start(call_id or uuid.uuid4().hex, ani, dnis, trust)
    ended_by: Literal["route", "hangup"] = "hangup"
    transfer: Transfer | None = None
    for _ in range(MAX_TURNS):
        transfer, hung_up, collect = took(actions)
        if transfer is not None:
            ended_by = "route"
            break
        if hung_up or collect is None:
            break
        step = await caller(collect)
        if step is None or step.kind == "hangup":
            took(await driver.hang_up())
            break
        if step.kind == "timeout":
            transcript.append(Silence(collect.timeout_s))
            actions = await driver.no_input()
        else:
            transcript.append(PressedKeys(step.keys, collect.secure))
            actions = await driver.press(step.keys)
    else:
        took(await driver.hang_up())
    summary = await driver.summary()
    return CallOutcome(summary, ended_by, transfer, prompts, transcript)


def scripted(steps: Sequence[CallerStep]) -> Caller:
    """A caller who follows `steps` and hangs up when they run out."""
    remaining = list(steps)

    async def next_step(_collect: CollectDigits) -> CallerStep | None:
        return remaining.pop(0) if remaining else None

    return next_step
