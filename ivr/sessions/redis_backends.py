"""The two ways the session store talks to Redis, behind one small interface.

- `RedisPyBackend`: redis-py's asyncio client (with hiredis) for every topology: one server,
  a Sentinel-managed primary (redis-py asks the sentinels for the primary on each new
  connection, and drops a connection whose server turned replica: READONLY), or a Redis
  Cluster (redis-py follows MOVED and ASK and reloads the slot map).
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

import contextlib
from typing import Any, Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from ivr.sessions.redis_url import RedisTarget, Topology
from ivr.sessions.resp import Arg, RedisAddress, RespClient, RespConnectionError, RespError, Script

_RETRYABLE_PREFIXES = ("LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY")


class Retryable(Exception):
    """A failure that may pass within the webhook's deadline."""


class ReadOnly(Exception):
    """The node answered READONLY: it is a replica now."""


class Refused(Exception):
    """Any other error reply or failure: retrying will not help."""


class Backend(Protocol):
    kind: str

    async def script(self, script: Script, keys: list[str], args: list[Arg]) -> Any: ...

    async def command(self, *args: Arg) -> Any: ...

    async def roles(self) -> list[str]:
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

    async def script(self, script: Script, keys: list[str], args: list[Arg]) -> Any:
        try:
            return await self._client.evalsha(script, keys, args)
        except RespError as error:
            raise _classify_reply(str(error)) from error
        except RespConnectionError as error:
            raise Retryable(str(error)) from error

    async def command(self, *args: Arg) -> Any:
        try:
            return await self._client.execute(*args)
        except RespError as error:
            raise _classify_reply(str(error)) from error
        except RespConnectionError as error:
            raise Retryable(str(error)) from error

    async def roles(self) -> list[str]:
        return [_role(await self.command("ROLE"))]

    async def reconnect(self) -> None:
        await self._client.close()

    async def close(self) -> None:
        await self._client.close()


class RedisPyBackend:
    """redis-py asyncio: one server, a Sentinel-managed primary or a Cluster."""

    def __init__(self, target: RedisTarget) -> None:
        self.kind = str(target.topology)
        self._target = target
        self._sentinel: Sentinel | None = None
        self._client: Redis | RedisCluster = self._connect(target)

    def _connect(self, target: RedisTarget) -> Redis | RedisCluster:
        # The store retries within the webhook's deadline itself: redis-py's own retries
        # (with back-off sleeps of their own) would spend that deadline blind.
        options: dict[str, Any] = {"retry": Retry(NoBackoff(), 0), **target.options}
        if target.tls:
            options["ssl"] = True
        if target.topology is Topology.CLUSTER:
            nodes = [ClusterNode(host, port) for host, port in target.nodes]
            options.pop("retry")
            return RedisCluster(startup_nodes=nodes, **options)
        if target.topology is Topology.SENTINEL:
            sentinel_options: dict[str, Any] = {
                "retry": Retry(NoBackoff(), 0),
                "socket_timeout": options.get("socket_timeout", 1.0),
                "socket_connect_timeout": options.get("socket_connect_timeout", 1.0),
                **target.sentinel_options,
            }
            if target.tls:
                sentinel_options["ssl"] = True
                sentinel_options.update(
                    (k, v) for k, v in target.options.items() if k.startswith("ssl_")
                )
            self._sentinel = Sentinel(  # type: ignore[no-untyped-call]
                list(target.nodes), sentinel_kwargs=sentinel_options, db=target.db, **options
            )
            assert target.service is not None
            primary: Redis = self._sentinel.master_for(target.service)
            return primary
        host, port = target.nodes[0]
        return Redis(host=host, port=port, db=target.db, **options)

    async def script(self, script: Script, keys: list[str], args: list[Arg]) -> Any:
        client = self._client
        try:
            try:
                return await client.evalsha(script.sha, len(keys), *keys, *args)
            except redis_errors.NoScriptError:
                return await client.eval(script.source, len(keys), *keys, *args)
        except redis_errors.RedisError as error:
            raise _translate(error) from error

    async def command(self, *args: Arg) -> Any:
        try:
            return await self._client.execute_command(*args)
        except redis_errors.RedisError as error:
            raise _translate(error) from error

    async def roles(self) -> list[str]:
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
        except redis_errors.RedisError as error:
            raise _translate(error) from error

    async def reconnect(self) -> None:
        client = self._client
        if isinstance(client, RedisCluster):
            return  # redis-py reloads the slot map itself after a failure
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await client.connection_pool.disconnect()

    async def close(self) -> None:
        await self._client.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()


def _translate(error: redis_errors.RedisError) -> Exception:
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
