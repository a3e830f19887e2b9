"""The secret never sits in call state: prompts carry a marker that is swapped on the way out.

`callback.read_secret` puts a marker, `@@ivr-secret:<callback id>:<keyed MAC>@@`, in the
prompt value `{secret}`; the MAC binds the callback and the call it was made on, so a marker
copied into another call (a replayed document, text fed back through another call's state)
is refused there. The marker is what the engine renders, what the call state keeps for
redeliveries (Redis included) and what the journal could ever see. Only the bytes sent to the
gateway have the secret, put in by `reveal` as the response leaves: the MAC shows the marker
was made by this server for that callback, and a callback that has ended has no secret left.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from xml.sax.saxutils import escape

from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.model import Status
from ivr.callbacks.store import CallbackStore

_log = logging.getLogger(__name__)
PREFIX = b"@@ivr-secret:"
_MARKER = re.compile(rb"@@ivr-secret:(cb_[0-9a-f]{1,40}):([A-Za-z0-9_.-]{1,32}:[0-9a-f]{64})@@")
SPOKEN = frozenset({Status.DIALLING, Status.CONNECTED})


def marker(box: SecretBox, callback_id: str, call_id: str) -> str:
    """The marker for `callback_id`'s secret, good only in responses to call `call_id`."""
    return f"@@ivr-secret:{callback_id}:{box.keyed_hash(_label(callback_id, call_id))}@@"


def _label(callback_id: str, call_id: str) -> bytes:
    return f"secret-marker:{callback_id}:{call_id}".encode()


def _escaped(secret: str, content_type: str) -> bytes:
    if "json" in content_type:
        return json.dumps(secret)[1:-1].encode()
    if "xml" in content_type or "html" in content_type:
        return escape(secret, {'"': "&quot;", "'": "&apos;"}).encode()
    return secret.encode()


Reveal = Callable[[bytes, str, str], Awaitable[bytes]]


def revealer(store: CallbackStore) -> Reveal:
    """`reveal(body, content_type, call_id)`: the body of a response to call `call_id` with
    each marker made for that call replaced by its secret (escaped for the content type), and
    any other marker removed (never spoken as text)."""

    async def reveal(body: bytes, content_type: str, call_id: str) -> bytes:
        if PREFIX not in body:
            return body
        box = store.box
        secrets: dict[bytes, bytes] = {}
        for match in _MARKER.finditer(body):
            callback_id = match.group(1).decode()
            spoken = b""
            if box is not None and box.same_hash(
                match.group(2).decode(), _label(callback_id, call_id)
            ):
                try:
                    callback = await store.get(callback_id)
                    if callback.status in SPOKEN:
                        secret = await store.secret(callback)
                        spoken = _escaped(secret, content_type) if secret else b""
                except Exception as error:  # NotFound, SecretUnreadable, a store fault: no 5xx
                    why = type(error).__name__
                    _log.warning("callback %s secret not read: %s", callback_id, why)
            else:
                _log.warning("callback secret marker refused: not made here for this call")
            secrets[match.group(0)] = spoken
        for found, spoken in secrets.items():
            body = body.replace(found, spoken)
        return body.replace(PREFIX, b"")  # a stray or malformed marker is never spoken

    return reveal
