"""A lean Redis client for the session store's hot path: RESP2 over one pipelined connection.

Kept, for one server named by a plain redis:// or rediss:// URL, because the library misses issue
12's target there: `python -m bench.webhooks --only redis,redis-py` measures the server's CPU per
webhook with Redis state against in-memory state, and redis-py (asyncio, hiredis) came out well
above the target and this client within it (figures in docs/call-state.md; `python -m bench.micro
--only redis` prints both clients' CPU per pair). Every webhook makes two Redis round trips
(lock+load, save+unlock); redis-py checks a connection out of its pool and writes each command with
its own send, where this client writes every caller's commands on a single connection, one send per
event-loop turn, and matches the replies in order (Redis answers a connection's commands in the
order sent). Sentinel, Cluster and URLs with TLS or socket options go to redis-py
(ivr.sessions.redis_backends), which this client does not try to be.

Scope, deliberately small: RESP2 replies (simple strings, errors, integers, bulk strings,
arrays), `redis://` and `rediss://` URLs with an optional user/password and database number,
a deadline per command, and a reconnect on the next command after the connection drops.
A command whose caller gave up (deadline, cancellation) still has its reply read and dropped,
so replies never shift onto the wrong command.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

Reply = None | int | bytes | str | list["Reply"]
Arg = str | bytes | int

_CRLF = b"\r\n"


class RespError(Exception):
    """Redis answered with an error reply (the text is Redis's, never our arguments)."""


class RespConnectionError(ConnectionError):
    """The connection could not be made, dropped, or a command overran its deadline."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where and how to connect, from a redis:// or rediss:// URL."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"a Redis URL starts with redis:// or rediss://, not {parts.scheme}:")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError("the Redis URL's path must be a database number, e.g. /0")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(path) if path else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=parts.scheme == "rediss",
        )


def encode_command(args: tuple[Arg, ...]) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


def parse_reply(buffer: bytes | bytearray, start: int) -> tuple[Reply | RespError, int]:
    """One reply from `buffer` at `start`, and where the next begins; raises _Incomplete."""
    end = buffer.find(_CRLF, start)
    if end < 0:
        raise _Incomplete
    kind = buffer[start]
    line = bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == 0x2B:  # + simple string
        return line.decode(), after
    if kind == 0x2D:  # - error
        return RespError(line.decode(errors="replace")), after
    if kind == 0x3A:  # : integer
        return int(line), after
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, after
        items: list[Reply] = []
        position = after
        for _ in range(count):
            item, position = parse_reply(buffer, position)
            if isinstance(item, RespError):
                raise RespConnectionError("nested error replies are not expected here")
            items.append(item)
        return items, position
    raise RespConnectionError(f"unexpected RESP type byte {kind:#x}")


class _Protocol(asyncio.Protocol):
    """Matches replies to waiting futures in the order the commands were written.

    Commands issued in the same turn of the event loop leave in one `send` (a send system
    call costs more than encoding a command).
    Deadlines are checked by one watchdog timer per connection (every 0.1 s at most) rather
    than a timer per command: a command past its caller's deadline fails alone (its reply is
    read and dropped when it comes); one unanswered for the connection's `timeout_s` fails
    with every other, and the connection is closed (a Redis that does not answer in time is
    treated as gone; the next command reconnects).
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        # (reply, when the connection gives up, when the caller gives up)
        self.waiting: deque[tuple[asyncio.Future[Reply], float, float]] = deque()
        self.buffer = bytearray()
        self.closed = False
        self._outgoing: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._watch()

    def send(self, command: bytes, deadline: float | None = None) -> asyncio.Future[Reply]:
        """Queue `command` for this turn's write; the future gets its reply, or fails at
        `deadline` (a `loop.time()` instant) if that comes first."""
        loop = self._loop
        future: asyncio.Future[Reply] = loop.create_future()
        limit = loop.time() + self.timeout_s
        self.waiting.append((future, limit, limit if deadline is None else min(deadline, limit)))
        if not self._outgoing:
            loop.call_soon(self._flush)
        self._outgoing.append(command)
        return future

    def _flush(self) -> None:
        if self._outgoing and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def _watch(self) -> None:
        self._watchdog = self._loop.call_later(min(0.1, self.timeout_s / 4), self._check)

    def _check(self) -> None:
        now = self._loop.time()
        waiting = self.waiting
        if waiting and waiting[0][1] <= now:  # the oldest waited the connection's timeout
            future = waiting[0][0]
            if not future.done():
                future.set_exception(
                    RespConnectionError(f"Redis did not answer within {self.timeout_s} s")
                )
            if self.transport is not None:
                self.transport.close()  # connection_lost fails the rest
            return
        for future, _limit, deadline in waiting:
            if deadline <= now and not future.done():
                future.set_exception(RespConnectionError("Redis did not answer by the deadline"))
        self._watch()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        position = 0
        waiting = self.waiting
        try:
            while waiting and position < len(buffer):
                try:
                    reply, position = parse_reply(buffer, position)
                except _Incomplete:
                    break
                future = waiting.popleft()[0]
                if future.done():  # its caller gave up; the reply is read and dropped
                    continue
                if isinstance(reply, RespError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (RespConnectionError, ValueError) as error:
            self._fail(RespConnectionError(f"bad reply from Redis: {error}"))
            if self.transport is not None:
                self.transport.close()
            return
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RespConnectionError("connection to Redis lost"))

    def _fail(self, error: Exception) -> None:
        self.closed = True
        self._outgoing.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
        while self.waiting:
            future = self.waiting.popleft()[0]
            if not future.done():
                future.set_exception(error)


class RespClient:
    """One connection, shared by every task of the process; connects again after a drop."""

    def __init__(self, address: RedisAddress, *, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 2.0) -> RespClient:
        return cls(RedisAddress.from_url(url), timeout_s=timeout_s)

    async def execute(self, *args: Arg, deadline: float | None = None) -> Reply:
        """Send one command and wait for its reply; RespError for an error reply,
        RespConnectionError when there is none by `deadline` (a `loop.time()` instant)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connection(deadline)
        return await protocol.send(encode_command(args), deadline)

    def send_now(self, *args: Arg) -> asyncio.Future[Reply] | None:
        """Queue a command on the open connection without a task or a wait (for a reply nobody
        waits for, such as a PUBLISH): its future gets the reply. None when not connected yet
        (then `execute`, which connects)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            return None
        return protocol.send(encode_command(args))

    async def evalsha(
        self, script: Script, keys: list[str], args: list[Arg], deadline: float | None = None
    ) -> Reply:
        """Run a Lua script by its hash, loading it first if this server does not know it."""
        try:
            return await self.execute(
                "EVALSHA", script.sha, len(keys), *keys, *args, deadline=deadline
            )
        except RespError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            return await self.execute(
                "EVAL", script.source, len(keys), *keys, *args, deadline=deadline
            )

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    async def _connection(self, deadline: float | None = None) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        loop = asyncio.get_running_loop()
        limit = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(limit if deadline is None else min(limit, deadline)):
                async with self._connecting:
                    if self._protocol is not None and not self._protocol.closed:
                        return self._protocol
                    self._protocol = await self._connect()
                    return self._protocol
        except TimeoutError as error:
            raise RespConnectionError("could not connect to Redis in time") from error

    async def _connect(self) -> _Protocol:
        address = self.address
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if address.tls else None
        protocol: _Protocol | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                _transport, protocol = await loop.create_connection(
                    lambda: _Protocol(self.timeout_s), address.host, address.port, ssl=context
                )
                setup: list[tuple[Arg, ...]] = []
                if address.password is not None:
                    user = address.username
                    password = address.password
                    setup.append(("AUTH", user, password) if user else ("AUTH", password))
                if address.db:
                    setup.append(("SELECT", address.db))
                for command in setup:
                    await protocol.send(encode_command(command))
        except BaseException as error:
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()  # half set up (refused AUTH, wrong db): not reused
            if isinstance(error, TimeoutError):
                raise RespConnectionError("could not connect to Redis in time") from error
            if isinstance(error, OSError):
                name = type(error).__name__
                raise RespConnectionError(f"could not connect to Redis: {name}") from error
            raise
        return protocol


class Script:
    """A Lua script and its SHA-1, as EVALSHA names it (hashed once)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


async def subscribe(
    address: RedisAddress,
    channel: str,
    *,
    timeout_s: float = 2.0,
    idle_s: float = 30.0,
    on_subscribed: Callable[[], None] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The payloads published on `channel`, on a connection of their own (a subscribed RESP2
    connection takes no other command); `on_subscribed` runs once Redis confirms. Ends by
    raising RespConnectionError when the connection drops, or when Redis, pinged after
    `idle_s` of silence, does not answer within another `idle_s` (a connection cut without a
    FIN would otherwise be waited on for ever)."""
    context = ssl.create_default_context() if address.tls else None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(address.host, address.port, ssl=context)
    except (OSError, TimeoutError) as error:
        raise RespConnectionError(f"could not connect to Redis: {type(error).__name__}") from error
    try:
        if address.password is not None:
            user, password = address.username, address.password
            writer.write(encode_command(("AUTH", user, password) if user else ("AUTH", password)))
        writer.write(encode_command(("SUBSCRIBE", channel)))
        buffer = bytearray()
        pinged = False
        while True:
            try:
                reply, used = parse_reply(buffer, 0) if buffer else (None, -1)
            except _Incomplete:
                used = -1
            if used < 0:
                try:
                    data = await asyncio.wait_for(reader.read(65536), idle_s)
                except TimeoutError:
                    if pinged:
                        raise RespConnectionError("Redis did not answer a ping") from None
                    writer.write(encode_command(("PING",)))
                    pinged = True
                    continue
                if not data:
                    raise RespConnectionError("Redis closed the subscription")
                pinged = False
                buffer += data
                continue
            del buffer[:used]
            if isinstance(reply, RespError):
                raise RespConnectionError(f"Redis refused the subscription: {reply}")
            if not isinstance(reply, list) or len(reply) != 3:
                continue
            if reply[0] == b"message" and isinstance(reply[2], bytes):
                yield reply[2]
            elif reply[0] == b"subscribe" and on_subscribed is not None:
                on_subscribed()
    except RespConnectionError:
        raise
    except OSError as error:
        raise RespConnectionError(f"the subscription dropped: {type(error).__name__}") from error
    finally:
        writer.close()
