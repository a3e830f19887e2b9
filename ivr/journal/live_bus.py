"""The live view shared between server processes, over Redis pub/sub.

Workers that share calls through Redis each see only the webhooks they answer, so without this
each worker's `/calls/active`, `/calls/{id}`, `/calls/stream` and pulse would show a part of
every call. With a bus, each process publishes the records its engine produces, and feeds the
records of every other process into its own hub, so any worker shows every call whole.

Why pub/sub and not a stream: the live view is best effort and of the moment (the durable
record is the journal store); a worker that is down misses what it could not show anyway.
Publishing stays off the request path: a turn's records are added to a list, and one PUBLISH
every `DELAY` (20 ms) sends everything gathered, without a task or a wait for Redis's reply. Records
travel as JSON (never pickle: whoever can write to Redis must not be able to run code here),
scrubbed as a store would keep them.

Redis through redis-py (ivr.sessions.redis_py), for every URL the session store takes: with
Sentinel the bus publishes to and listens on the primary the sentinels name (a listener whose
connection drops after a failover subscribes again, to the new primary); in a Cluster it
publishes through the cluster client and listens on one node (a PUBLISH reaches every node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from ivr.journal.hub import JournalHub
from ivr.journal.records import KIND, JournalRecord, RecordKind, Row, as_row, scrub_row
from ivr.retry import Backoff
from ivr.sessions.redis_py import node_client, redis_py_client
from ivr.sessions.redis_url import Topology, parse_redis_url

log = logging.getLogger(__name__)

RESUBSCRIBE = Backoff(first_s=0.1, cap_s=5.0)  # between attempts to subscribe again
# How long records gather before one PUBLISH carries them. A message per event-loop iteration
# (about one per webhook under load) makes the server publish and read back its own message for
# every webhook; one message per DELAY carries many webhooks' records, and the other workers'
# views lag by at most that much (`python -m bench.webhooks` prints the bus's share of the rate).
DELAY = 0.02
SEND_TIMEOUT_S = 2.0  # a PUBLISH unanswered by then is counted as not shared
MAX_SENDING = 4  # PUBLISHes in flight at most; records beyond are counted as not shared
_FAILURES = (redis_errors.RedisError, OSError, TimeoutError)


def encode(origin: str, records: Iterable[JournalRecord]) -> bytes:
    """One message: the sender's id and its records as rows (secrets stripped, numbers masked)."""
    rows = [scrub_row(as_row(record))[0] for record in records]
    return orjson.dumps([origin, rows], default=str)


def decode(payload: bytes) -> tuple[str, list[JournalRecord]]:
    """The sender's id and its records; ValueError for anything that is not a bus message."""
    try:
        origin, rows = orjson.loads(payload)
        return str(origin), [_record(row) for row in rows]
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise ValueError(f"not a live-bus message: {type(error).__name__}") from error


def _record(row: list[Any]) -> JournalRecord:
    fields: Row = (*row[:KIND], RecordKind(row[KIND]), *row[KIND + 1 :])
    record = JournalRecord(*fields)
    if not isinstance(record.call_id, str) or type(record.seq) is not int:
        raise TypeError("call id and seq")
    if type(record.at) not in (int, float) or not math.isfinite(record.at):
        raise TypeError("time")
    if not isinstance(record.data, dict):
        raise TypeError("data")
    return record


class LiveBus:
    """Publishes this process's records and feeds the others' into the hub."""

    def __init__(
        self, url: str, hub: JournalHub, channel: str, *, listen: bool = True, delay: float = DELAY
    ) -> None:
        self.target = parse_redis_url(url)
        self.listen = listen  # False: publish only (a worker that serves no live views)
        self.delay = delay
        self.hub = hub
        self.channel = channel
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._own = encode(self.origin, [])[:-3]  # how this process's messages begin: ["<origin>",
        self.published = 0
        self.received = 0
        self.dropped = 0  # records not sent because Redis refused or was away
        self._failing = False
        self._publisher, self._sentinel = redis_py_client(self.target)
        self._pending: list[JournalRecord] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe (and wait until Redis confirms, briefly), then forward the hub's records."""
        if self.listen:
            loop = asyncio.get_running_loop()
            self._listener = loop.create_task(self._listen(), name="live-bus")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), 2.0)
        self.hub.forward = self.publish

    async def close(self) -> None:
        self.hub.forward = None
        self._flush()
        await asyncio.sleep(0)  # the connection writes what was queued in this turn
        if self._sending:
            await asyncio.wait(self._sending, timeout=2.0)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._publisher.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()

    # -- publishing (on the engine's path: an append, and one timer per `delay`) -----------------
    def publish(self, records: list[JournalRecord]) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_later(self.delay, self._flush)
        self._pending.extend(records)

    def _flush(self) -> None:
        records, self._pending = self._pending, []
        if not records:
            return
        if len(self._sending) >= MAX_SENDING:  # Redis is slow or away: do not pile up tasks
            self._lost(len(records), TimeoutError("earlier messages still unanswered"))
            return
        payload = encode(self.origin, records)
        task = asyncio.get_running_loop().create_task(self._send(len(records), payload))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, count: int, payload: bytes) -> None:
        try:
            await asyncio.wait_for(self._publisher.publish(self.channel, payload), SEND_TIMEOUT_S)
        except _FAILURES as error:
            self._lost(count, error)
        else:
            self._shared(count)

    def _shared(self, count: int) -> None:
        self.published += count
        if self._failing:
            self._failing = False
            log.warning("live bus: sharing records again (%d not shared so far)", self.dropped)

    def _lost(self, count: int, error: BaseException | None) -> None:
        """Count what was not shared; say so once per outage, not every `delay`."""
        self.dropped += count
        if not self._failing:
            self._failing = True
            log.warning("live bus: records not shared (%s); counting until Redis is back", error)

    # -- receiving -----------------------------------------------------------------------------
    async def _listen(self) -> None:
        failures = 0
        while True:
            client = self._listener_client(failures)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    while True:
                        message = await pubsub.get_message(True, timeout=1.0)
                        if message is not None and isinstance(message.get("data"), bytes):
                            failures = 0
                            self._take(message["data"])
            except _FAILURES as error:
                failures += 1
                delay = RESUBSCRIBE.delay(failures)
                log.warning(
                    "live bus: %s; subscribing again in %.1f s", type(error).__name__, delay
                )
                await asyncio.sleep(delay)
            finally:
                if client is not self._publisher:
                    await client.aclose()

    def _listener_client(self, failures: int) -> Redis:
        """The primary's client (one server, Sentinel), or one cluster node, in turn."""
        target = self.target
        if target.topology is Topology.CLUSTER:
            return node_client(target, target.nodes[failures % len(target.nodes)])
        assert isinstance(self._publisher, Redis)
        return self._publisher

    def _take(self, payload: bytes) -> None:
        if payload.startswith(self._own):  # our own records, back from Redis: nothing to do
            return
        try:
            origin, records = decode(payload)
        except ValueError as error:
            log.warning("live bus: a message was ignored: %s", error)
            return
        if origin == self.origin or not records:
            return
        self.received += len(records)
        try:
            self.hub.receive(records)
        except Exception:  # a bug here must not end the subscription for good
            log.exception("live bus: records from %s could not be shown", origin)
