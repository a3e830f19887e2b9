"""redis-py clients for a parsed Redis URL (ivr.sessions.redis_url): one server, the primary
a set of sentinels names, or a Redis Cluster. Used by the session store's redis-py backend
and by the live bus.

Options common to every client: redis-py's own retries are off (the session store retries
within each webhook's deadline; its back-off sleeps would spend that deadline blind), and a
command unanswered for SOCKET_TIMEOUT_S is given up (then tried again on a fresh connection,
to the node the topology names now). The cluster client keeps its retries, which follow
MOVED/ASK and reload the slot map, with short pauses instead of its default (about a second,
growing). The Sentinel client's primary is the one named with the highest config epoch among
the sentinels that answer, not the first sentinel's word: one that has not heard of a switch
yet would send new connections back to the old primary, which takes writes for about ten
seconds after a failover, until the sentinels demote it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff

from ivr.sessions.redis_url import RedisTarget, Topology

SOCKET_TIMEOUT_S = 1.0  # unless the URL sets socket_timeout


class _EpochSentinel(Sentinel):
    """Sentinel whose primary is the latest one named (highest config epoch), asked of every
    sentinel at once."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        replies = await asyncio.gather(
            *(sentinel.sentinel_masters() for sentinel in self.sentinels), return_exceptions=True
        )
        best: tuple[int, str, int] | None = None
        for masters in replies:
            if not isinstance(masters, dict):
                continue
            state = masters.get(service_name)
            if not state or not self.check_master_state(state, service_name):
                continue
            epoch = int(state.get("config-epoch", 0) or 0)
            if best is None or epoch > best[0]:
                best = (epoch, state["ip"], int(state["port"]))
        if best is None:
            raise MasterNotFoundError(f"No master found for {service_name!r}")
        return best[1], best[2]


def connection_options(target: RedisTarget) -> dict[str, Any]:
    """The keywords of a connection to a data node (not a sentinel)."""
    options: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 0),
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        **target.options,
    }
    if target.tls:
        options["ssl"] = True
    return options


def redis_py_client(target: RedisTarget) -> tuple[Redis | RedisCluster, Sentinel | None]:
    """The client for `target`, and its Sentinel manager when there is one."""
    options = connection_options(target)
    if target.topology is Topology.CLUSTER:
        nodes = [ClusterNode(host, port) for host, port in target.nodes]
        options["retry"] = Retry(ExponentialBackoff(cap=0.2, base=0.02), 3)
        return RedisCluster(startup_nodes=nodes, **options), None
    if target.topology is Topology.SENTINEL:
        sentinel_options: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 0),
            "socket_timeout": options["socket_timeout"],
            "socket_connect_timeout": options["socket_connect_timeout"],
            **target.sentinel_options,
        }
        if target.tls:
            sentinel_options["ssl"] = True
            sentinel_options.update(
                (k, v) for k, v in target.options.items() if k.startswith("ssl_")
            )
        sentinel = _EpochSentinel(  # type: ignore[no-untyped-call]
            list(target.nodes), sentinel_kwargs=sentinel_options, db=target.db, **options
        )
        assert target.service is not None
        primary: Redis = sentinel.master_for(target.service)
        return primary, sentinel
    host, port = target.nodes[0]
    return Redis(host=host, port=port, db=target.db, **options), None


def node_client(target: RedisTarget, node: tuple[str, int]) -> Redis:
    """A plain client of one node of a cluster (for pub/sub: a PUBLISH reaches every node)."""
    return Redis(host=node[0], port=node[1], **connection_options(target))
