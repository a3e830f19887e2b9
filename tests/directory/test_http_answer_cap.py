"""A directory answer of 100 MB is refused after the cap, not read whole: the client holds at
most the cap plus a chunk, drops the connection, and routes on with a DirectoryError."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.directory.http_directory import DEFAULT_MAX_ANSWER_BYTES, HttpDirectory
from ivr.directory.port import DirectoryError, LookupStatus

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = b'{"customers": [' + b" " * (64 * 1024 - 15)


class Flood:
    """Answers every lookup with 100 MB, declared or chunked; counts what it managed to send."""

    def __init__(self) -> None:
        self.sent = 0
        self.declared = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if self.declared:
            response.content_length = HUNDRED_MB
        await response.prepare(request)
        try:
            while self.sent < HUNDRED_MB:
                await response.write(CHUNK)
                self.sent += len(CHUNK)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response


@pytest.fixture
async def flood() -> AsyncIterator[tuple[Flood, str]]:
    state = Flood()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield state, str(server.make_url("")).rstrip("/")


@pytest.mark.parametrize("declared", [False, True])
async def test_a_hundred_megabyte_answer_is_refused_after_the_cap(
    flood: tuple[Flood, str], declared: bool
) -> None:
    state, url = flood
    state.declared = declared
    directory = await HttpDirectory.open(url, "token", timeout_s=10.0)
    tracemalloc.start()
    try:
        with pytest.raises(DirectoryError, match=f"more than {DEFAULT_MAX_ANSWER_BYTES} bytes"):
            await directory.lookup_by_account("12345678")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await directory.close()
    assert peak < 4 * DEFAULT_MAX_ANSWER_BYTES + 1024 * 1024  # not 100 MB (nor 200 MB)
    await asyncio.sleep(0.2)  # the server notices the dropped connection
    assert state.sent < HUNDRED_MB // 10


async def test_answers_under_the_cap_still_work(flood: tuple[Flood, str]) -> None:
    state, url = flood
    directory = await HttpDirectory.open(url, "token", max_answer_bytes=HUNDRED_MB)
    state.sent = HUNDRED_MB - 1  # one chunk, then the end: "{"customers": [ ..." is not JSON
    with pytest.raises(DirectoryError, match="malformed JSON"):
        await directory.lookup_by_account("12345678")
    await directory.close()


async def test_the_cap_is_configurable() -> None:
    app = web.Application()

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"customers": []})

    app.router.add_get("/customers/by-account/{n}", small)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        roomy = await HttpDirectory.open(url, "t")
        assert (await roomy.lookup_by_account("1")).status is LookupStatus.NOT_FOUND
        await roomy.close()
        tight = await HttpDirectory.open(url, "t", max_answer_bytes=8)
        with pytest.raises(DirectoryError, match="more than 8 bytes"):
            await tight.lookup_by_account("1")
        await tight.close()
