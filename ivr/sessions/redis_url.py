"""Where the session store's Redis is and how it runs, from one URL.

    redis://[[user]:password@]host[:port][/db][?option=value...]            one server
    rediss://...                                                             the same over TLS
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?...]
    redis+cluster://[[user]:password@]host[:port][,host[:port]...][?...]
    rediss+sentinel://..., rediss+cluster://...                              over TLS

Sentinel URLs name the sentinels (default port 26379) and the service (the name in the
sentinels' `monitor` line); the user and password are the data nodes'. Cluster URLs name one
or more nodes to learn the slot map from (default port 6379); a cluster has only database 0.
Query options are redis-py's connection options, read by redis-py's own URL parser so they
mean what its documentation says (`ssl_cert_reqs=none|optional|required`, `ssl_ca_certs=`,
`ssl_certfile=`, `ssl_keyfile=`, `ssl_check_hostname=`, `socket_timeout=`, `db=`, ...), plus
`sentinel_username` and `sentinel_password` for sentinels that require their own login.
An option redis-py does not know is refused here, with its name, rather than at the first
connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from redis.asyncio.connection import parse_url

SENTINEL_PORT = 26379
REDIS_PORT = 6379
_SENTINEL_ONLY = ("sentinel_username", "sentinel_password")


class Topology(StrEnum):
    STANDALONE = "standalone"
    SENTINEL = "sentinel"
    CLUSTER = "cluster"


_SCHEMES = {
    "redis": (Topology.STANDALONE, False),
    "rediss": (Topology.STANDALONE, True),
    "redis+sentinel": (Topology.SENTINEL, False),
    "rediss+sentinel": (Topology.SENTINEL, True),
    "redis+cluster": (Topology.CLUSTER, False),
    "rediss+cluster": (Topology.CLUSTER, True),
}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis URL: the topology, the nodes to start from and redis-py's options."""

    topology: Topology
    nodes: tuple[tuple[str, int], ...]
    tls: bool
    service: str | None = None  # the Sentinel service name
    db: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # redis-py connection keywords
    sentinel_options: dict[str, Any] = field(default_factory=dict)

    @property
    def plain_options(self) -> bool:
        """Nothing beyond host, port, db, user and password: what the lean client understands."""
        return set(self.options) <= {"username", "password"}

    def describe(self) -> str:
        """The target without credentials (for logs and /readyz)."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.nodes)
        name = f"/{self.service}" if self.service else ""
        return f"{self.topology} {hosts}{name}" + (" (TLS)" if self.tls else "")


def parse_redis_url(url: str) -> RedisTarget:
    """The target a URL names; ValueError with the reason for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(
            f"a Redis URL starts with one of {', '.join(s + '://' for s in _SCHEMES)}; "
            f"not {parts.scheme or '(nothing)'}:"
        )
    topology, tls = _SCHEMES[scheme]
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    default_port = SENTINEL_PORT if topology is Topology.SENTINEL else REDIS_PORT
    nodes = tuple(_node(item, default_port) for item in hostlist.split(",") if item) or (
        ("127.0.0.1", default_port),
    )
    if topology is Topology.STANDALONE and len(nodes) > 1:
        raise ValueError(
            "a redis:// URL names one server; several are redis+sentinel:// or +cluster"
        )
    path = [unquote(piece) for piece in parts.path.split("/") if piece]
    service = None
    if topology is Topology.SENTINEL:
        if not path:
            raise ValueError(
                "a Sentinel URL names its service: redis+sentinel://host:26379/mymaster"
            )
        service, path = path[0], path[1:]
    if len(path) > 1 or (path and not path[0].isdigit()):
        raise ValueError("the Redis URL's path must be a database number, e.g. /0")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    sentinel_options = {name: query.pop(name) for name in _SENTINEL_ONLY if name in query}
    sentinel_options = {k.removeprefix("sentinel_"): v for k, v in sentinel_options.items()}
    # redis-py reads the rest exactly as its own from_url would
    host, port = nodes[0]
    first = f"{'rediss' if tls else 'redis'}://{userinfo + '@' if userinfo else ''}"
    first += f"{_host(host)}:{port}/{path[0] if path else 0}"
    options: dict[str, Any] = dict(parse_url(first + ("?" + urlencode(query) if query else "")))
    for key in ("host", "port", "connection_class"):
        options.pop(key, None)
    db = int(options.pop("db", 0))
    if topology is Topology.CLUSTER and db:
        raise ValueError("a Redis Cluster has only database 0")
    unknown = sorted(set(options) - _known_options(tls))
    if unknown:
        raise ValueError(f"unknown Redis URL option(s): {', '.join(unknown)}")
    return RedisTarget(topology, nodes, tls, service, db, options, sentinel_options)


def _node(item: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{item}")
    try:
        port = parts.port or default_port
    except ValueError as error:
        raise ValueError(f"bad port in {item!r}") from error
    return (parts.hostname or "127.0.0.1", port)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else quote(host)


_OPTIONS = {  # what every topology's redis-py client takes from a URL
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "socket_read_size",
    "health_check_interval",
    "max_connections",
    "client_name",
    "protocol",
}
_TLS_OPTIONS = {
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
}


def _known_options(tls: bool) -> set[str]:
    """The keywords a URL may set (the TLS ones only on a rediss URL)."""
    return _OPTIONS | _TLS_OPTIONS if tls else _OPTIONS
