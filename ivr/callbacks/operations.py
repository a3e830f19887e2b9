"""Flow operations for callbacks and queues: what `callback.*` and `queue.estimated_wait` do.

They run inside the engine under its deadline; anything they put in call variables is saved
with the call, so the secret itself never goes there, only a marker (reveal.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.capacity import SlotsFull
from ivr.callbacks.model import Booking, Status, Window
from ivr.callbacks.numbers import e164
from ivr.callbacks.queue_stats import QueueStats
from ivr.callbacks.queues import DEFAULT_ROUTE, Queues
from ivr.callbacks.reveal import SPOKEN, marker
from ivr.callbacks.service import BookingRefused, book
from ivr.callbacks.store import CallbackStore, NotFound
from ivr.directory.port import Customer
from ivr.engine.handoff import IDENTIFIED_AND_VERIFIED, IDENTIFIED_ONLY
from ivr.engine.operations import Operation, OperationCall, OperationResult
from ivr.prompts.readback import number_words

APP_LOGIN = "app_login"  # the factor a booking made from the app carries
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")
BOOK_WINDOW = timedelta(hours=4)
LOADED = "callback_loaded"  # the call variable holding load's keyed proof
QUEUE_ROUTE = "callback_queue"  # the route name a flow uses to reach the callback's own queue
_log = logging.getLogger(__name__)


def words(n: int, language: str = "en-GB") -> str:
    """A whole number in (British) English words, 'twenty-five', on an English call; digits
    in any other language, which the gateway's voice reads in that language."""
    if language and not language.lower().startswith("en"):
        return str(n)
    return " ".join(text for _, text in number_words(n))


def dial_label(callback_id: str, attempt: int) -> bytes:
    return f"dial:{callback_id}:{attempt}".encode()


def loaded_label(callback_id: str, call_id: str) -> bytes:
    """What `callback.load` signs when it accepts a call for a callback: `read_secret` reads
    only on a call it was given for (a variable alone, from a flow or a context, is not enough)."""
    return f"loaded:{callback_id}:{call_id}".encode()


def callback_operations(
    store: CallbackStore,
    queues: Queues,
    stats: QueueStats,
    clock: Callable[[], float] = time.time,
) -> dict[str, Operation]:
    async def load(call: OperationCall) -> OperationResult:
        callback_id = str(call.variables.get("callback_id", ""))
        signature = str(call.variables.get("callback_sig", ""))
        if not callback_id or store.box is None:
            return OperationResult("not_found", detail="not a callback")
        try:
            callback = await store.get(callback_id)
        except NotFound:
            return OperationResult("not_found", detail="no such callback")
        if not store.box.same_hash(signature, dial_label(callback.id, callback.attempts)):
            return OperationResult("not_found", detail="dial signature refused")
        if callback.status != Status.DIALLING:
            return OperationResult("not_found", detail=f"callback is {callback.status}")
        if str(call.variables.get("answered_by", "")) in MACHINE:
            return OperationResult("machine", detail="answering machine")
        customer = Customer(callback.customer_id, callback.customer_name or "")
        values = {
            "callback_id": callback.id,
            "callback_queue": callback.queue,
            LOADED: store.box.keyed_hash(loaded_label(callback.id, call.call_id)),
        }
        verified = callback.idv_status == IDENTIFIED_AND_VERIFIED
        return OperationResult(
            "verified" if verified else "identified",
            customer,
            detail=callback.id,
            values=values,
            factors=(APP_LOGIN,) if verified else (),
            routes={QUEUE_ROUTE: queue_route(callback.id, callback.queue)},
            language=callback.language,
        )

    def queue_route(callback_id: str, name: str) -> str:
        queue = queues.get(name)
        if queue is None:  # taken out of config/queues.yaml since the booking
            _log.warning(
                "callback %s: queue %r is no longer configured; connecting by route %s",
                callback_id, name, DEFAULT_ROUTE,
            )  # fmt: skip
            return DEFAULT_ROUTE
        return queue.route

    async def read_secret(call: OperationCall) -> OperationResult:
        callback_id = str(call.variables.get("callback_id", ""))
        if not callback_id or store.box is None:
            return OperationResult("no_secret", detail="not a callback")
        proof = str(call.variables.get(LOADED, ""))
        if not store.box.same_hash(proof, loaded_label(callback_id, call.call_id)):
            return OperationResult("error", detail="callback not loaded on this call")
        callback = await store.get(callback_id)
        if callback.status not in SPOKEN:
            return OperationResult("error", detail=f"callback is {callback.status}")
        if callback.read_secret == 0 or await store.secret(callback) is None:
            return OperationResult("no_secret", values={"reverse_idv": "none"})
        values = {
            "secret": marker(store.box, callback.id, call.call_id),
            "reverse_idv": "read_back",
        }
        return OperationResult("read", detail="secret read back", values=values)

    async def finish(call: OperationCall) -> OperationResult:
        callback_id = str(call.variables.get("callback_id", ""))
        how = str(call.params["as"])
        callback = await store.get(callback_id)
        now = clock()
        if how == "connected":
            moved = await store.transition(
                callback, Status.CONNECTED, now, {"call_id": call.call_id}, connected_at=now
            )
        elif how == "rebook":
            later = now + callback.retry_delay_s
            moved = await store.transition(
                callback, Status.SCHEDULED, now, {"reason": "callee asked to rebook"},
                next_attempt_at=later,
            )  # fmt: skip
            if moved is not None:
                minutes = max(round(callback.retry_delay_s / 60), 1)
                spoken = words(minutes, call.language)
                return OperationResult("done", values={"callback_minutes": spoken})
        else:
            moved = await store.transition(
                callback, Status.COMPLETED, now, {"reason": "not a good time"}, outcome="declined"
            )
        if moved is None:
            return OperationResult("error", detail="callback changed meanwhile")
        return OperationResult("done", detail=how)

    async def book_from_call(call: OperationCall) -> OperationResult:
        if call.customer_id is None or call.idv_status not in (
            IDENTIFIED_AND_VERIFIED,
            IDENTIFIED_ONLY,
        ):
            return OperationResult("not_identified")
        try:
            number = e164(call.ani or "")
        except ValueError:
            return OperationResult("no_number", detail="calling number not usable")
        now = clock()
        after = timedelta(minutes=int(call.params.get("after_minutes", 0)))
        start = datetime.fromtimestamp(now, UTC) + after
        window = Window(start=start, end=start + BOOK_WINDOW)
        queue = str(call.params["queue"])
        who = AppIdentity(call.customer_id, call.customer_name, call.idv_status)
        standing = await store.has_standing_secret(call.customer_id)
        request = Booking(
            number=number, queue=queue, window=window, use_standing_secret=standing,
            language=call.language or None,  # called back in the language of this call
        )  # fmt: skip
        try:
            callback, _ = await book(store, queues, who, request, now, source="ivr")
        except BookingRefused:
            return OperationResult("closed", detail="queue not staffed in the next hours")
        except SlotsFull:
            return OperationResult("closed", detail="every slot in the next hours is full")
        minutes = max(round((callback.scheduled_at - now) / 60), 0)
        values = {"callback_id": callback.id, "callback_minutes": words(minutes, call.language)}
        return OperationResult("booked", detail=callback.id, values=values)

    async def estimated_wait(call: OperationCall) -> OperationResult:
        name = str(call.params["queue"])
        queue = queues.get(name)
        now = clock()
        if queue is not None and not queue.is_open(datetime.fromtimestamp(now, UTC)):
            return OperationResult("closed", detail="outside opening hours")
        result = await stats.wait(name, now)
        detail = f"{result.method} n={result.sample_size}"
        if result.state != "open" or result.wait_s is None:
            return OperationResult(result.state, detail=detail)
        minutes = max(round(result.wait_s / 60), 1)
        limit = int(call.params.get("long_after_minutes", 5))
        values = {"wait_minutes": words(minutes, call.language)}
        return OperationResult("long" if minutes > limit else "short", detail=detail, values=values)

    return {
        "callback.load": load,
        "callback.read_secret": read_secret,
        "callback.finish": finish,
        "callback.book": book_from_call,
        "queue.estimated_wait": estimated_wait,
    }
