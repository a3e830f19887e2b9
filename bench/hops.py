"""Hops of one Twilio `gather` webhook: the project functions it runs between socket and TwiML.

    python -m bench.hops

A real server (`ivr.web.app.create_app`, the directory in memory as in bench.webhooks, no
journal) on loopback takes one whole call first (warm-up), then a second call's
`/twilio/voice`, then its `/twilio/gather` (the date of birth: verified, transferred) while
`sys.setprofile` watches. A hop is one call of a function defined under `ivr/`: every distinct
frame created in that window is counted once (a coroutine resumed after an await is the same
frame), with the files they sit in. The standard library, aiohttp and the load's own code are
not counted. The hops are split in two: the engine's side (functions of the engine's modules,
and whatever is called while an `ivr/engine` frame is on the stack, such as an operation's
abuse guard) and the gateway path (everything else: transport, adapter, call pipeline, session
store, metrics, rendering), which is the path issue 11 counts. Prints the figures and
the functions in the order they were first entered; asserts nothing.
"""

from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = str(ROOT / "ivr") + "/"
ENGINE_PACKAGE = str(ROOT / "ivr" / "engine") + "/"
TOKEN = "bench-twilio-auth-token-0123456789abcdef"


async def measure() -> tuple[list[types.FrameType], int, set[int]]:
    import aiohttp
    from aiohttp.test_utils import TestServer

    from bench.webhooks import FIELDS, DictDirectory
    from ivr.adapters.signatures import twilio_signature
    from ivr.bootstrap import Project
    from ivr.settings import Settings
    from ivr.web.app import create_app
    from ivr.web.settings import ServeSettings

    settings = ServeSettings(
        env=Settings(twilio_auth_token=TOKEN),
        project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
        directory=DictDirectory(),
        journal_url=None,
        webhook_secret=None,
        reports_key=None,
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    frames: list[types.FrameType] = []
    in_turn: set[int] = set()  # ids of the frames called from within the engine's turn
    try:
        async with aiohttp.ClientSession() as session:

            def signed(path_and_query: str, form: dict[str, str]) -> tuple[str, dict[str, str]]:
                url = str(server.make_url(path_and_query))
                signature = twilio_signature(TOKEN, url, form.items())
                headers = {
                    "X-Twilio-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                return url, headers

            async def post(url: str, headers: dict[str, str], form: dict[str, str]) -> str:
                async with session.post(url, data=urlencode(form), headers=headers) as answer:
                    return await answer.text()

            async def start(sid: str) -> tuple[dict[str, str], str]:
                call = {**FIELDS, "CallSid": sid, "CallStatus": "ringing"}
                twiml = await post(*signed("/twilio/voice", call), call)
                action = twiml.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
                gather = {**call, "CallStatus": "in-progress", "Digits": "01021980"}
                return gather, "/twilio/" + action.split("/twilio/", 1)[1]

            # a whole call first: what a process does once (caches, metric children) is not
            # what each webhook costs
            gather, path = await start("CA" + "0" * 32)
            await post(*signed(path, gather), gather)
            gather, path = await start("CA" + "1" * 32)
            url, headers = signed(path, gather)  # the client's signing is not the server's

            def watch(frame: types.FrameType, event: str, _arg: Any) -> None:
                if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
                    frames.append(frame)
                    if id(frame) not in in_turn and _called_by_engine(frame):
                        in_turn.add(id(frame))

            sys.setprofile(watch)
            try:
                answer = await post(url, headers, gather)
            finally:
                sys.setprofile(None)
            assert "verified" in answer, answer  # the date of birth was taken
    finally:
        await server.close()
    distinct = list({id(frame): frame for frame in frames}.values())
    return distinct, len(frames), in_turn


# The engine's side: the turn itself and what it calls (flows, prompts, tokens, config, the
# directory). Everything else is the gateway path the issue counts: transport, adapter, call
# pipeline, session store, metrics and rendering.
ENGINE_SIDE = (
    "ivr/engine/",
    "ivr/flow/",
    "ivr/prompts/",
    "ivr/directory/",
    "ivr/tokens.py",
    "ivr/config.py",
)


def _in_engine(frame: types.FrameType, in_turn: set[int]) -> bool:
    return id(frame) in in_turn or _where(frame).startswith(ENGINE_SIDE)


def _called_by_engine(frame: types.FrameType) -> bool:
    """Whether the engine's turn is on the stack: what it calls (an operation's guard, the
    clock it was given) is part of the turn wherever that code lives."""
    caller = frame.f_back
    while caller is not None:
        if caller.f_code.co_filename.startswith(ENGINE_PACKAGE):
            return True
        caller = caller.f_back
    return False


def _where(frame: types.FrameType) -> str:
    return frame.f_code.co_filename.removeprefix(str(ROOT) + "/")


def main(argv: list[str] | None = None) -> None:
    frames, entries, in_turn = asyncio.run(measure())
    engine = [frame for frame in frames if _in_engine(frame, in_turn)]
    path = [frame for frame in frames if not _in_engine(frame, in_turn)]
    print(
        f"Twilio gather webhook: {len(frames)} project function calls in"
        f" {len({_where(f) for f in frames})} files ({entries} profiler 'call' events, counting"
        " each resumption of a coroutine)"
    )
    print(
        "  the engine's side (ivr/engine, flow, prompts, directory, tokens, config):"
        f" {len(engine)} calls"
    )
    print(
        f"  the gateway path (transport, adapter, call pipeline, store, metrics, rendering):"
        f" {len(path)} calls of {len({f.f_code for f in path})} distinct functions"
        f" in {len({_where(f) for f in path})} files"
    )
    for frame in path:
        print(f"    {_where(frame)}:{frame.f_code.co_firstlineno} {frame.f_code.co_qualname}")


if __name__ == "__main__":
    main()
