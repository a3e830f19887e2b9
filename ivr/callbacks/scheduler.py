"""The dispatch scheduler: dial due callbacks, retry failed attempts, expire old windows.

One worker dispatches at a time: each tick takes a lease row in the journal database
(`leases`, renewed every tick, taken over once it has expired), so any number of `ivr serve`
workers can run the loop. A due callback is claimed with a compare-and-set on its version
(scheduled -> dialling, attempt + 1) before the gateway is asked, so it is never dialled
twice. Every transition is journaled in `callback_events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from ivr.adapters.outbound import CALLBACK, FLOW, SIGNATURE
from ivr.callbacks.db import Database
from ivr.callbacks.dialers.base import Dialer, DialFailed, DialRequest
from ivr.callbacks.model import Status
from ivr.callbacks.operations import MACHINE, dial_label
from ivr.callbacks.queues import Queues
from ivr.callbacks.store import Callback, CallbackStore

_log = logging.getLogger(__name__)
LEASE = "callback-dispatch"
ANSWER_PATH = {
    "twilio": "/twilio/voice",
    "jambonz": "/jambonz/call",
    "json": "/json/events",
    "console": "/console",
}
FAILED_CALL = frozenset({"busy", "no-answer", "failed", "canceled", "no_answer", "cancelled"})
ENDED_CALL = frozenset({"completed", *FAILED_CALL})


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(object())}"


class Lease:
    """A named lease row: held by one worker until it stops renewing it for `ttl_s`."""

    def __init__(self, db: Database, name: str, holder: str, ttl_s: float) -> None:
        self.db, self.name, self.holder, self.ttl_s = db, name, holder, ttl_s

    async def take(self, now: float) -> bool:
        params = {"n": self.name, "h": self.holder, "now": float(now), "exp": now + self.ttl_s}
        async with self.db.transaction() as tx:
            taken = await tx.execute(
                "UPDATE leases SET holder = :h, expires_at = :exp WHERE name = :n"
                " AND (holder = :h OR expires_at < :now)",
                params,
            )
            if taken:
                return True
            return bool(
                await tx.execute(
                    "INSERT INTO leases (name, holder, expires_at) VALUES (:n, :h, :exp)"
                    " ON CONFLICT (name) DO NOTHING",
                    params,
                )
            )

    async def release(self) -> None:
        await self.db.execute(
            "DELETE FROM leases WHERE name = :n AND holder = :h", {"n": self.name, "h": self.holder}
        )


class Dispatcher:
    def __init__(
        self,
        store: CallbackStore,
        queues: Queues,
        dialer: Dialer,
        public_url: str,
        from_number: str,
        flow: str = "callback",
        ring_timeout_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queues = queues
        self.dialer = dialer
        self.public_url = public_url.rstrip("/")
        self.from_number = from_number
        self.flow = flow
        self.ring_timeout_s = ring_timeout_s
        self.clock = clock
        # a dialling callback with no word from the gateway for this long: the attempt failed
        self.silent_after_s = ring_timeout_s + 600

    # -- one tick ----------------------------------------------------------------------------

    async def tick(self) -> int:
        """Expire, recover silent attempts, then dial what is due; the number dialled."""
        now = self.clock()
        await self.store.expire(now)
        for callback in await self.store.overdue_dialling(now - self.silent_after_s):
            await self.attempt_failed(callback, "no word from the gateway", now)
        dialled = 0
        for callback in await self.store.due(now):
            if await self.dial(callback, now):
                dialled += 1
        return dialled

    async def dial(self, callback: Callback, now: float, check_hours: bool = True) -> bool:
        """Claim and dial one due callback; False when it was not dialled now."""
        queue = self.queues.get(callback.queue)
        moment = datetime.fromtimestamp(now, UTC)
        if check_hours and (queue is None or not queue.is_open(moment)):
            await self._wait_for_opening(callback, now)
            return False
        attempt = callback.attempts + 1
        claimed = await self.store.transition(
            callback, Status.DIALLING, now, {"attempt": attempt, "gateway": self.dialer.gateway},
            attempts=attempt, next_attempt_at=None,
        )  # fmt: skip
        if claimed is None:
            return False  # another worker or the app changed it first
        request = self.request(claimed)
        try:
            call_id = await self.dialer.dial(request)
        except DialFailed as error:
            await self.attempt_failed(claimed, error.reason, self.clock(), final=not error.retry)
            return False
        await self.store.db.execute(
            "UPDATE callbacks SET call_id = :c WHERE id = :id AND attempts = :a",
            {"c": call_id, "id": claimed.id, "a": attempt},
        )
        return True

    def request(self, callback: Callback) -> DialRequest:
        box = self.store.require_box()
        signature = box.keyed_hash(dial_label(callback.id, callback.attempts)).replace(":", "~")
        query = {CALLBACK: callback.id, SIGNATURE: signature, FLOW: self.flow}
        gateway = self.dialer.gateway
        answer = f"{self.public_url}{ANSWER_PATH[gateway]}?{urlencode(query)}"
        status = f"{self.public_url}/callbacks/dial-status/{gateway}?{urlencode(query)}"
        context = {"ivr_callback": callback.id, "ivr_sig": signature, "ivr_flow": self.flow}
        return DialRequest(
            callback.id, callback.number, self.from_number, answer, status,
            self.ring_timeout_s, context,
        )  # fmt: skip

    async def _wait_for_opening(self, callback: Callback, now: float) -> None:
        """Due while the queue is shut: wait for its next opening inside the window, or end."""
        queue = self.queues.get(callback.queue)
        start = datetime.fromtimestamp(now, UTC) + timedelta(seconds=1)
        end = datetime.fromtimestamp(callback.window_end, UTC)
        opening = queue.first_open(start, end) if queue is not None else None
        if opening is None:
            await self.store.transition(
                callback, Status.EXPIRED, now, {"reason": "queue shut for the rest of the window"},
                outcome="expired",
            )  # fmt: skip
            return
        await self.store.transition(
            callback, Status.SCHEDULED, now, {"reason": "waiting for the queue to open"},
            next_attempt_at=opening.timestamp(),
        )  # fmt: skip

    # -- outcomes of an attempt --------------------------------------------------------------

    async def attempt_failed(
        self, callback: Callback, reason: str, now: float, final: bool = False
    ) -> None:
        """Try again after the retry delay, or fail for good (attempts used, window passed)."""
        retry_at = now + callback.retry_delay_s
        detail = {"attempt": callback.attempts, "reason": reason}
        if final or callback.attempts >= callback.max_attempts:
            await self.store.transition(callback, Status.FAILED, now, detail, outcome=reason)
        elif retry_at >= callback.window_end:
            await self.store.transition(
                callback, Status.EXPIRED, now, {**detail, "next": "window passes first"},
                outcome=reason,
            )  # fmt: skip
        else:
            await self.store.transition(
                callback, Status.SCHEDULED, now, {**detail, "retry_at": retry_at},
                next_attempt_at=retry_at,
            )  # fmt: skip

    async def call_status(
        self, callback_id: str, signature: str, status: str, answered_by: str | None
    ) -> bool:
        """A gateway's word on the call of an attempt; False if the signature is not ours."""
        box = self.store.box
        callback = await self.store.get(callback_id)
        label = dial_label(callback.id, callback.attempts)
        if box is None or not box.same_hash(signature.replace("~", ":"), label):
            return False  # also an old attempt's late status: that attempt is settled
        now = self.clock()
        if status not in ENDED_CALL:
            return True
        if callback.status == Status.CONNECTED:
            await self.store.transition(
                callback, Status.COMPLETED, now, {"call": status}, outcome="completed"
            )
        elif callback.status == Status.DIALLING:
            if answered_by in MACHINE:
                reason = "answering machine"
            elif status == "completed":
                reason = "hung up before connecting"
            else:
                reason = status.replace("-", "_")
            await self.attempt_failed(callback, reason, now)
        return True


async def run(
    dispatcher: Dispatcher, lease: Lease, interval_s: float, wake: asyncio.Event | None = None
) -> None:
    """The loop `ivr serve` runs: a tick per interval (or when woken: a booking due now) while
    this worker holds the lease."""
    wake = wake or asyncio.Event()
    while True:
        try:
            if await lease.take(dispatcher.clock()):
                await dispatcher.tick()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a database or gateway fault: say so, keep going
            _log.error("callback dispatch failed: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval_s)
        wake.clear()
