"""Per-call ordering inside one process: a call's events are applied one at a time."""

from __future__ import annotations

import asyncio
from collections import deque


class CallLocks:
    """Serialises each call's events in this process, in arrival order.

    A call nobody holds is taken at once, with no lock object and no await (the usual case:
    a gateway sends a call's events one after another); a later event waits on a future of
    its own. The entry is dropped when nobody holds or waits for the call. `take` and
    `release` rather than a context manager: an async context manager costs two coroutines
    per event.
    """

    def __init__(self) -> None:
        # call id -> the events waiting for it, present while some event holds the call
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def take(self, call_id: str) -> asyncio.Future[None] | None:
        """None: the call is now held by the caller. A future: await it, then the call is
        held; a caller cancelled while waiting must call `abandon`."""
        queue = self._waiting.get(call_id)
        if queue is None:
            self._waiting[call_id] = deque()
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        return waiter

    def abandon(self, call_id: str, waiter: asyncio.Future[None]) -> None:
        """A waiter gave up (cancelled): if the call was already handed to it, pass it on."""
        if waiter.done() and not waiter.cancelled():
            self.release(call_id)
            return
        waiter.cancel()
        queue = self._waiting.get(call_id)
        if queue is not None and waiter in queue:
            queue.remove(waiter)

    def release(self, call_id: str) -> None:
        """Hand the call to the next waiting event, or forget it when none waits."""
        queue = self._waiting[call_id]
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        del self._waiting[call_id]

    def __len__(self) -> int:
        """Calls held or waited for (tests: nothing is left behind)."""
        return len(self._waiting)
