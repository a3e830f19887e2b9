"""jambonz WebSocket API (`ws.jambonz.org`): text frames in, core events out, frames back.

jambonz opens one socket per call to the application's `ws(s)://` call hook and sends JSON
messages `{type, msgid, call_sid, hook?, data}`; the application answers the ones that wait
for it with `{"type": "ack", "msgid": ..., "data": [verbs]}` and may push verbs at any time
with `{"type": "command", "command": "redirect", "data": [verbs]}`. The verbs are the same
documents as over HTTP (ivr.adapters.jambonz_verbs), with one difference: every hook we hand
out is a path, not a URL, because an absolute http(s) hook makes jambonz leave the socket
and post it over HTTP instead.

Which messages wait for an ack, and what jambonz does with it, follows the feature-server's
`lib/utils/ws-requestor.js` (v0.9.8): `call:status`, `verb:status` and `jambonz:error` are
notifications; `session:reconnect` carries the `session:new` payload again, and its ack's
verbs are executed only when it replaces a `session:new` that was never acked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ivr.adapters.base import (
    Adapter,
    BadRequest,
    Document,
    Headers,
    Inbound,
    RenderContext,
    call_id_of,
)
from ivr.adapters.jambonz import action_event, call_started, status_event
from ivr.adapters.jambonz_verbs import DEFAULT_TRANSFERS, JambonzTransfer, render_verbs
from ivr.adapters.wire import JSON_TYPE, digest, loads_json
from ivr.engine.actions import Action, RouteKind, SecurePayment, Transfer

SUBPROTOCOL = "ws.jambonz.org"
PATH = "/jambonz/ws"  # where jambonz opens the socket (the application's call hook)
HOOK = f"{PATH}/action"  # the relative hook of every gather and redirect we hand out


class MessageType(StrEnum):
    SESSION_NEW = "session:new"
    SESSION_RECONNECT = "session:reconnect"
    SESSION_REDIRECT = "session:redirect"
    SESSION_ADULTING = "session:adulting"
    VERB_HOOK = "verb:hook"
    VERB_STATUS = "verb:status"
    CALL_STATUS = "call:status"
    QUEUE_STATUS = "queue:status"
    DIAL_CONFIRM = "dial:confirm"
    JAMBONZ_ERROR = "jambonz:error"


# notifications: jambonz sends them and waits for nothing (ws-requestor's MTYPE_WANTS_ACK)
_NOTIFICATIONS = frozenset(
    {MessageType.CALL_STATUS, MessageType.VERB_STATUS, MessageType.JAMBONZ_ERROR}
)


@dataclass(frozen=True, slots=True)
class Message:
    """One message from jambonz, its envelope checked."""

    type: str  # a MessageType value, or a type this application does not use (llm:*, tts:*)
    msgid: str
    call_sid: str
    hook: str | None
    data: Mapping[str, Any]

    @property
    def wants_ack(self) -> bool:
        """jambonz waits (5 s by default) for an ack to this message, else hangs up."""
        return self.type not in _NOTIFICATIONS and not self.type.startswith(("llm:", "tts:"))


def read_message(frame: str | bytes) -> Message:
    """Parse one text frame; BadRequest when it is not a jambonz message."""
    message = loads_json(frame.encode() if isinstance(frame, str) else frame)
    if not isinstance(message, dict):
        raise BadRequest("frame is not a JSON object")
    kind, msgid = message.get("type"), message.get("msgid")
    if not isinstance(kind, str) or not kind:
        raise BadRequest("message type missing")
    if not isinstance(msgid, str) or not msgid:
        raise BadRequest("msgid missing")
    data = message.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("data is not an object")
    call_sid = call_id_of(message.get("call_sid") or data.get("call_sid"), "call_sid")
    hook = message.get("hook")
    if hook is not None and not isinstance(hook, str):
        raise BadRequest("hook is not a string")
    return Message(kind, msgid, call_sid, hook, data)


def to_inbound(message: Message) -> Inbound | None:
    """The core event a message carries, or None for what changes no call.

    `session:reconnect` repeats the `session:new` payload, so both give the same delivery key:
    a reconnect after the call started here (or on another worker) replays the first verbs
    instead of starting the call twice.
    """
    call_id, data = message.call_sid, message.data
    if message.type in (MessageType.SESSION_NEW, MessageType.SESSION_RECONNECT):
        key = f"ws-start:{digest(data)}"
        return Inbound(event=call_started(call_id, data), delivery_key=key)
    if message.type in (MessageType.VERB_HOOK, MessageType.SESSION_REDIRECT):
        hook = message.hook or ""
        query = dict(parse_qsl(urlsplit(hook).query))
        key = f"ws-hook:{digest(hook, data)}"
        return Inbound(event=action_event(call_id, data, query), delivery_key=key)
    if message.type == MessageType.CALL_STATUS:
        key = f"ws-status:{digest(data)}"
        return Inbound(event=status_event(call_id, data), delivery_key=key)
    return None


def ack(msgid: str, verbs: str | None = None) -> str:
    """The ack frame; `verbs` is a verb array already serialised (a stored answer as it is)."""
    if verbs is None:
        return json.dumps({"type": "ack", "msgid": msgid}, separators=(",", ":"))
    return f'{{"type":"ack","msgid":{json.dumps(msgid)},"data":{verbs}}}'


def redirect_command(verbs: str) -> str:
    """A `command` that replaces whatever jambonz is executing with `verbs` at once."""
    return f'{{"type":"command","command":"redirect","queueCommand":false,"data":{verbs}}}'


def error_text(message: Message) -> str:
    """What a `jambonz:error` reports, for the log: `data.error` and `data.verb` for a verb
    that failed, `data.msg` and `data.details` for a frame of ours it could not read (never
    `data.content`, the frame itself), cut to a log line's length."""
    data = message.data
    error = data.get("error") or data.get("msg") or "unknown error"
    where = data.get("verb") or data.get("details") or ""
    text = f"{where}: {error}" if where else str(error)
    return text[:300]


class JambonzWsAdapter(Adapter):
    """One frame in, its core event out; a turn's actions in, its verbs out.

    The socket transport (ivr.web.jambonz_ws) reads each frame itself, since it must know
    the msgid and whether jambonz waits for an ack; `parse` is the same translation for one
    frame as bytes. The verbs are the same documents as jambonz over HTTP, with every hook
    the relative `HOOK`: the socket is authenticated and carries one call, so hooks need no
    signature of their own.
    """

    name = "jambonz-ws"
    kinds = ("message",)  # every frame comes in on the one socket
    action_kind = "action"

    def __init__(
        self,
        *,
        transfers: Mapping[RouteKind, JambonzTransfer] | None = None,
        route_transfers: Mapping[str, JambonzTransfer] | None = None,
        tts_vendor: str | None = None,
        agent_target: str = "agent",
    ) -> None:
        self._transfers = {**DEFAULT_TRANSFERS, **(transfers or {})}
        self._route_transfers = dict(route_transfers or {})
        self._tts_vendor = tts_vendor
        self._agent_target = agent_target

    def parse(self, kind: str, url: str, headers: Headers, body: bytes) -> Inbound:
        """One frame; BadRequest when it is malformed or carries no call event."""
        inbound = to_inbound(read_message(body))
        if inbound is None:
            raise BadRequest("this message changes no call")
        return inbound

    def render(self, actions: Sequence[Action], context: RenderContext) -> Document:
        """The verb array, for an `ack` or a `command`."""
        if any(isinstance(action, SecurePayment) for action in actions):
            return self.render_to_agent(context)  # only Twilio takes cards itself (<Pay>)
        verbs = render_verbs(
            actions,
            dataclasses.replace(context, action_url=HOOK),
            transfers=self._transfers,
            by_route=self._route_transfers,
            tts_vendor=self._tts_vendor,
        )
        return Document(JSON_TYPE, json.dumps(verbs, separators=(",", ":")).encode())

    def render_to_agent(self, context: RenderContext) -> Document:
        """Verbs that send the caller to an agent (unknown call, error: never silence)."""
        fallback = Transfer(
            RouteKind.AGENT, self._agent_target, "agent", {"idv_status": "not_identified"}
        )
        return self.render([fallback], context)
