"""The secret is read only on the call it was dialled for: `callback.read_secret` needs this
call's successful `callback.load`, and its marker opens only in responses to that call."""

from __future__ import annotations

from typing import Any

from ivr.adapters.outbound import outbound_context
from ivr.callbacks.operations import LOADED, callback_operations
from ivr.callbacks.queue_stats import QueueStats
from ivr.callbacks.queues import Queues
from ivr.callbacks.reveal import marker, revealer
from ivr.callbacks.store import CallbackStore
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import Operation, OperationCall
from tests.callbacks.conftest import SECRET_WORD, Clock
from tests.callbacks.test_scheduler import RecordingDialer, _book, _dispatcher


def _call(call_id: str, variables: dict[str, Any], **params: str) -> OperationCall:
    return OperationCall(
        call_id, None, CallerIdTrust.UNKNOWN, None, None, params, variables=dict(variables)
    )


async def _dialled(
    store: CallbackStore, queues: Queues, clock: Clock
) -> tuple[str, dict[str, str], dict[str, Operation]]:
    callback_id = await _book(store, queues, clock)
    dialer = RecordingDialer()
    await _dispatcher(store, queues, clock, dialer).tick()
    context = outbound_context(dialer.requests[0].context)
    return callback_id, context, callback_operations(store, queues, QueueStats(store.db), clock)


async def test_read_secret_needs_load_on_this_call(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    _, context, operations = await _dialled(callback_store, queues, clock)
    read = operations["callback.read_secret"]
    skipped = await read(_call("call-A", context))  # the flow jumped straight to read_secret
    assert skipped.outcome == "error"
    assert "secret" not in skipped.values
    forged = await read(_call("call-A", {**context, LOADED: "k2:" + "0" * 64}))
    assert forged.outcome == "error"
    loaded = await operations["callback.load"](_call("call-A", context))
    assert loaded.outcome == "verified"
    after_load = {**context, **loaded.values}
    elsewhere = await read(_call("call-B", after_load))  # state copied onto another call
    assert elsewhere.outcome == "error"
    here = await read(_call("call-A", after_load))
    assert here.outcome == "read"
    assert SECRET_WORD not in str(here.values)


async def test_marker_opens_only_on_the_call_it_was_made_for(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    callback_id, context, operations = await _dialled(callback_store, queues, clock)
    loaded = await operations["callback.load"](_call("call-A", context))
    read = await operations["callback.read_secret"](_call("call-A", {**context, **loaded.values}))
    twiml = f"<Response><Say>Your word is {read.values['secret']}.</Say></Response>".encode()
    reveal = revealer(callback_store)
    spoken = await reveal(twiml, "application/xml", "call-A")
    assert spoken == f"<Response><Say>Your word is {SECRET_WORD}.</Say></Response>".encode()
    replayed = await reveal(twiml, "application/xml", "call-B")
    assert replayed == b"<Response><Say>Your word is .</Say></Response>"
    assert b"ivr-secret" not in replayed
    assert callback_store.box is not None
    other_call = marker(callback_store.box, callback_id, "call-B").encode()
    assert SECRET_WORD.encode() not in await reveal(b"<Say>" + other_call + b"</Say>", "xml", "A")


async def test_no_secret_once_the_callback_has_ended(
    callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    callback_id, context, operations = await _dialled(callback_store, queues, clock)
    loaded = await operations["callback.load"](_call("call-A", context))
    variables = {**context, **loaded.values}
    declined = await operations["callback.finish"](_call("call-A", variables, **{"as": "declined"}))
    assert declined.outcome == "done"
    assert (await callback_store.get(callback_id)).status == "completed"
    read = await operations["callback.read_secret"](_call("call-A", variables))
    assert read.outcome == "error"
