"""The Twilio redirect of a secure session is bounded in time: a Twilio API that accepts the
connection and never answers fails the redirect, it does not hold the agent's request."""

from __future__ import annotations

import asyncio
import time

import pytest

from ivr.stepup.twilio_redirect import RedirectFailed, TwilioRedirect


async def test_a_stalled_twilio_api_fails_the_redirect_within_its_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # reads nothing, writes nothing, keeps the socket open

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redirect = TwilioRedirect("AC" + "0" * 32, "token", f"http://127.0.0.1:{port}", timeout_s=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(RedirectFailed, match="unreachable"):
            await redirect.redirect("CA" + "1" * 32, "https://ivr.example/twilio/gather")
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started < 5
