"""The jambonz WebSocket API served at /jambonz/ws: socket glue over the same call core.

jambonz opens one socket per call (subprotocol `ws.jambonz.org`) with the HTTP Basic
credentials its application is configured with. Each text frame is translated by
ivr.adapters.jambonz_ws, run through the call service exactly as a webhook is (per-call
lock, the store's lease, duplicate replay, the response deadline, journal), and a message
that waits for an answer gets its `ack` with the verbs. A message the core cannot answer
still gets verbs that send the caller to an agent: never silence, never a closed socket.

Call state lives in the session store, not in the socket: when a socket drops, jambonz
reconnects (to any worker sharing the store) and says `session:reconnect`; the call goes
on from the stored state. Closing for a restart uses 1001 (going away), which jambonz
answers by reconnecting, never 1000, which would end its session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import weakref

from aiohttp import WSCloseCode, WSMsgType, web

from ivr.adapters.base import BadRequest, RenderContext
from ivr.adapters.jambonz_ws import (
    PATH,
    SUBPROTOCOL,
    JambonzWsAdapter,
    Message,
    MessageType,
    ack,
    error_text,
    read_message,
    redirect_command,
    to_inbound,
)
from ivr.calls import CallPipeline, metrics
from ivr.web.keys import CALLS, SOCKETS

_log = logging.getLogger("ivr.jambonz_ws")
MAX_FRAME = 64 * 1024  # jambonz's own limit for what it receives is 24 KiB
HEARTBEAT_S = 20.0  # a socket whose peer vanished without a FIN is found and closed


def credentials_match(header: str | None, username: str, password: str) -> bool:
    """HTTP Basic credentials equal to ours, compared in constant time."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        return False
    login, colon, secret = given.partition(b":")
    same_user = hmac.compare_digest(login, username.encode())
    same_password = hmac.compare_digest(secret, password.encode())
    return bool(colon) and same_user and same_password


def mount(
    app: web.Application,
    adapter: JambonzWsAdapter,
    username: str,
    password: str,
    public_url: str | None = None,
) -> None:
    """Serve jambonz's WebSocket API at /jambonz/ws for these credentials; `public_url` is
    what jambonz fetches recordings from behind a proxy."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[SOCKETS] = sockets
    transport = _Transport(adapter, username, password, public_url)
    app.router.add_get(PATH, transport.handle)

    async def going_away(app: web.Application) -> None:
        """On shutdown, before connections are cut: jambonz reconnects elsewhere and the
        call goes on from the store."""
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in sockets)
        )

    app.on_shutdown.append(going_away)


class _Transport:
    def __init__(
        self, adapter: JambonzWsAdapter, username: str, password: str, public_url: str | None
    ) -> None:
        self.adapter = adapter
        self.public_url = public_url.rstrip("/") if public_url else None
        self._username = username
        self._password = password

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not credentials_match(
            request.headers.get("Authorization"), self._username, self._password
        ):
            metrics.child(metrics.REJECTED, self.adapter.name, "unauthorized").inc()
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="ivr jambonz"'},
                text="jambonz WebSocket credentials missing or wrong",
            )
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,), heartbeat=HEARTBEAT_S, max_msg_size=MAX_FRAME
        )
        if ws.can_prepare(request).protocol != SUBPROTOCOL:
            metrics.child(metrics.REJECTED, self.adapter.name, "malformed").inc()
            raise web.HTTPBadRequest(text=f"the {SUBPROTOCOL} subprotocol is required")
        await ws.prepare(request)
        request.app[SOCKETS].add(ws)
        session = _Session(self, request, ws)
        async for frame in ws:
            if frame.type is WSMsgType.TEXT:
                await session.on_text(frame.data)
            elif frame.type is WSMsgType.BINARY:  # jambonz sends text only on this socket
                _log.warning("binary frame on the jambonz socket ignored")
        return ws


class _Session:
    """One socket: the call it carries and what has been sent on it."""

    def __init__(self, transport: _Transport, request: web.Request, ws: web.WebSocketResponse):
        self.transport = transport
        self.request = request
        self.ws = ws
        self.call_sid: str | None = None
        self.rescued = False  # a redirect to an agent was pushed after a jambonz:error
        public = transport.public_url
        self.base_url = public or f"{request.scheme}://{request.host}"  # for recordings' URLs

    @property
    def calls(self) -> CallPipeline:
        return self.request.app[CALLS]

    async def on_text(self, text: str) -> None:
        try:
            message = read_message(text)
        except BadRequest as error:
            metrics.child(metrics.REJECTED, self.transport.adapter.name, "malformed").inc()
            _log.warning("malformed jambonz message: %s", error)
            return
        if self.call_sid is None:
            self.call_sid = message.call_sid
        elif message.call_sid != self.call_sid:  # one socket carries one call
            _log.warning(
                "message for another call on this socket ignored",
                extra={"call_id": self.call_sid},
            )
            if message.wants_ack:
                await self._send(ack(message.msgid))
            return
        if message.type == MessageType.JAMBONZ_ERROR:
            await self._rescue(message)
            return
        inbound = to_inbound(message)
        if inbound is None:  # verb:status and what this application does not use
            if message.wants_ack:
                await self._send(ack(message.msgid))
            return
        adapter = self.transport.adapter
        try:
            reply = await self.calls.apply(adapter, inbound, self.base_url)
            verbs = reply.document.body.decode()
        except Exception as error:  # a bug must still leave the caller with somewhere to go
            _log.error("jambonz message failed: %s", type(error).__name__)
            verbs = adapter.render_to_agent(self._context()).body.decode()
        if message.wants_ack:
            await self._send(ack(message.msgid, verbs))

    async def _rescue(self, message: Message) -> None:
        """jambonz met a fatal error running our verbs: send the caller to an agent, once."""
        _log.error("jambonz error: %s", error_text(message), extra={"call_id": self.call_sid})
        metrics.child(metrics.GATEWAY_ERRORS, self.transport.adapter.name).inc()
        if self.rescued:
            return
        self.rescued = True
        verbs = self.transport.adapter.render_to_agent(self._context())
        await self._send(redirect_command(verbs.body.decode()))

    def _context(self) -> RenderContext:
        """For verbs made without the core: no recordings, nothing but the agent route."""
        return RenderContext(self.call_sid or "", "", "", lambda _ref: None)

    async def _send(self, frame: str) -> None:
        if self.ws.closed:
            return
        try:
            await self.ws.send_str(frame)
        except ConnectionError:  # the socket dropped: jambonz reconnects and carries on
            _log.info("socket closed before the answer was sent", extra={"call_id": self.call_sid})
