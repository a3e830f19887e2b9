"""The two ways the session store talks to Redis, behind one small interface.

- `RedisPyBackend`: redis-py's asyncio client (with hiredis) for every topology: one server,
  a Sentinel-managed primary, or a Redis Cluster (redis-py follows MOVED and ASK and reloads
  the slot map). With Sentinel, redis-py asks the sentinels for the primary on each new
  connection and drops a connection whose server turned replica (READONLY). Two additions
  close the split-brain window of a failover, when the old primary still takes writes for
  about ten seconds after the sentinels switched (until they demote it): a listener on every
  sentinel's `+switch-master` drops every connection the moment a switch is announced, and
  the primary is the one named with the highest config epoch among the sentinels that
  answer, not the first sentinel's word (one that has not heard of the switch yet would send
  the new connections back to the old primary).
- `RespBackend`: the lean pipelined client in `ivr.sessions.resp`, for one server named by a
  plain URL (no TLS or socket options): the default there, because `bench.webhooks` measures
  redis-py's per-command cost well above the target of issue 12 (server CPU per event with
  Redis at most 1.5 times in-memory; figures in docs/call-state.md).

Both sort what goes wrong into the same three kinds, which the store's retry loop acts on:
`Retryable` (the connection dropped or timed out, the server is LOADING, MASTERDOWN,
TRYAGAIN, CLUSTERDOWN: retried within the webhook's deadline), `ReadOnly` (this node is a
replica: reconnect once, then give up at once) and anything else (a refused password, a
wrong type: a SessionError now).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster

from ivr.sessions.redis_py import redis_py_client
from ivr.sessions.redis_url import RedisTarget, Topology
from ivr.sessions.resp import Arg, RedisAddress, RespClient, RespConnectionError, RespError, Script

_RETRYABLE_PREFIXES = ("LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "NOREPLICAS")
WAIT_MS = 50  # how long a Sentinel-managed commit waits for its replica's acknowledgement


class Retryable(Exception):
    """A failure that may pass within the webhook's deadline."""


class ReadOnly(Exception):
    """The node answered READONLY: it is a replica now."""


class Refused(Exception):
    """Any other error reply or failure: retrying will not help."""


class Backend(Protocol):
    kind: str

    async def script(
        self,
        script: Script,
        keys: list[str],
        args: list[Arg],
        deadline: float,
        *,
        replicated: bool = False,
    ) -> Any:
        """Run `script`; Retryable if no answer by `deadline` (a `loop.time()` instant).
        `replicated`: the write must also be on a replica when the topology promises one, so
        that a failover cannot lose it (Sentinel: Retryable while a failover is under way)."""
        ...

    async def command(self, *args: Arg, deadline: float) -> Any: ...

    async def roles(self, deadline: float) -> list[str]:
        """The replication role reported by each node that takes this store's writes."""
        ...

    async def reconnect(self) -> None:
        """Drop the connections (after READONLY): the next command connects afresh."""
        ...

    async def close(self) -> None: ...


def _classify_reply(text: str) -> Exception:
    if text.startswith("READONLY"):
        return ReadOnly(text.split(" ", 1)[0])
    if text.startswith(_RETRYABLE_PREFIXES):
        return Retryable(text.split(" ", 1)[0])
    return Refused(text.split(" ", 1)[0])


def _role(reply: Any) -> str:
    if isinstance(reply, list) and reply:
        first = reply[0]
        return first.decode() if isinstance(first, bytes) else str(first)
    return "unknown"


class RespBackend:
    """One server through the lean pipelined client."""

    kind = "standalone"

    def __init__(self, target: RedisTarget) -> None:
        (host, port), options = target.nodes[0], target.options
        address = RedisAddress(
            host, port, target.db, options.get("username"), options.get("password"), target.tls
        )
        self._client = RespClient(address)

    async def script(
        self,
        script: Script,
        keys: list[str],
        args: list[Arg],
        deadline: float,
        *,
        replicated: bool = False,
    ) -> Any:
        try:
            return await self._client.evalsha(script, keys, args, deadline)
        except RespError as error:
            raise _classify_reply(str(error)) from error
        except RespConnectionError as error:
            raise Retryable(str(error)) from error

    async def command(self, *args: Arg, deadline: float) -> Any:
        try:
            return await self._client.execute(*args, deadline=deadline)
        except RespError as error:
            raise _classify_reply(str(error)) from error
        except RespConnectionError as error:
            raise Retryable(str(error)) from error

    async def roles(self, deadline: float) -> list[str]:
        return [_role(await self.command("ROLE", deadline=deadline))]

    async def reconnect(self) -> None:
        await self._client.close()

    async def close(self) -> None:
        await self._client.close()


class RedisPyBackend:
    """redis-py asyncio: one server, a Sentinel-managed primary or a Cluster."""

    def __init__(self, target: RedisTarget) -> None:
        self.kind = str(target.topology)
        self._target = target
        self._client, self._sentinel = redis_py_client(target)
        self._watchers: list[asyncio.Task[None]] = []
        self.switches = 0  # primary switches announced by the sentinels

    def _watch(self) -> None:
        """Listen to every sentinel's `+switch-master` (once, from the first command on)."""
        if self._sentinel is None or self._watchers:
            return
        loop = asyncio.get_running_loop()
        for sentinel in self._sentinel.sentinels:
            self._watchers.append(loop.create_task(self._switches(sentinel), name="sentinel"))

    async def _switches(self, sentinel: Redis) -> None:
        service = self._target.service
        while True:
            try:
                async with sentinel.pubsub() as pubsub:
                    await pubsub.subscribe("+switch-master")
                    while True:
                        message = await pubsub.get_message(True, timeout=5)
                        if message is None:
                            continue
                        data = message.get("data")
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        if text.split(" ", 1)[0] == service:
                            await self._switched()
            except (redis_errors.RedisError, OSError):
                await asyncio.sleep(1.0)  # this sentinel is away; the others still speak

    async def _switched(self) -> None:
        """A new primary: every connection goes, the next commands ask the sentinels again."""
        self.switches += 1
        client = self._client
        assert isinstance(client, Redis)
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await client.connection_pool.disconnect(inuse_connections=True)

    async def script(
        self,
        script: Script,
        keys: list[str],
        args: list[Arg],
        deadline: float,
        *,
        replicated: bool = False,
    ) -> Any:
        client = self._client
        if not self._watchers:
            self._watch()
        try:
            async with asyncio.timeout_at(deadline):
                if replicated and self._sentinel is not None:
                    return await self._replicated(script, keys, args)
                try:
                    return await client.evalsha(script.sha, len(keys), *keys, *args)
                except redis_errors.NoScriptError:
                    return await client.eval(script.source, len(keys), *keys, *args)
        except TimeoutError as error:
            raise Retryable("no answer by the deadline") from error
        except (redis_errors.RedisError, OSError, AttributeError) as error:
            raise _translate(error) from error

    async def _replicated(self, script: Script, keys: list[str], args: list[Arg]) -> Any:
        """The script, then WAIT for one replica, in one round trip on one connection. A write
        no replica has is one an old primary loses in a failover: if one is under way, or
        the sentinels now name another primary than the node that took the write, Retryable
        (the retry goes to the primary the sentinels name). Otherwise (the replica is down,
        behind, or not yet attached to a new primary) it stands. WAIT is never skipped: a
        forced failover promotes even a replica that is behind."""
        try:
            result, acked, node = await self._with_wait(("EVALSHA", script.sha), keys, args)
        except redis_errors.NoScriptError:
            result, acked, node = await self._with_wait(("EVAL", script.source), keys, args)
        if acked:
            return result
        if await self._failing_over(node):
            raise Retryable("a failover is under way: the write may not survive it")
        return result

    async def _with_wait(
        self, head: tuple[str, str], keys: list[str], args: list[Arg]
    ) -> tuple[Any, int, tuple[str, int]]:
        """The script's reply, how many replicas acknowledged it, and which node ran it."""
        client = self._client
        assert isinstance(client, Redis)
        pool = client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            node = (str(connection.host), int(connection.port))
            commands = [(*head, len(keys), *keys, *args), ("WAIT", 1, WAIT_MS)]
            await connection.send_packed_command(connection.pack_commands(commands))
            failure: redis_errors.ResponseError | None = None
            try:
                result = await connection.read_response()
            except redis_errors.ResponseError as error:  # WAIT's reply is still to be read
                failure, result = error, None
            acked = await connection.read_response()
            if failure is not None:
                raise failure
            return result, int(acked), node
        finally:
            await pool.release(connection)

    async def _failing_over(self, node: tuple[str, int]) -> bool:
        """Whether a failover of our service is under way (a sentinel says so) or done (the
        sentinels name another primary than `node`)."""
        assert self._sentinel is not None
        service = self._target.service
        assert service is not None
        try:
            current = await self._sentinel.discover_master(service)
        except redis_errors.ConnectionError:
            return True  # no sentinel names a primary: nothing to accept a write on
        if (str(current[0]), int(current[1])) != node:
            await self._switched()
            return True

        async def flags(sentinel: Redis) -> str:
            state = await sentinel.sentinel_master(service)
            value = state.get("flags", "") if isinstance(state, dict) else ""
            return ",".join(value) if isinstance(value, set) else str(value)

        replies = await asyncio.gather(
            *(flags(sentinel) for sentinel in self._sentinel.sentinels), return_exceptions=True
        )
        return any(isinstance(reply, str) and "failover_in_progress" in reply for reply in replies)

    async def command(self, *args: Arg, deadline: float) -> Any:
        try:
            async with asyncio.timeout_at(deadline):
                return await self._client.execute_command(*args)
        except TimeoutError as error:
            raise Retryable("no answer by the deadline") from error
        except (redis_errors.RedisError, OSError, AttributeError) as error:
            raise _translate(error) from error

    async def roles(self, deadline: float) -> list[str]:
        try:
            async with asyncio.timeout_at(deadline):
                return await self._roles()
        except TimeoutError as error:
            raise Retryable("no answer by the deadline") from error

    async def _roles(self) -> list[str]:
        client = self._client
        try:
            if isinstance(client, RedisCluster):
                if not client.get_nodes():
                    await client.initialize()
                primaries = client.get_primaries()
                replies = await client.execute_command("ROLE", target_nodes=primaries)
                values = replies.values() if isinstance(replies, dict) else [replies]
                return [_role(reply) for reply in values]
            reply = await client.execute_command("ROLE")  # type: ignore[no-untyped-call]
            return [_role(reply)]
        except (redis_errors.RedisError, OSError, AttributeError) as error:
            raise _translate(error) from error

    async def reconnect(self) -> None:
        client = self._client
        if isinstance(client, RedisCluster):
            return  # redis-py reloads the slot map itself after a failure
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await client.connection_pool.disconnect()

    async def close(self) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        for watcher in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await self._client.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()


def _translate(error: Exception) -> Exception:
    if not isinstance(error, redis_errors.RedisError):
        # OSError: a socket error redis-py let through; AttributeError: redis-py's cluster
        # client, when a connection it shares is dropped mid-command (seen in a failover)
        return Retryable(type(error).__name__)
    if isinstance(error, redis_errors.ReadOnlyError):
        return ReadOnly("READONLY")
    if isinstance(error, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
        return Refused(type(error).__name__)
    if isinstance(
        error,
        redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | redis_errors.ClusterError
        | redis_errors.TryAgainError
        | redis_errors.ClusterDownError
        | redis_errors.SlotNotCoveredError
        | redis_errors.AskError,
    ):
        return Retryable(type(error).__name__)
    if isinstance(error, redis_errors.ResponseError):
        return _classify_reply(str(error))
    return Refused(type(error).__name__)


def open_backend(target: RedisTarget, client: str = "auto") -> Backend:
    """The lean client for one server named by a plain URL, redis-py for everything else
    (or whichever `client` names: `resp`, `redis-py`)."""
    if client not in ("auto", "resp", "redis-py"):
        raise ValueError(f"unknown Redis client {client!r}: auto, resp or redis-py")
    lean_fits = target.topology is Topology.STANDALONE and target.plain_options
    if client == "resp" and not lean_fits:
        raise ValueError("the lean client serves one server with a plain URL only")
    if client == "resp" or (client == "auto" and lean_fits):
        return RespBackend(target)
    return RedisPyBackend(target)
