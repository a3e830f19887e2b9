"""A lean HTTP/1.1 load generator for the webhook benchmark (bench/webhooks.py).

Why not aiohttp's ClientSession: it costs ~430 µs of CPU per request on the load core, so a
load process tops out near 2,250 requests/s, below the 2,500/s the server must show, and the
benchmark would measure the client instead of the server. This generator is an
`asyncio.Protocol` per keep-alive loopback connection (cheaper than asyncio streams, which
add a StreamReader, a StreamWriter and a coroutine per read), one request in flight per
connection (gateways do not pipeline), each request formatted as bytes in one piece with a
genuine X-Twilio-Signature, and a small response reader that frames by Content-Length,
chunked encoding or connection close. Its own CPU per request is reported beside every
figure, so a reader can see it is not the bottleneck.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import resource
import string
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote_plus, urlencode

from ivr.adapters.signatures import twilio_signature

MAX_HEAD = 64 * 1024
_ACTION = re.compile(rb'action="([^"]+)"')
_UNTIL_CLOSE = -1  # no Content-Length, not chunked: the body ends when the server closes
_CHUNKED = -2
_SAFE = string.ascii_letters + string.digits + "_.-~"


def _header(fields: bytes, needle: bytes) -> bytes | None:
    """The value of the header `needle` ("\r\nname:") in `fields` (lower-cased), or None.

    A `find` in C instead of a Python loop over the lines: this is the reader's hot path.
    """
    at = fields.find(needle)
    if at < 0:
        return None
    start = at + len(needle)
    return fields[start : fields.find(b"\r\n", start)].strip()


def _quote(value: str) -> str:
    """Form-encode a value; hex ids, digits and status words need no escaping (the common case)."""
    return value if value.isascii() and not value.strip(_SAFE) else quote_plus(value)


class Response(NamedTuple):
    status: int
    body: bytes


class ProtocolError(ConnectionError):
    """The server's bytes do not frame as one HTTP/1.1 response per request."""


class ResponseReader(asyncio.Protocol):
    """One connection's side of the wire: writes a request, parses the single answer.

    Parsing runs in `data_received` on the bytes as they come (no coroutine per read, no
    copy in the common case of a whole response in one segment). Bytes arriving when no
    request is in flight, or beyond the end of a response, are a framing error.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.received = False  # any byte of the current response yet
        self._waiter: asyncio.Future[Response] | None = None
        self._pending = b""  # an incomplete head or chunk-size line
        self._status = 0  # 0 while the head is still being read
        self._length = 0
        self._keep_alive = True
        self._parts: list[bytes] = []  # the body so far
        self._have = 0
        self._chunk_left = 0  # chunked: body bytes still due in the current chunk
        self._trailers = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self.open = True

    def send(self, request: bytes) -> asyncio.Future[Response]:
        """Write `request`; the future is the response (one in flight at a time)."""
        if self._waiter is not None:
            raise RuntimeError("a request is already in flight on this connection")
        assert self.transport is not None
        waiter: asyncio.Future[Response] = self._loop.create_future()
        self._waiter = waiter
        self.received = False
        self._status = self._have = self._chunk_left = 0
        self._trailers = False
        self._parts = []
        self.transport.write(request)
        return waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self._fail(ProtocolError(f"{len(data)} bytes with no request in flight"))
            return
        self.received = True
        if self._pending:
            data, self._pending = self._pending + data, b""
        try:
            if not self._status:
                rest = self._read_head(data)
                if rest is None:
                    return
                data = rest
            if self._length >= 0:
                self._read_sized(data)
            elif self._length == _CHUNKED:
                self._read_chunks(data)
            else:
                self._parts.append(data)
        except (ValueError, ProtocolError) as error:
            self._fail(error if isinstance(error, ProtocolError) else ProtocolError(str(error)))

    def _read_head(self, data: bytes) -> bytes | None:
        """Parse the status line and headers; the bytes after them, or None until complete."""
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > MAX_HEAD:
                    raise ProtocolError("response head too long")
                self._pending = data
                return None
            first = data.find(b"\r\n")
            line = data[:first]
            if line[:7] != b"HTTP/1." or line[8:9] != b" " or not line[9:12].isdigit():
                raise ProtocolError(f"bad status line {line[:80]!r}")
            status = int(line[9:12])
            fields = data[first : end + 2].lower()
            data = data[end + 4 :]
            if status < 200:  # interim (100 Continue): the real answer follows
                continue
            length = _header(fields, b"\r\ncontent-length:")
            chunked = b"chunked" in (_header(fields, b"\r\ntransfer-encoding:") or b"")
            connection = _header(fields, b"\r\nconnection:")
            self._status = status
            self._keep_alive = connection != b"close" and (
                line[7:8] == b"1" or connection == b"keep-alive"
            )
            if status in (204, 304):
                self._length = 0
            elif chunked:
                self._length = _CHUNKED
            elif length is not None:
                self._length = int(length)
            else:
                self._length = _UNTIL_CLOSE
                self._keep_alive = False
            return data

    def _read_sized(self, data: bytes) -> None:
        if data:
            self._parts.append(data)
            self._have += len(data)
        if self._have < self._length:
            return
        if self._have > self._length:
            raise ProtocolError(f"{self._have - self._length} bytes beyond the response")
        self._finish(self._parts[0] if len(self._parts) == 1 else b"".join(self._parts))

    def _read_chunks(self, data: bytes) -> None:
        at = 0
        while True:
            if self._chunk_left > 0:  # inside a chunk: its data, then CRLF
                take = min(self._chunk_left, len(data) - at)
                self._parts.append(data[at : at + take])
                at += take
                self._chunk_left -= take
                if self._chunk_left:
                    return
                self._chunk_left = -2  # CRLF due
            if len(data) - at < 2 and (self._chunk_left == -2 or self._trailers):
                self._pending = data[at:]
                return
            if self._chunk_left == -2:
                if data[at : at + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                at += 2
                self._chunk_left = 0
                continue
            if self._trailers:  # after the last chunk: an empty line, or trailers then one
                if data.startswith(b"\r\n", at):
                    end = at + 2
                else:
                    end = data.find(b"\r\n\r\n", at)
                    if end < 0:
                        self._pending = data[at:]
                        return
                    end += 4
                if len(data) > end:
                    raise ProtocolError(f"{len(data) - end} bytes beyond the response")
                self._finish(b"".join(self._parts))
                return
            end = data.find(b"\r\n", at)
            if end < 0:
                self._pending = data[at:]
                return
            size = int(data[at:end].split(b";", 1)[0].strip(), 16)
            at = end + 2
            if size == 0:
                self._trailers = True
            else:
                self._chunk_left = size

    def _finish(self, body: bytes) -> None:
        waiter, self._waiter = self._waiter, None
        if not self._keep_alive:
            self._close()
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, body))

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self._close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _close(self) -> None:
        self.open = False
        self._pending = b""
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        self.open = False
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if self._status and self._length == _UNTIL_CLOSE:
            waiter.set_result(Response(self._status, b"".join(self._parts)))
        else:
            waiter.set_exception(ConnectionResetError("connection closed mid-response"))


class Connection:
    """A keep-alive connection to host:port, reopened when the server has closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: ResponseReader | None = None
        self.connects = 0

    def request(self, data: bytes) -> Awaitable[Response]:
        """Send on the open connection (no coroutine in this hot path), else reconnect first.

        A connection the server closed while idle is seen (EOF) before the next request and
        reopened; one reset while a request is in flight is that request's error, not retried.
        """
        reader = self._reader
        if reader is not None and reader.open:
            return reader.send(data)
        return self._reconnect_and_send(data)

    async def _reconnect_and_send(self, data: bytes) -> Response:
        return await (await self._connect()).send(data)

    async def _connect(self) -> ResponseReader:
        loop = asyncio.get_running_loop()
        _, reader = await loop.create_connection(ResponseReader, self.host, self.port)
        self._reader = reader
        self.connects += 1
        return reader

    def close(self) -> None:
        if self._reader is not None and self._reader.transport is not None:
            self._reader.transport.close()
        self._reader = None


class Pool:
    """Connections for the open loop: an idle one if there is one, else a new one.

    The pool grows without limit so that a slow server shows up as latency, never as a
    lower offered rate; `size` is how many connections the run needed at its peak.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[Connection] = []
        self._all: list[Connection] = []

    @property
    def size(self) -> int:
        return len(self._all)

    async def request(self, data: bytes) -> Response:
        if self._idle:
            connection = self._idle.pop()
        else:
            connection = Connection(self.host, self.port)
            self._all.append(connection)
        try:
            return await connection.request(data)
        finally:
            self._idle.append(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()


Send = Callable[[bytes], Awaitable[Response]]


class TwilioCalls:
    """Calls as Twilio places them: the voice webhook, the gather URL from the TwiML's
    `action`, then the `completed` status callback; every request signed for its exact URL.

    `fields` are the form fields every webhook carries; the fixed part of the body is encoded
    once, and only the per-call fields (CallSid, CallStatus, Digits...) per request.
    """

    def __init__(
        self, host: str, port: int, token: str, fields: Mapping[str, str], digits: str
    ) -> None:
        self.host_port = (host, port)
        self.base = f"http://{host}:{port}"
        self.token = token
        self.digits = digits
        self._fixed = [(k, v) for k, v in fields.items() if k not in ("CallSid", "CallStatus")]
        self._fixed_body = urlencode(self._fixed)
        self._head = f"Host: {host}:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        self.latencies: list[float] = []
        self.events = 0
        self.errors = 0

    def encode(self, path: str, extra: Sequence[tuple[str, str]]) -> bytes:
        """The whole request for a POST of the fixed fields plus `extra` to `path`, signed."""
        body = self._fixed_body + "".join(f"&{name}={_quote(value)}" for name, value in extra)
        signature = twilio_signature(self.token, self.base + path, [*self._fixed, *extra])
        return (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n"
            f"X-Twilio-Signature: {signature}\r\n\r\n{body}"
        ).encode()

    async def post(self, send: Send, path: str, extra: Sequence[tuple[str, str]]) -> bytes | None:
        """One webhook: counted, timed; None when it failed (non-200 or no answer)."""
        request = self.encode(path, extra)
        started = time.perf_counter()
        self.events += 1
        try:
            response = await send(request)
        except OSError:
            self.errors += 1
            return None
        self.latencies.append(time.perf_counter() - started)
        if response.status != 200:
            self.errors += 1
            return None
        return response.body

    def gather_path(self, twiml: bytes) -> str:
        """The path of the TwiML's `action` URL, exactly as it must be requested and signed."""
        found = _ACTION.search(twiml)
        if not found:
            return "/twilio/gather"
        action = html.unescape(found.group(1).decode())
        return action.removeprefix(self.base)

    async def call(self, send: Send, gap_s: float = 0.0) -> None:
        """Voice, the date of birth at the gather URL it gave, then completed."""
        sid = "CA" + os.urandom(16).hex()
        twiml = await self.post(
            send, "/twilio/voice", [("CallSid", sid), ("CallStatus", "ringing")]
        )
        gather = self.gather_path(twiml or b"")
        if gap_s:
            await asyncio.sleep(gap_s)
        answer = [("CallSid", sid), ("CallStatus", "in-progress"), ("Digits", self.digits)]
        await self.post(send, gather, [*answer, ("FinishedOnKey", "#")])
        if gap_s:
            await asyncio.sleep(gap_s)
        await self.post(send, "/twilio/status", [("CallSid", sid), ("CallStatus", "completed")])

    def reset(self) -> int:
        """Forget the counts so far (the warm-up); how many events they were."""
        events = self.events
        self.latencies.clear()
        self.events = self.errors = 0
        return events


def cpu_seconds() -> float:
    """This process's user + system CPU time: the generator's own cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def closed_loop(calls: TwilioCalls, seconds: float, concurrency: int) -> dict[str, Any]:
    """`concurrency` callers, each on its own connection, placing calls back to back."""
    connections = [Connection(*calls.host_port) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(calls.call(c.request) for c in connections))  # connect, warm up
        warmup = calls.reset()
        stop_at = time.perf_counter() + seconds

        async def caller(connection: Connection) -> None:
            while time.perf_counter() < stop_at:
                await calls.call(connection.request)

        cpu, started = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(caller(c) for c in connections))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        for connection in connections:
            connection.close()
    return {
        "events": calls.events,
        "warmup_events": warmup,
        "seconds": elapsed,
        "errors": calls.errors,
        "client_cpu_s": cpu,
        "connections": concurrency,
    }


async def open_loop(calls: TwilioCalls, seconds: float, rate: float) -> dict[str, Any]:
    """Calls started so that events are offered at `rate`/s whatever the answers' speed."""
    pool = Pool(*calls.host_port)
    tasks: set[asyncio.Task[None]] = set()
    try:
        await asyncio.gather(*(calls.call(pool.request) for _ in range(4)))  # a few warm
        warmup = calls.reset()
        interval = 3 / rate  # three events per call, spaced evenly within the call
        cpu, started = cpu_seconds(), time.perf_counter()
        n = 0
        while (now := time.perf_counter()) - started < seconds:
            due = started + n * interval
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(calls.call(pool.request, interval / 3))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        pool.close()
    ordered = sorted(calls.latencies) or [0.0]
    return {
        "offered_per_s": rate,
        "events": calls.events,
        "warmup_events": warmup,
        "seconds": elapsed,
        "errors": calls.errors,
        "client_cpu_s": cpu,
        "connections": pool.size,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000,
        "max_ms": ordered[-1] * 1000,
    }
