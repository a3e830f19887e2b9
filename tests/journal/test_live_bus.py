"""The live bus over the real Redis: each process's records reach the others' hubs (never its
own twice), as JSON with secrets stripped, and neither garbage nor a Redis that is away breaks
a call."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
from redis import asyncio as aioredis

from ivr.journal.hub import JournalHub
from ivr.journal.live_bus import LiveBus, decode, encode
from ivr.journal.records import JournalRecord, RecordKind, scrub_record
from ivr.journal.synthetic import CallScript, build_call
from tests.sessions.conftest import REDIS_URL

T0 = 1_717_200_000.0


@pytest.fixture
def channel() -> str:
    return f"ivr-test-{uuid.uuid4().hex[:12]}:journal:live"


@pytest.fixture
async def buses(channel: str) -> AsyncIterator[tuple[LiveBus, LiveBus]]:
    a, b = LiveBus(REDIS_URL, JournalHub(), channel), LiveBus(REDIS_URL, JournalHub(), channel)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


def clean_call(
    call_id: str, ani_found: bool, verify: list[str] | None = None
) -> list[JournalRecord]:
    """A synthetic call as the engine writes it: numbers already masked."""
    script = CallScript(call_id, T0, ani_found=ani_found, verify=verify or [])
    return [scrub_record(r)[0] for r in build_call(script)]


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time")


async def test_each_process_sees_the_calls_the_other_answers(
    buses: tuple[LiveBus, LiveBus],
) -> None:
    a, b = buses
    records = clean_call("c1", ani_found=True, verify=["verified"])
    a.hub.publish(records[:3])  # the first webhooks answered by worker a...
    await until(lambda: b.hub.journey("c1") is not None)
    b.hub.publish(records[3:-1])  # ...the next ones by worker b
    await until(lambda: len(a.hub.journey("c1") or []) == len(records) - 1)
    assert a.hub.journey("c1") == b.hub.journey("c1") == records[:-1]
    assert a.hub.active()[0].summary() == b.hub.active()[0].summary()
    a.hub.publish(records[-1:])
    await until(lambda: b.hub.active() == [])
    await asyncio.sleep(0.05)  # anything echoed back would have arrived by now
    assert a.hub.events == b.hub.events == len(records)  # none counted twice
    assert (a.published, a.received) == (4, len(records) - 4)
    assert (b.published, b.received) == (len(records) - 4, 4)


def test_messages_are_json_without_secrets_and_numbers_masked() -> None:
    record = JournalRecord(
        "c1", 3, T0, RecordKind.INPUT, "idv", "1", "demo", step="account", attempt=1,
        data={"length": 8, "digits": "12345678", "ani": "+447700900123"},
    )  # fmt: skip
    payload = encode("me", [record])
    assert b"12345678" not in payload
    assert b"900123" not in payload
    origin, (back,) = decode(payload)
    assert origin == "me"
    assert back.data == {"length": 8, "ani": "*********0123"}
    assert (back.kind, back.at, back.step, back.seq) == (RecordKind.INPUT, T0, "account", 3)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1]",
        b'["x", [["c1", 0, 1.0, "no_such_kind"]]]',
        b'["x", [[1, 2, 3]]]',
        b'["x", [["c1", 0, "soon", "input", "idv", "1", "demo", null, null, null, null, {}]]]',
        b'["x", [["c1", true, 1.0, "input", "idv", "1", "demo", null, null, null, null, {}]]]',
        b'["x", [["c1", 0, 1.0, "input", "idv", "1", "demo", null, null, null, null, []]]]',
    ],
)
def test_anything_but_a_bus_message_is_refused(payload: bytes) -> None:
    with pytest.raises(ValueError, match="not a live-bus message"):
        decode(payload)


async def test_garbage_on_the_channel_is_ignored_and_the_bus_goes_on(
    buses: tuple[LiveBus, LiveBus], channel: str
) -> None:
    a, b = buses
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.publish(channel, b"\x80garbage")
        await client.publish(channel, orjson.dumps(["other", [["c9", 0, T0, "nope"]]]))
    finally:
        await client.aclose()
    records = clean_call("c2", ani_found=True)
    a.hub.publish(records[:2])
    await until(lambda: b.hub.journey("c2") is not None)
    assert b.hub.journey("c2") == records[:2]
    assert [c.call_id for c in b.hub.active()] == ["c2"]


async def test_a_redis_that_is_away_costs_the_live_view_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hub = JournalHub()
    bus = LiveBus(f"redis://127.0.0.1:{port}/0", hub, "nowhere", delay=0.001)
    await bus.start()  # gives up waiting for the subscription, keeps retrying behind
    records = build_call(CallScript("c3", T0, ani_found=True))
    for record in records:  # the engine's path: never raises
        hub.publish([record])
        await asyncio.sleep(0.005)  # each in a message of its own
    await until(lambda: bus.dropped == len(records))
    assert hub.events == len(records)
    await bus.close()
    said = [r.getMessage() for r in caplog.records if "not shared" in r.getMessage()]
    assert len(said) == 1  # once for the outage, not once per message


async def test_a_worker_serving_no_views_publishes_without_listening(channel: str) -> None:
    quiet = LiveBus(REDIS_URL, JournalHub(), channel, listen=False)
    viewer = LiveBus(REDIS_URL, JournalHub(), channel)
    await quiet.start()
    await viewer.start()
    try:
        mine = clean_call("c4", ani_found=True)
        theirs = clean_call("c5", ani_found=True)
        quiet.hub.publish(mine[:2])
        viewer.hub.publish(theirs[:2])
        await until(lambda: viewer.hub.journey("c4") is not None)
        await asyncio.sleep(0.1)  # the viewer's records would have reached a listener by now
        assert quiet.hub.journey("c5") is None
        assert (quiet.published, quiet.received, viewer.received) == (2, 0, 2)
    finally:
        await quiet.close()
        await viewer.close()
