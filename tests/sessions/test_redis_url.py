"""Redis URLs: every documented form, redis-py's own query options, clear refusals."""

from __future__ import annotations

import pytest

from ivr.sessions import SessionError
from ivr.sessions.redis_backends import RedisPyBackend, RespBackend, open_backend
from ivr.sessions.redis_store import RedisSessionStore
from ivr.sessions.redis_url import Topology, parse_redis_url


def test_standalone_with_user_password_and_db() -> None:
    target = parse_redis_url("redis://ivr:s%40cret@redis.internal:6380/3")
    assert target.topology is Topology.STANDALONE
    assert target.nodes == (("redis.internal", 6380),)
    assert target.db == 3
    assert target.options == {"username": "ivr", "password": "s@cret"}
    assert not target.tls
    assert target.plain_options


def test_defaults() -> None:
    target = parse_redis_url("redis://")
    assert target.nodes == (("127.0.0.1", 6379),)
    assert target.db == 0


def test_tls_and_its_options_are_read_by_redis_py() -> None:
    target = parse_redis_url(
        "rediss://:pw@cache:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/etc/ca.pem&socket_timeout=1.5"
    )
    assert target.tls
    assert target.options["ssl_cert_reqs"] == "none"
    assert target.options["ssl_ca_certs"] == "/etc/ca.pem"
    assert target.options["socket_timeout"] == 1.5  # converted as redis-py converts it
    assert not target.plain_options  # the lean client does not do these: redis-py does
    assert isinstance(open_backend(target), RedisPyBackend)


def test_db_as_a_query_option() -> None:
    assert parse_redis_url("redis://h/0?db=5").db == 5


def test_sentinel_url() -> None:
    target = parse_redis_url(
        "redis+sentinel://:pw@s1:26379,s2,s3:26380/mymaster/2?sentinel_password=spw"
    )
    assert target.topology is Topology.SENTINEL
    assert target.nodes == (("s1", 26379), ("s2", 26379), ("s3", 26380))
    assert target.service == "mymaster"
    assert target.db == 2
    assert target.options == {"password": "pw"}
    assert target.sentinel_options == {"password": "spw"}
    assert "pw" not in target.describe()


def test_cluster_url() -> None:
    target = parse_redis_url("rediss+cluster://n1:7000,n2:7001?ssl_cert_reqs=required")
    assert target.topology is Topology.CLUSTER
    assert target.nodes == (("n1", 7000), ("n2", 7001))
    assert target.tls
    assert target.options == {"ssl_cert_reqs": "required"}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:6379", "starts with one of"),
        ("redis://h/notanumber", "database number"),
        ("redis+sentinel://s1:26379", "names its service"),
        ("redis+cluster://n1:7000/1", "only database 0"),
        ("redis://a,b", "names one server"),
        ("redis://h/0?ssl_cert_reqs=none", "unknown Redis URL option"),  # TLS only over TLS
        ("redis://h/0?colour=blue", "colour"),
        ("redis://h:99999", "port"),
    ],
)
def test_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_redis_url(url)


async def test_the_store_refuses_a_bad_url_with_a_session_error() -> None:
    with pytest.raises(SessionError, match="colour"):
        await RedisSessionStore.open("redis://127.0.0.1:6379/0?colour=blue")


def test_the_lean_client_serves_a_plain_url_and_redis_py_the_rest() -> None:
    assert isinstance(open_backend(parse_redis_url("redis://h:1/0")), RespBackend)
    assert isinstance(open_backend(parse_redis_url("redis://h:1/0"), "redis-py"), RedisPyBackend)
    sentinel = parse_redis_url("redis+sentinel://s:1/m")
    assert isinstance(open_backend(sentinel), RedisPyBackend)
    with pytest.raises(ValueError, match="one server"):
        open_backend(sentinel, "resp")
    with pytest.raises(ValueError, match="unknown Redis client"):
        open_backend(sentinel, "jedis")
