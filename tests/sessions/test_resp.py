"""The lean Redis client: its wire format, and its behaviour against the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from ivr.sessions import SessionError
from ivr.sessions.redis_store import RedisSessionStore
from ivr.sessions.resp import (
    RedisAddress,
    Reply,
    RespClient,
    RespConnectionError,
    RespError,
    Script,
    _Protocol,
    encode_command,
    parse_reply,
    subscribe,
)
from tests.sessions.conftest import REDIS_URL

STREAM = (
    b"+OK\r\n-ERR wrong\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*3\r\n$1\r\na\r\n:7\r\n*1\r\n$0\r\n\r\n"
)


@pytest.fixture
async def client() -> AsyncIterator[RespClient]:
    resp = RespClient.from_url(REDIS_URL, timeout_s=1.0)
    yield resp
    await resp.close()


@pytest.fixture
def key() -> str:
    return f"ivr-test-resp-{uuid.uuid4().hex[:12]}"


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert encode_command(("SET", "k", b"v\r\n", 5)) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$1\r\n5\r\n"
    )


def test_every_reply_type_is_read() -> None:
    replies = []
    position = 0
    while position < len(STREAM):
        reply, position = parse_reply(STREAM, position)
        replies.append(reply)
    assert replies[0] == "OK"
    assert isinstance(replies[1], RespError)
    assert str(replies[1]) == "ERR wrong"
    assert replies[2:] == [42, b"he\r\nl", None, [b"a", 7, [b""]]]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=6))
def test_replies_split_anywhere_across_reads_come_out_whole(cuts: list[int]) -> None:
    """TCP may cut a reply at any byte: the protocol waits for the rest, never misreads."""

    async def feed() -> list[asyncio.Future[Reply]]:
        protocol = _Protocol(timeout_s=60)
        futures = [protocol.send(b"") for _ in range(6)]
        edges = [0, *sorted(set(cuts)), len(STREAM)]
        for start, end in zip(edges, edges[1:], strict=False):
            protocol.data_received(STREAM[start:end])
        assert not protocol.buffer
        return futures

    futures = asyncio.run(feed())
    assert all(future.done() for future in futures)
    assert isinstance(futures[1].exception(), RespError)
    assert [f.result() for f in futures if f.exception() is None] == [
        "OK",
        42,
        b"he\r\nl",
        None,
        [b"a", 7, [b""]],
    ]


def test_urls_give_host_port_database_and_credentials() -> None:
    address = RedisAddress.from_url("rediss://svc:p%40ss@cache.example:6380/3")
    assert address == RedisAddress("cache.example", 6380, 3, "svc", "p@ss", tls=True)
    assert RedisAddress.from_url("redis://127.0.0.1") == RedisAddress("127.0.0.1", 6379)
    with pytest.raises(ValueError, match="redis://"):
        RedisAddress.from_url("http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="database number"):
        RedisAddress.from_url("redis://127.0.0.1:6379/cache")


async def test_commands_and_error_replies(client: RespClient, key: str) -> None:
    assert await client.execute("SET", key, "v", "EX", 60) == "OK"
    assert await client.execute("GET", key) == b"v"
    with pytest.raises(RespError, match="WRONGTYPE"):
        await client.execute("LPUSH", key, "x")
    assert await client.execute("DEL", key) == 1  # the connection is still in step


async def test_concurrent_commands_each_get_their_own_reply(client: RespClient, key: str) -> None:
    values = [f"value-{n}" for n in range(300)]
    await asyncio.gather(*(client.execute("SET", f"{key}:{n}", v) for n, v in enumerate(values)))
    got = await asyncio.gather(*(client.execute("GET", f"{key}:{n}") for n in range(300)))
    assert got == [v.encode() for v in values]
    await client.execute("DEL", *(f"{key}:{n}" for n in range(300)))


async def test_a_reply_whose_caller_gave_up_is_not_handed_to_the_next_command(
    client: RespClient, key: str
) -> None:
    blocked = asyncio.create_task(client.execute("BLPOP", key, 0.3))  # nil after 0.3 s
    await asyncio.sleep(0.05)
    blocked.cancel()
    # queued behind the BLPOP on the same connection: its reply comes after the nil
    assert await client.execute("SET", key, "after", "EX", 60) == "OK"
    assert await client.execute("GET", key) == b"after"
    await client.execute("DEL", key)


async def test_a_command_past_its_deadline_fails_and_the_next_one_reconnects(key: str) -> None:
    resp = RespClient.from_url(REDIS_URL, timeout_s=0.4)
    try:
        blocked = asyncio.create_task(resp.execute("BLPOP", key, 2))
        await asyncio.sleep(0.05)
        behind = asyncio.create_task(resp.execute("PING"))
        with pytest.raises(RespConnectionError, match="did not answer within 0.4 s"):
            await blocked
        with pytest.raises(RespConnectionError):
            await behind  # the connection was given up with everything on it
        assert await resp.execute("PING") == "PONG"
    finally:
        await resp.close()


async def test_a_command_past_its_callers_deadline_fails_alone(key: str) -> None:
    """A webhook's deadline ends its own command; the connection and the others go on."""
    resp = RespClient.from_url(REDIS_URL, timeout_s=2.0)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        blocked = asyncio.create_task(resp.execute("BLPOP", key, 0.6, deadline=started + 0.2))
        behind = asyncio.create_task(resp.execute("PING"))
        with pytest.raises(RespConnectionError, match="by the deadline"):
            await blocked
        assert loop.time() - started < 0.45  # the watchdog looks every 0.1 s
        assert await behind == "PONG"  # answered once the BLPOP's nil came (and was dropped)
        assert await resp.execute("PING") == "PONG"
    finally:
        await resp.close()


async def test_it_connects_again_after_the_connection_drops(
    client: RespClient, raw_redis: Redis
) -> None:
    assert await client.execute("CLIENT", "SETNAME", "ivr-resp-test") == "OK"
    own_id = await client.execute("CLIENT", "ID")
    await raw_redis.execute_command("CLIENT", "KILL", "ID", own_id)
    await asyncio.sleep(0.05)
    assert await client.execute("PING") == "PONG"
    assert await client.execute("CLIENT", "ID") != own_id


async def test_the_database_in_the_url_is_selected(key: str) -> None:
    resp = RespClient.from_url(REDIS_URL.rsplit("/", 1)[0] + "/3")
    other = Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/3", decode_responses=True)
    try:
        await resp.execute("SET", key, "in-3", "EX", 60)
        assert await other.get(key) == "in-3"
        await other.delete(key)
    finally:
        await resp.close()
        await other.aclose()


async def test_a_refused_password_is_an_error_not_a_hang() -> None:
    resp = RespClient.from_url("redis://:wrong@127.0.0.1:6379/0", timeout_s=1.0)
    try:
        with pytest.raises(RespError, match="AUTH|password|WRONGPASS"):
            await resp.execute("PING")
    finally:
        await resp.close()


async def test_a_script_unknown_to_the_server_is_sent_whole(
    client: RespClient, raw_redis: Redis, key: str
) -> None:
    script = Script(f"return redis.call('SET', KEYS[1], ARGV[1]) -- {key}")
    assert await client.evalsha(script, [key], ["first"]) == "OK"
    assert await raw_redis.get(key) == "first"
    await raw_redis.delete(key)


async def test_an_unreachable_redis_is_a_session_error() -> None:
    with pytest.raises(SessionError, match="PING"):
        await RedisSessionStore.open("redis://127.0.0.1:1/0")
    with pytest.raises(SessionError, match="redis://"):
        await RedisSessionStore.open("memcached://127.0.0.1:11211")


async def test_a_subscription_yields_what_is_published_and_reports_a_refusal() -> None:
    channel = f"ivr-test-{uuid.uuid4().hex}"
    subscribed = asyncio.Event()
    messages = subscribe(RedisAddress.from_url(REDIS_URL), channel, on_subscribed=subscribed.set)
    first = asyncio.ensure_future(anext(messages))
    await asyncio.wait_for(subscribed.wait(), 2)
    async with Redis.from_url(REDIS_URL) as client:
        await client.publish(channel, b"one\r\n$3\r\ntwo")  # RESP framing inside a payload
        await client.publish(channel, b"")
    assert await asyncio.wait_for(first, 2) == b"one\r\n$3\r\ntwo"
    assert await asyncio.wait_for(anext(messages), 2) == b""
    await messages.aclose()
    refused = subscribe(RedisAddress.from_url("redis://:wrong@127.0.0.1:6379/0"), channel)
    with pytest.raises(RespConnectionError, match="refused"):
        await asyncio.wait_for(anext(refused), 2)


async def test_a_quiet_subscription_is_kept_alive_and_a_silent_server_given_up() -> None:
    channel = f"ivr-test-{uuid.uuid4().hex}"
    alive = subscribe(RedisAddress.from_url(REDIS_URL), channel, idle_s=0.2)
    waiting = asyncio.ensure_future(anext(alive))
    await asyncio.sleep(1.0)  # several pings asked and answered (each within 0.2 s)
    assert not waiting.done()
    async with Redis.from_url(REDIS_URL) as client:
        await client.publish(channel, b"still here")
    assert await asyncio.wait_for(waiting, 2) == b"still here"
    await alive.aclose()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes every command, answers none (a link cut without a FIN)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gone = subscribe(RedisAddress.from_url(f"redis://127.0.0.1:{port}/0"), "x", idle_s=0.05)
        with pytest.raises(RespConnectionError, match="did not answer a ping"):
            await asyncio.wait_for(anext(gone), 2)
    finally:
        server.close()
        await server.wait_closed()
