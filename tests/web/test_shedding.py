"""`ivr serve` sheds slow and hostile clients (issue 12, item 5), tested with real sockets on
loopback against the real server process: idle and slow-loris sockets are closed within the
header deadline while signed webhooks keep succeeding; a body that never ends gets 408; an
oversized body 413 before it is read; a full descriptor table is shed quietly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import time
import uuid
from pathlib import Path

import aiohttp

from ivr.adapters.json_webhook import signature
from tests.web.conftest import ALICE, DEMO_LINE, ROOT, SECRET
from tests.web.servers import HttpCaller, Server

PARTIAL_HEAD = b"POST /json/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/j"


def args(demo_db: str, *extra: str) -> list[str]:
    return [
        "--db",
        demo_db,
        "--journal",
        "none",
        "--flows",
        str(ROOT / "flows"),
        "--config",
        str(ROOT / "config"),
        "--prompts",
        str(ROOT / "prompts"),
        *extra,
    ]


def open_sockets(port: int, count: int, payload: bytes) -> list[socket.socket]:
    opened = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if payload:
            sock.sendall(payload)
        opened.append(sock)
    return opened


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes `sock` (EOF, reset, or a final answer then EOF) in time."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True  # reset: the server aborted the connection
    return True


async def call_once(session: aiohttp.ClientSession, server: Server) -> None:
    caller = HttpCaller(session, f"shed-{uuid.uuid4().hex}")
    answer = await caller.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE)
    assert answer["call"]["customer_id"] == "C1001"


async def test_idle_and_slow_loris_sockets_are_closed_and_calls_go_on(
    tmp_path: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    server = Server(args(demo_db, "--header-timeout", "1", "--max-connections", "60"), tmp_path)
    servers.append(server)
    await server.ready()
    idle = await asyncio.to_thread(open_sockets, server.port, 100, b"")
    partial = await asyncio.to_thread(open_sockets, server.port, 100, PARTIAL_HEAD)
    started = time.monotonic()
    for _ in range(10):  # 200 hostile sockets against a cap of 60: calls still get through
        await call_once(session, server)
    hostile = idle + partial
    closed = await asyncio.gather(
        *(asyncio.to_thread(closed_by_server, sock, 3.0) for sock in hostile)
    )
    waited = time.monotonic() - started
    for sock in hostile:
        sock.close()
    assert all(closed)
    assert waited < 4.0  # header deadline 1 s (evicted ones sooner), with a margin for CI
    metrics = await (await session.get(f"{server.url}/metrics")).text()
    assert 'ivr_shed_total{reason="header_timeout"}' in metrics
    assert 'ivr_shed_total{reason="evicted"}' in metrics
    await call_once(session, server)


async def test_a_connection_that_keeps_trickling_its_head_is_closed(
    tmp_path: Path, demo_db: str, servers: list[Server]
) -> None:
    server = Server(args(demo_db, "--header-timeout", "1"), tmp_path)
    servers.append(server)
    await server.ready()

    def trickle() -> float:
        sock = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        try:
            for byte in PARTIAL_HEAD * 10:
                sock.send(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            return time.monotonic() - started
        finally:
            sock.close()
        return float("inf")

    assert await asyncio.to_thread(trickle) < 2.5


async def test_a_later_request_head_trickled_on_a_kept_alive_connection_is_closed(
    tmp_path: Path, demo_db: str, servers: list[Server]
) -> None:
    """The header deadline is per request: a first request served, then the second's head
    sent a byte at a time is cut off at the deadline (it was only timed for the first)."""
    server = Server(args(demo_db, "--header-timeout", "1"), tmp_path)
    servers.append(server)
    await server.ready()

    def served_then_trickle() -> tuple[bytes, float]:
        sock = socket.create_connection(("127.0.0.1", server.port))
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(5)
            first = b""
            while b"\r\n\r\n" not in first:
                first += sock.recv(4096)
            time.sleep(1.5)  # idle between requests: allowed (keep-alive), not a late head
            started = time.monotonic()
            for byte in PARTIAL_HEAD * 10:
                sock.send(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            return first, time.monotonic() - started
        finally:
            sock.close()
        return first, float("inf")

    first, took = await asyncio.to_thread(served_then_trickle)
    assert first.startswith(b"HTTP/1.1 200")
    assert took < 2.5


def raw_request(port: int, head: bytes, body: bytes, wait_s: float) -> tuple[bytes, float]:
    sock = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    sock.sendall(head + body)
    sock.settimeout(wait_s)
    answer = b""
    with contextlib.suppress(TimeoutError, OSError):
        while chunk := sock.recv(4096):
            answer += chunk
    sock.close()
    return answer, time.monotonic() - started


async def test_a_body_that_never_ends_gets_408(
    tmp_path: Path, demo_db: str, servers: list[Server]
) -> None:
    server = Server(args(demo_db, "--body-timeout", "1"), tmp_path)
    servers.append(server)
    await server.ready()
    head = (
        b"POST /json/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    )
    answer, took = await asyncio.to_thread(raw_request, server.port, head, b'{"type":', 5.0)
    assert answer.startswith(b"HTTP/1.1 408")
    assert took < 3.0  # answered and closed after the 1 s deadline, not held
    assert b"Connection: close" in answer


async def test_an_oversized_body_is_refused_before_it_is_read(
    tmp_path: Path, demo_db: str, servers: list[Server]
) -> None:
    server = Server(args(demo_db), tmp_path)
    servers.append(server)
    await server.ready()
    head = (
        b"POST /json/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
    )
    answer, took = await asyncio.to_thread(raw_request, server.port, head, b"", 5.0)
    assert answer.startswith(b"HTTP/1.1 413")
    assert took < 2.0
    body = json.dumps({"type": "call.started", "pad": "x" * 70_000}).encode()
    chunked = (
        b"POST /json/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-IVR-Signature: " + signature(SECRET, body, int(time.time())).encode() + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    answer, _ = await asyncio.to_thread(raw_request, server.port, chunked, b"", 5.0)
    assert answer.startswith(b"HTTP/1.1 413")


async def test_a_full_descriptor_table_is_shed_quietly(
    tmp_path: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    """File limit 200: the default cap (limit less a reserve) keeps accept() from failing and
    calls succeed during the flood; with the cap set above the limit accept() does fail, and
    the log gets a few warning lines, not a traceback per attempt."""
    for cap in ([], ["--max-connections", "1000"]):
        server = Server(args(demo_db, "--header-timeout", "2", *cap), tmp_path)
        servers.append(server)
        resource.prlimit(server.process.pid, resource.RLIMIT_NOFILE, (200, 200))
        await server.ready()
        flood = await asyncio.to_thread(open_sockets, server.port, 300, b"")
        if not cap:
            for _ in range(5):
                await call_once(session, server)
        await asyncio.sleep(2.5)  # the flood is shed at the header deadline
        for sock in flood:
            sock.close()
        await asyncio.sleep(0.2)
        await call_once(session, server)
        log = server.log.read_text()
        assert "Traceback" not in log
        assert len(log) < 20_000
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert not [line for line in lines if line["level"] == "error"]
        if cap:
            accepts = [line for line in lines if line["msg"].startswith("accept failed")]
            assert 1 <= len(accepts) <= 3
        server.stop()


async def test_malformed_requests_are_client_faults_logged_at_warning(
    tmp_path: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    server = Server(args(demo_db), tmp_path)
    servers.append(server)
    await server.ready()
    garbage = [
        b"POST /json/events HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for _ in range(100):
        for request in garbage:
            answer, _ = await asyncio.to_thread(raw_request, server.port, request, b"", 2.0)
            assert answer.split(b" ")[1].startswith(b"4"), answer[:40]
    await call_once(session, server)
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if "{" in line[:1]]
    faults = [line for line in lines if line["msg"].startswith("bad request from a client")]
    assert faults
    assert all(line["level"] == "warning" for line in faults)
    assert len(faults) < 100  # 300 bad requests, a few lines
    assert not [line for line in lines if line["level"] == "error"]
