"""bench/loadgen.py against real loopback servers: requests framed and signed so that a
server checking X-Twilio-Signature accepts every one, counted, and refusals counted as errors.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.loadgen import (
    Connection,
    ProtocolError,
    Response,
    ResponseReader,
    TwilioCalls,
    closed_loop,
    open_loop,
)
from ivr.adapters.signatures import verify_twilio

TOKEN = "test-twilio-token"
FIELDS = {"AccountSid": "AC" + "0" * 32, "From": "+447700900123", "To": "+441134960000"}
GATHER = "/twilio/gather?step=date_of_birth&attempt=1&max=8"


def twilio_app(seen: Counter[str]) -> web.Application:
    """Checks each request as `ivr serve` does (signature over the URL as received and the
    form), answers voice with TwiML whose absolute `action` is HTML-escaped, as ours is."""

    async def handle(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-www-form-urlencoded"
        body = await request.read()
        assert len(body) == request.content_length
        params = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        if not verify_twilio(TOKEN, url, params, request.headers.get("X-Twilio-Signature")):
            return web.Response(status=403)
        form = dict(params)
        assert form["CallSid"].startswith("CA")
        seen[request.path] += 1
        if request.path == "/twilio/voice":
            action = f"http://{request.host}{GATHER}".replace("&", "&amp;")
            return web.Response(text=f'<Response><Gather action="{action}"/></Response>')
        if request.path == "/twilio/gather":
            assert request.query["step"] == "date_of_birth"
            assert form["Digits"] == "01021980"
            return web.Response(text="<Response><Dial>+441134960999</Dial></Response>")
        assert form["CallStatus"] == "completed"
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/twilio/{name}", handle)
    return app


async def started(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_closed_loop_sends_valid_signed_calls_and_counts_them() -> None:
    seen: Counter[str] = Counter()
    server = await started(twilio_app(seen))
    try:
        calls = TwilioCalls("127.0.0.1", server.port, TOKEN, FIELDS, digits="01021980")
        async with asyncio.timeout(5):  # a mis-framed request would leave the server waiting
            result = await closed_loop(calls, seconds=0.4, concurrency=4)
    finally:
        await server.close()
    assert result["errors"] == 0
    assert result["events"] > 30
    assert result["events"] % 3 == 0
    total = result["events"] + result["warmup_events"]
    assert seen == {
        "/twilio/voice": total // 3,
        "/twilio/gather": total // 3,
        "/twilio/status": total // 3,
    }
    assert result["client_cpu_s"] > 0
    assert result["connections"] == 4


async def test_open_loop_reports_latencies_without_errors() -> None:
    seen: Counter[str] = Counter()
    server = await started(twilio_app(seen))
    try:
        calls = TwilioCalls("127.0.0.1", server.port, TOKEN, FIELDS, digits="01021980")
        async with asyncio.timeout(5):
            result = await open_loop(calls, seconds=0.3, rate=300)
    finally:
        await server.close()
    assert result["errors"] == 0
    assert result["events"] == sum(seen.values()) - result["warmup_events"] >= 80
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["connections"] >= 1


async def test_a_refused_signature_is_an_error() -> None:
    seen: Counter[str] = Counter()
    server = await started(twilio_app(seen))
    try:
        calls = TwilioCalls("127.0.0.1", server.port, "not-the-token", FIELDS, "01021980")
        async with asyncio.timeout(5):
            result = await closed_loop(calls, seconds=0.2, concurrency=2)
    finally:
        await server.close()
    assert not seen  # every request was answered 403
    assert result["events"] > 0
    assert result["errors"] == result["events"]


async def test_chunked_and_closing_answers_are_framed_and_reconnected() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"<Response>", b"x" * 5000, b"</Response>"):
            await response.write(part)
        await response.write_eof()
        return response

    async def closing(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="bye", headers={"Connection": "close"})

    app = web.Application()
    app.router.add_post("/chunked", chunked)
    app.router.add_post("/closing", closing)
    server = await started(app)
    try:
        connection = Connection("127.0.0.1", server.port)
        for path in ("/chunked", "/closing", "/chunked", "/closing", "/chunked"):
            request = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok".encode()
            response = await connection.request(request)
            assert response.status == 200
            expected = (
                b"<Response>" + b"x" * 5000 + b"</Response>" if path == "/chunked" else b"bye"
            )
            assert response.body == expected
        assert connection.connects == 3  # a new connection after each `Connection: close`
        connection.close()
    finally:
        await server.close()


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        self.closed = True


ANSWERS = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", Response(200, b"hello")),
    (b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", Response(403, b"")),
    (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n",
        Response(200, b"abc0123456789abcdef"),
    ),
]


@pytest.mark.parametrize(("wire", "expected"), ANSWERS)
async def test_reader_frames_answers_split_at_every_byte(wire: bytes, expected: Response) -> None:
    for cut in range(1, len(wire)):
        for pieces in ([wire[:cut], wire[cut:]], [wire[i : i + 1] for i in range(len(wire))]):
            reader = ResponseReader()
            transport = FakeTransport()
            reader.connection_made(transport)
            waiter = reader.send(b"request")
            for piece in pieces:
                assert not waiter.done()
                reader.data_received(piece)
            assert waiter.result() == expected
            assert reader.open
            assert not transport.closed


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc",  # a byte too many
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"SMTP/1.1 200 OK\r\n\r\n",
    ],
)
async def test_reader_refuses_misframed_answers(wire: bytes) -> None:
    reader = ResponseReader()
    transport = FakeTransport()
    reader.connection_made(transport)
    waiter = reader.send(b"request")
    reader.data_received(wire)
    with pytest.raises(ProtocolError):
        waiter.result()
    assert transport.closed
    assert not reader.open


async def test_reader_body_until_close() -> None:
    reader = ResponseReader()
    reader.connection_made(FakeTransport())
    waiter = reader.send(b"request")
    reader.data_received(b"HTTP/1.0 200 OK\r\n\r\npart one, ")
    reader.data_received(b"part two")
    reader.connection_lost(None)
    assert waiter.result() == Response(200, b"part one, part two")
    assert not reader.open
