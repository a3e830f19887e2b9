"""Playing a callback without a gateway: `ivr simulate --callback ID` and `ivr test` cases.

The callback is claimed exactly as the dispatcher claims it (dialling, attempt + 1, the dial
signature), the flow's operations are the real ones over the same store, and when the call is
over its end is reported as a gateway would (completed, or the attempt failed). The secret is
only put into the text shown to the person at the console.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ivr.adapters.outbound import outbound_context
from ivr.callbacks.operations import callback_operations
from ivr.callbacks.queue_stats import QueueStats
from ivr.callbacks.queues import Queues
from ivr.callbacks.reveal import marker
from ivr.callbacks.scheduler import Dispatcher
from ivr.callbacks.store import CallbackStore
from ivr.engine.operations import OperationRegistry

_MARKER = re.compile(r"@@ivr-secret:cb_[0-9a-f]+:[^@]+@@")


class ConsoleDialer:
    """Places nothing: the console is the callee."""

    gateway = "console"

    def __init__(self) -> None:
        self.placed: list[str] = []

    async def dial(self, request: object) -> str:
        call_id = f"console-{len(self.placed) + 1}-{int(time.time() * 1000)}"
        self.placed.append(call_id)
        return call_id

    async def close(self) -> None:
        return None


class CannotPlay(Exception):
    """The callback cannot be played now (unknown, or not waiting to be dialled)."""


@dataclass
class ConsoleCallback:
    callback_id: str
    number: str
    context: dict[str, str]
    dispatcher: Dispatcher
    secret: str | None
    marker: str

    def shown(self, text: str) -> str:
        """Prompt text as the customer would hear it (the secret where its marker is)."""
        return text.replace(self.marker, self.secret or "") if self.marker in text else text

    async def ended(self) -> str:
        """Report the end of the call as a gateway would; the callback's status after it."""
        store = self.dispatcher.store
        callback = await store.get(self.callback_id)
        signature = self.context["callback_sig"]
        await self.dispatcher.call_status(self.callback_id, signature, "completed", None)
        return (await store.get(callback.id)).status


def hide_markers(text: str) -> str:
    """Text with any secret marker replaced by a placeholder (JSON output, recordings)."""
    return _MARKER.sub("[secret]", text)


async def play_callback(
    store: CallbackStore,
    queues: Queues,
    operations: OperationRegistry,
    callback_id: str,
    call_id: str,
    flow: str = "callback",
    clock: Callable[[], float] = time.time,
) -> ConsoleCallback:
    """Claim the callback for console call `call_id` and set the flow's operations up."""
    dispatcher = Dispatcher(store, queues, ConsoleDialer(), "console:", "", flow, clock=clock)
    try:
        callback = await store.get(callback_id)
    except LookupError:
        raise CannotPlay(f"no callback {callback_id}") from None
    if callback.status != "scheduled":
        raise CannotPlay(f"callback {callback_id} is {callback.status}, not scheduled")
    if not await dispatcher.dial(callback, clock(), check_hours=False):
        raise CannotPlay(f"callback {callback_id} changed meanwhile")
    claimed = await store.get(callback_id)
    request = dispatcher.request(claimed)
    context = outbound_context(request.context)
    stats = QueueStats(store.db)
    for name, operation in callback_operations(store, queues, stats, clock).items():
        operations.implement(name, operation)
    box = store.require_box()
    return ConsoleCallback(
        callback_id, claimed.number, context, dispatcher,
        await store.secret(claimed), marker(box, callback_id, call_id),
    )  # fmt: skip
