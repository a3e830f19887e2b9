"""Real Redis topologies on loopback, for the fault tests and `bench.faults`/`bench.webhooks`.

Started from Debian's `redis-server` (and `redis-sentinel`, or `redis-server --sentinel`) on
free loopback ports in a temporary directory, and stopped (every process, then the files)
when the context ends:

- `standalone()`: one server;
- `sentinel_set()`: one primary, one replica and three sentinels (quorum 2, a primary is
  "down" after 1 s);
- `cluster()`: a Redis Cluster of three primaries, each with one replica (`redis-cli
  --cluster create`), so a primary can be failed over (`CLUSTER FAILOVER` on its replica).

Faults: `Node.freeze()` / `thaw()` (SIGSTOP / SIGCONT), `kill()`, `restart()`,
`SentinelSet.failover()`, `Cluster.failover(key)`, and demoting a node with `REPLICAOF`.
Nothing here is used by the server itself: it lives with the benchmarks, out of the product.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

START_TIMEOUT_S = 10.0
SERVICE = "ivr-primary"


def free_port() -> int:
    """A loopback port nobody listens on (and its +10000 cluster bus port too)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port + 10000 < 65536 and _unused(port + 10000):
            return port
    raise OSError("no free loopback port")


def _unused(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _binary(name: str) -> list[str]:
    if name == "redis-sentinel" and shutil.which("redis-sentinel") is None:
        return [_required("redis-server"), "--sentinel"]  # what the sentinel binary is
    return [_required(name)]


def _required(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (Debian: redis-server, redis-sentinel)")
    return path


def _wait(check: object, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll `check()` until it is true; TimeoutError naming `what` otherwise."""
    assert callable(check)
    end = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            if check():
                return
        except (redis.RedisError, OSError) as error:
            last = error
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached within {timeout_s} s ({last})")


@dataclass
class Node:
    """One redis-server (or sentinel) process on a loopback port."""

    port: int
    workdir: Path
    args: list[str]
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None
    frozen: bool = False

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def client(self, timeout_s: float = 2.0) -> redis.Redis:
        return redis.Redis(
            "127.0.0.1", self.port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    def start(self) -> Node:
        log = (self.workdir / f"{self.port}.log").open("ab")
        binary = _binary("redis-sentinel" if self.sentinel else "redis-server")
        self.process = subprocess.Popen(
            [*binary, *self.args], cwd=self.workdir, stdout=log, stderr=log
        )
        log.close()
        _wait(self._answers, f"redis on port {self.port} answering")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise OSError(f"redis on port {self.port} exited ({self.process.returncode})")
        with self.client(0.5) as client:
            return bool(client.ping())

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.process is not None and self.frozen:
            self.process.send_signal(signal.SIGCONT)
        self.frozen = False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def restart(self) -> None:
        self.kill()
        self.start()

    def in_sync(self) -> bool:
        """A replica whose link to its primary is up (its first sync done)."""
        with self.client() as client:
            info = client.info("replication")
        return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")

    def role(self) -> str:
        with self.client() as client:
            reply = client.execute_command("ROLE")
        first = reply[0]
        return first.decode() if isinstance(first, bytes) else str(first)


def _server_args(port: int, *extra: str) -> list[str]:
    return [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--repl-diskless-sync-delay",  # a replica syncs at once, not after 5 s
        "0",
        *extra,
    ]


@dataclass
class Topology:
    """Processes started together and stopped together."""

    workdir: Path
    nodes: list[Node] = field(default_factory=list)

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node.start()

    def server(self, *extra: str) -> Node:
        port = free_port()
        return self.add(Node(port, self.workdir, _server_args(port, *extra)))

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                node.stop()


@dataclass
class Standalone(Topology):
    @property
    def node(self) -> Node:
        return self.nodes[0]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.node.port}/0"


@dataclass
class SentinelSet(Topology):
    primary: Node | None = None
    replica: Node | None = None
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def current_primary(self) -> tuple[str, int]:
        """The primary as the sentinels name it (a majority of them)."""
        seen: dict[tuple[str, int], int] = {}
        for node in self.sentinels:
            if node.frozen or node.process is None or node.process.poll() is not None:
                continue
            with node.client(0.5) as client:
                host, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            address = (host.decode(), int(port))
            seen[address] = seen.get(address, 0) + 1
        return max(seen, key=lambda address: seen[address])

    def node_at(self, address: tuple[str, int]) -> Node:
        return next(node for node in self.nodes if node.port == address[1] and not node.sentinel)

    def failover(self, timeout_s: float = 15.0) -> Node:
        """SENTINEL FAILOVER: the replica is promoted; returns the new primary once every
        sentinel names it and it takes writes."""
        before = self.current_primary()
        with self.sentinels[0].client() as client:
            client.execute_command("SENTINEL", "FAILOVER", SERVICE)
        _wait(lambda: self.current_primary() != before, "a new primary", timeout_s)
        new = self.node_at(self.current_primary())
        _wait(lambda: new.role() == "master", "the new primary taking writes", timeout_s)
        old = self.node_at(before)
        _wait(lambda: old.role() == "slave", "the old primary turned replica", timeout_s)
        return new

    def wait_settled(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Every sentinel knows the replica and the other sentinels (failover possible)."""

        def known() -> bool:
            for node in self.sentinels:
                with node.client(0.5) as client:
                    replicas = client.execute_command("SENTINEL", "REPLICAS", SERVICE)
                    others = client.execute_command("SENTINEL", "SENTINELS", SERVICE)
                if len(replicas) < 1 or len(others) < len(self.sentinels) - 1:
                    return False
            return True

        _wait(known, "sentinels knowing each other and the replica", timeout_s)
        replicas = [node for node in self.nodes if not node.sentinel and node is not self.primary]
        _wait(lambda: all(node.in_sync() for node in replicas), "the replica in sync", timeout_s)


@dataclass
class Cluster(Topology):
    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:3])
        return f"redis+cluster://{hosts}"

    def primary_for(self, key: str) -> Node:
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return next(node for node in self.nodes if node.port == int(primary[1]))
        raise LookupError(slot)

    def replica_of(self, primary: Node) -> Node:
        with primary.client() as client:
            node_id = client.execute_command("CLUSTER", "MYID").decode()
        for node in self.nodes:
            with node.client() as client:
                info = client.info("replication")
                myself = client.execute_command("CLUSTER", "MYID").decode()
            if info.get("role") == "slave" and myself != node_id:
                master_port = int(info.get("master_port", 0))
                if master_port == primary.port:
                    return node
        raise LookupError(f"no replica of {primary.port}")

    def failover(self, key: str, *how: str, timeout_s: float = 15.0) -> Node:
        """CLUSTER FAILOVER (`how`: FORCE or TAKEOVER) on the replica of the primary holding
        `key`; returns it once promoted and the cluster is ok again."""
        primary = self.primary_for(key)
        replica = self.replica_of(primary)
        with replica.client() as client:
            client.execute_command("CLUSTER", "FAILOVER", *how)
        _wait(lambda: replica.role() == "master", "the replica promoted", timeout_s)
        self.wait_ok(timeout_s)
        return replica

    def wait_ok(self, timeout_s: float = START_TIMEOUT_S) -> None:
        def ok() -> bool:
            for node in self.nodes:
                if node.frozen or node.process is None or node.process.poll() is not None:
                    continue
                with node.client(0.5) as client:
                    if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                        return False
            return True

        _wait(ok, "cluster_state:ok on every node", timeout_s)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ivr-redis-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def standalone(*extra: str) -> Iterator[Standalone]:
    """One server (`extra`: more redis-server options, e.g. `--appendonly yes`)."""
    with _workdir() as workdir:
        topology = Standalone(workdir)
        try:
            topology.server(*extra)
            yield topology
        finally:
            topology.stop()


@contextlib.contextmanager
def sentinel_set(down_after_ms: int = 1000) -> Iterator[SentinelSet]:
    with _workdir() as workdir:
        topology = SentinelSet(workdir)
        try:
            topology.primary = topology.server()
            primary_port = str(topology.primary.port)
            topology.replica = topology.server("--replicaof", "127.0.0.1", primary_port)
            for _ in range(3):
                port = free_port()
                conf = workdir / f"sentinel-{port}.conf"
                conf.write_text(
                    f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
                    f"dir {workdir}\n"
                    f"sentinel monitor {SERVICE} 127.0.0.1 {topology.primary.port} 2\n"
                    f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
                    f"sentinel failover-timeout {SERVICE} 5000\n"
                    f"sentinel parallel-syncs {SERVICE} 1\n"
                )
                node = topology.add(Node(port, workdir, [str(conf)], sentinel=True))
                topology.sentinels.append(node)
            topology.wait_settled()
            yield topology
        finally:
            topology.stop()


@contextlib.contextmanager
def cluster(node_timeout_ms: int = 1000) -> Iterator[Cluster]:
    with _workdir() as workdir:
        topology = Cluster(workdir)
        try:
            for _ in range(6):
                port = free_port()
                topology.server(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                )
            addresses = [f"127.0.0.1:{node.port}" for node in topology.nodes]
            subprocess.run(
                [_required("redis-cli"), "--cluster", "create", *addresses]
                + ["--cluster-replicas", "1", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            topology.wait_ok()
            # every replica has synced with its primary (a failover needs a replica in step)
            _wait(lambda: sum(node.in_sync() for node in topology.nodes) == 3, "replicas in sync")
            yield topology
        finally:
            topology.stop()
