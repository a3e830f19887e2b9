"""Shedding slow and hostile clients: read deadlines, a connection cap, quiet accept errors.

A webhook server on the internet meets clients that open sockets and send nothing, or a
header a byte at a time (slow-loris), or a body that never ends. Each such socket costs a
file descriptor; enough of them and real gateways cannot connect (and a full descriptor
table makes `accept()` fail in a loop). What `ivr serve` does about it:

- **Header deadline**: a connection must send each complete request head within
  `header_timeout_s`, or it is closed: the first from when it opens, every later one from its
  first byte. Between requests a kept-alive connection may idle for `keepalive_s` (aiohttp's
  keep-alive timer), but a head trickled a byte at a time is late whichever request it is.
- **Body deadline**: a request body must arrive whole within `body_timeout_s` (408, and the
  connection closes); a body over the size cap is refused (413) before it is read, when its
  length is declared, or as soon as it passes the cap.
- **Connection cap**: at most `max_connections` sockets at once (by default the process's
  descriptor limit less a reserve for stores and files). A new connection over the cap evicts
  the oldest one that is not serving a request (still waiting for its head, or idle between
  requests); only when every connection is busy is the newcomer answered 503 and closed.
- **Accept errors** (EMFILE, ENFILE, ENOBUFS, ENOMEM): one warning per interval with a
  count, not a traceback per attempt.

Every shed connection or request is counted in `ivr_shed_total{reason}`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import Counter, Gauge

from ivr.engine.operate import within

_log = logging.getLogger("ivr.shedding")

SHED = Counter(
    "ivr_shed_total",
    "Connections and requests the server dropped to protect itself",
    ["reason"],  # header_timeout, body_timeout, too_large, evicted, over_capacity
)
OPEN_CONNECTIONS = Gauge("ivr_open_connections", "Client connections open in this process")

DESCRIPTOR_RESERVE = 64  # stores, journal worker pipes, prompt files, log handlers
HEAD_END = b"\r\n\r\n"
OVER_CAPACITY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 21\r\n\r\nserver at capacity\r\n\r\n"
)
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def default_max_connections() -> int:
    """The descriptor limit less a reserve (at least 16): the cap stays below EMFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, soft - DESCRIPTOR_RESERVE)


@dataclass(frozen=True)
class ShedLimits:
    header_timeout_s: float = 5.0  # a gateway sends its head at once; Twilio connects in 5 s
    body_timeout_s: float = 5.0  # bodies are a few KiB (capped at the app's max_body)
    keepalive_s: float = 75.0  # above common load balancers' 60 s idle timeout
    max_connections: int | None = None  # None: default_max_connections()

    def connection_cap(self) -> int:
        return self.max_connections or default_max_connections()


class GuardedConnection(asyncio.Protocol):
    """Sits in front of aiohttp's protocol for one socket: passes everything on, and closes
    the socket if a request head is late (timed from the socket's opening for the first, from
    its first byte for each later one: a kept-alive connection may idle, not trickle)."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.head_seen = False
        self.busy = 0  # requests being handled (the middleware counts them)
        self.admitted = False
        self.last_active = time.monotonic()
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard.admit(self):
            transport.write(OVER_CAPACITY)
            transport.close()
            return
        self.admitted = True
        self._arm()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if not self.head_seen:
            if self._timer is None and not self.busy:  # the first byte of a later request
                self._arm()
            seen = self._tail + data
            if HEAD_END in seen:
                self.head_seen = True
                self._tail = b""
                self._cancel_timer()
            else:
                self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.guard.forget(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def shed(self, reason: str) -> None:
        SHED.labels(reason).inc()
        if self.transport is not None:
            self.transport.abort()  # no lingering: the descriptor is freed now

    def request_started(self) -> None:
        """aiohttp parsed a head (whatever this guard saw of it, as with pipelined requests)."""
        self.head_seen = True
        self._tail = b""
        self._cancel_timer()
        self.busy += 1

    def request_done(self) -> None:
        """The request is served: the next head, if any, is timed from its first byte."""
        self.busy -= 1
        self.last_active = time.monotonic()
        if not self.busy:
            self.head_seen = False

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.guard.limits.header_timeout_s, self._head_overdue)

    def _head_overdue(self) -> None:
        self._timer = None
        if not self.head_seen and not self.busy:
            self.shed("header_timeout")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ConnectionGuard:
    """The open connections of one server, by socket, in the order they were opened."""

    def __init__(self, limits: ShedLimits) -> None:
        self.limits = limits
        self.cap = limits.connection_cap()
        self.open: dict[asyncio.Transport, GuardedConnection] = {}

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: GuardedConnection(self, inner())

    def admit(self, connection: GuardedConnection) -> bool:
        """Room for `connection`, evicting an idle one if the cap is reached."""
        if len(self.open) >= self.cap:
            victim = self._idlest()
            if victim is None:
                SHED.labels("over_capacity").inc()
                return False
            victim.shed("evicted")
            self.forget(victim)
        assert connection.transport is not None
        self.open[connection.transport] = connection
        OPEN_CONNECTIONS.set(len(self.open))
        return True

    def forget(self, connection: GuardedConnection) -> None:
        """Stop counting `connection` (closed, or being shed)."""
        transport = connection.transport
        if transport is not None and self.open.get(transport) is connection:
            del self.open[transport]
            OPEN_CONNECTIONS.set(len(self.open))

    def _idlest(self) -> GuardedConnection | None:
        """The connection least worth keeping: still waiting for its first head (oldest
        first), else idle between requests the longest; never one serving a request."""
        idle: GuardedConnection | None = None
        for connection in self.open.values():
            if connection.busy:
                continue
            if not connection.head_seen:
                return connection
            if idle is None or connection.last_active < idle.last_active:
                idle = connection
        return idle

    def connection_of(self, request: web.BaseRequest) -> GuardedConnection | None:
        transport = request.transport
        return None if transport is None else self.open.get(transport)


@dataclass
class Shedding:
    """What the middleware and the site of one application share."""

    limits: ShedLimits
    max_body: int
    guard: ConnectionGuard


SHEDDING: web.AppKey[Shedding] = web.AppKey("shedding")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the body (cached by aiohttp for the handler) under the body deadline and the size
    cap; mark the connection busy while the request is served."""
    shedding = request.app[SHEDDING]
    connection = shedding.guard.connection_of(request)
    if connection is None:
        return await _read_then_handle(request, handler, shedding)
    connection.request_started()
    try:
        return await _read_then_handle(request, handler, shedding)
    finally:
        connection.request_done()


async def _read_then_handle(
    request: web.Request, handler: Handler, shedding: Shedding
) -> web.StreamResponse:
    if request.can_read_body:
        declared = request.content_length
        if declared is not None and declared > shedding.max_body:
            return _refuse(413, "body too large", "too_large")
        try:
            if request.content.is_eof():  # all here already (the usual webhook): no timer
                await request.read()
            else:
                await within(shedding.limits.body_timeout_s, request.read())
        except TimeoutError:
            return _refuse(408, "body not received in time", "body_timeout")
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "body too large", "too_large")
    return await handler(request)


def _refuse(status: int, reason: str, label: str) -> web.Response:
    SHED.labels(label).inc()
    _log.warning("request refused: %s", reason, extra={"status": status})
    response = web.json_response({"error": reason}, status=status)
    response.force_close()  # the rest of the body is never read: the connection cannot be reused
    return response


def shed_abuse(app: web.Application, limits: ShedLimits, max_body: int) -> None:
    """Install the body deadline and size cap on `app` (before it is frozen); a GuardedSite
    serving it guards its connections."""
    app[SHEDDING] = Shedding(limits, max_body, ConnectionGuard(limits))
    app.middlewares.append(read_body_in_time)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a ConnectionGuard."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        backlog: int = 128,  # aiohttp's own default for a TCP site
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self.runner = runner  # ours: aiohttp's own reference is private
        self.backlog = backlog
        self._host = host
        self._port = port
        self.guard = guard
        self.bound_port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.bound_port}"

    async def start(self) -> None:
        await super().start()
        server = self.runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard.factory(server),
            self._host,
            self._port,
            backlog=self.backlog,
            reuse_address=True,
        )
        self.bound_port = self._server.sockets[0].getsockname()[1]


class AcceptErrors:
    """A loop exception handler: resource errors of `accept()` become one warning per
    `interval_s` with the count since the last one; anything else goes to the default."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.suppressed = 0
        self._next_at = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if not (isinstance(error, OSError) and error.errno in RESOURCE_ERRNOS):
            loop.default_exception_handler(context)
            return
        SHED.labels("accept_error").inc()
        now = time.monotonic()
        if now < self._next_at:
            self.suppressed += 1
            return
        self._next_at = now + self.interval_s
        _log.warning(
            "accept failed: %s (%d more in the last %.0f s); connections are shed",
            errno.errorcode.get(error.errno or 0, "OSError"),
            self.suppressed,
            self.interval_s,
        )
        self.suppressed = 0


class ClientFaults(logging.Filter):
    """On aiohttp's server logger: a request the client got wrong (a malformed line or
    header, a line too long) is the client's fault, so it is logged at warning, without a
    traceback, and at most once per `interval_s` with a count of the others."""

    def __init__(self, interval_s: float = 1.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.suppressed = 0
        self._next_at = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError) or not 400 <= (error.code or 400) < 500:
            return True
        now = time.monotonic()
        if now < self._next_at:
            self.suppressed += 1
            return False
        self._next_at = now + self.interval_s
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "bad request from a client: %s (%d more since the last)"
        record.args = (type(error).__name__, self.suppressed)
        record.exc_info = record.exc_text = None
        self.suppressed = 0
        return True


async def start_guarded_site(runner: web.AppRunner, host: str, port: int) -> GuardedSite:
    """Listen on host:port with every connection guarded (the app went through `shed_abuse`);
    quiet the loop's accept errors."""
    asyncio.get_running_loop().set_exception_handler(AcceptErrors())
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientFaults) for f in server_log.filters):
        server_log.addFilter(ClientFaults())
    site = GuardedSite(runner, host, port, runner.app[SHEDDING].guard)
    await site.start()
    return site
