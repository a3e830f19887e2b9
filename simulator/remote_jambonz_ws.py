"""A call driver that is jambonz on its WebSocket API (`ws.jambonz.org`), over a real socket.

It opens one socket per call with the subprotocol and the HTTP Basic credentials the jambonz
application is configured with, sends `session:new`, `verb:hook` (a gather's actionHook
with `dtmfDetected` digits or `timeout`), `session:redirect` (a `redirect` verb with a
relative hook) and `call:status`, and waits for the `ack` of each message that wants one,
as the feature-server's ws-requestor does. A `command` `redirect` replaces the verbs.

Given several URLs (comma-separated), the driver drops the socket before every turn and
resumes the call on the next URL with `session:reconnect`, as jambonz does when its socket
to the application closes unexpectedly: the cases then prove any worker continues any call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ivr.adapters.jambonz_ws import SUBPROTOCOL
from ivr.bootstrap import Project
from ivr.engine.actions import Action
from ivr.settings import load_settings
from simulator.driver import CallSummary
from simulator.remote_jambonz import MAX_REDIRECTS, JambonzError, VerbReader, call_payload

USERNAME_ENV = "IVR_JAMBONZ_WS_USERNAME"
PASSWORD_ENV = "IVR_JAMBONZ_WS_PASSWORD"
_CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
ACK_TIMEOUT_S = 5.0  # the feature-server's JAMBONES_WS_API_MSG_RESPONSE_TIMEOUT default


def endpoint(url: str) -> str:
    """`ws://host:port` -> `ws://host:port/jambonz/ws`; a URL with a path is kept."""
    url = url.strip()
    return url.rstrip("/") + "/jambonz/ws" if urlsplit(url).path in ("", "/") else url


class JambonzWsDriver:
    """One call at a time; `url` may list several workers, comma-separated."""

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        project: Project | None = None,
        ack_timeout_s: float = ACK_TIMEOUT_S,
    ) -> None:
        """Credentials default to IVR_JAMBONZ_WS_USERNAME/_PASSWORD (ivr.settings)."""
        self.urls = [endpoint(part) for part in url.split(",") if part.strip()]
        if username is None or password is None:
            username, password = load_settings().jambonz_ws_credentials() or ("", "")
        user, secret = username, password
        if not user or not secret:
            raise JambonzError(f"set {USERNAME_ENV} and {PASSWORD_ENV} as the server has them")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.ack_timeout_s = ack_timeout_s
        self.reader = VerbReader(project)
        self.flow = ""
        self.call_sid = ""
        self.documents: list[list[dict[str, Any]]] = []  # every verb array received, in order
        self.sent: list[dict[str, Any]] = []  # every message sent, in order
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session_data: dict[str, Any] = {}
        self._call: dict[str, Any] = {}
        self._worker = 0
        self._commands: list[list[dict[str, Any]]] = []

    # -- CallDriver --------------------------------------------------------------------------

    async def start(
        self, call_id: str, ani: str | None, dnis: str | None, trust: str
    ) -> Sequence[Action]:
        self.call_sid = call_id
        self._session_data = call_payload(call_id, ani, dnis, trust)
        self._call = {k: v for k, v in self._session_data.items() if k != "sip"}
        self._call["call_status"] = "in-progress"
        self.flow = self.reader.flow_for(dnis)
        await self.connect(self.urls[0])
        verbs = await self.request("session:new", self._session_data)
        return await self._actions(verbs)

    async def press(self, digits: str) -> Sequence[Action]:
        await self._next_worker()
        hook = str(self.reader.pending()["actionHook"])
        result = self.reader.keys_result(digits)
        return await self._actions(await self.request("verb:hook", {**self._call, **result}, hook))

    async def no_input(self) -> Sequence[Action]:
        await self._next_worker()
        hook = str(self.reader.pending()["actionHook"])
        data = {**self._call, "reason": "timeout"}
        return await self._actions(await self.request("verb:hook", data, hook))

    async def hang_up(self) -> Sequence[Action]:
        self.reader.gather = None
        await self.notify("call:status", {**self._call, "call_status": "completed", "duration": 1})
        return []

    async def summary(self) -> CallSummary:
        return self.reader.summary(self.flow)

    async def close(self) -> None:
        """End the socket as jambonz does when the call is over (1000, normal closure)."""
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(aiohttp.ClientError):  # the server went first
                await self._ws.close(code=aiohttp.WSCloseCode.OK)
        self._ws = None
        await self._drop_session()

    # -- the socket --------------------------------------------------------------------------

    async def connect(self, url: str) -> None:
        """Open the call's socket (jambonz opens one per call)."""
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(
                url, protocols=(SUBPROTOCOL,), headers=self.headers, autoping=True
            )
        except aiohttp.WSServerHandshakeError as error:
            await self._drop_session()
            raise JambonzError(f"{url} refused the socket: {error.status}") from error
        if self._ws.protocol != SUBPROTOCOL:
            raise JambonzError(f"{url} did not accept the {SUBPROTOCOL} subprotocol")

    async def closed_by_server(self, timeout_s: float = 10.0) -> int | None:
        """Wait until the application closes the socket; its close code (1001: going away,
        which jambonz answers by reconnecting)."""
        assert self._ws is not None, "not connected"
        async with asyncio.timeout(timeout_s):
            while (await self._ws.receive()).type not in _CLOSING:
                pass
        return self._ws.close_code

    async def drop(self) -> None:
        """The socket dies without a closing handshake (a worker or the network went away)."""
        self._ws = None
        await self._drop_session()

    async def reconnect(self, url: str | None = None) -> list[dict[str, Any]] | None:
        """Drop the socket, open a new one (to `url`, default the same) and say
        `session:reconnect` with the `session:new` payload, as jambonz does; the ack's verbs."""
        await self.drop()
        await self.connect(url or self.urls[self._worker])
        return await self.request("session:reconnect", self._session_data)

    async def request(
        self, kind: str, data: Mapping[str, Any], hook: str | None = None
    ) -> list[dict[str, Any]] | None:
        """Send a message that wants an ack; the verbs of the ack (None: no `data`)."""
        msgid = await self._send(kind, data, hook)
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                while True:
                    message = await self._receive()
                    if message.get("type") == "ack" and message.get("msgid") == msgid:
                        verbs = message.get("data")
                        if verbs is not None and not isinstance(verbs, list):
                            raise JambonzError(f"ack data is not a verb array: {verbs!r:.200}")
                        return verbs
        except TimeoutError:
            raise JambonzError(f"no ack to {kind} within {self.ack_timeout_s} s") from None

    async def notify(self, kind: str, data: Mapping[str, Any]) -> None:
        """Send a message nobody answers (call:status, verb:status, jambonz:error)."""
        await self._send(kind, data, None)

    async def send_raw(self, frame: str) -> None:
        """A frame as it is (tests: what a broken or hostile peer would send)."""
        assert self._ws is not None, "not connected"
        await self._ws.send_str(frame)

    async def receive(self) -> dict[str, Any]:
        """The next message from the application (tests: commands pushed without a request)."""
        async with asyncio.timeout(self.ack_timeout_s):
            return await self._receive()

    async def _send(self, kind: str, data: Mapping[str, Any], hook: str | None) -> str:
        if self._ws is None:
            raise JambonzError("the socket is not open")
        msgid = uuid.uuid4().hex[:22]
        message: dict[str, Any] = {"type": kind, "msgid": msgid, "call_sid": self.call_sid}
        if hook is not None:
            message["hook"] = hook
        message["data"] = dict(data)
        self.sent.append(message)
        await self._ws.send_str(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
        return msgid

    async def _receive(self) -> dict[str, Any]:
        assert self._ws is not None
        frame = await self._ws.receive()
        if frame.type is not aiohttp.WSMsgType.TEXT:
            raise JambonzError(f"socket closed or not text: {frame.type.name}")
        message: dict[str, Any] = json.loads(frame.data)
        if message.get("type") == "command" and message.get("command") == "redirect":
            self._commands.append(list(message.get("data") or []))
        return message

    async def _drop_session(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def _next_worker(self) -> None:
        """With several workers: the socket drops and the call resumes on the next one."""
        if len(self.urls) < 2:
            return
        self._worker = (self._worker + 1) % len(self.urls)
        await self.reconnect(self.urls[self._worker])

    async def _actions(self, verbs: list[dict[str, Any]] | None) -> list[Action]:
        """Read an ack's verbs (a pushed `redirect` command wins) and follow redirects."""
        actions: list[Action] = []
        for _ in range(MAX_REDIRECTS):
            if self._commands:
                verbs = self._commands.pop()
                self._commands.clear()
            document = list(verbs or [])
            self.documents.append(document)
            hook = self.reader.read(document, actions)
            if hook is None:
                return actions
            verbs = await self.request("session:redirect", self._call, hook)
        raise JambonzError("too many redirects")
