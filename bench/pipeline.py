"""The gateway core without HTTP: CPU per event of the Twilio adapter and the call pipeline.

    python -m bench.pipeline [--calls 2000] [--rounds 5]

The server of bench.webhooks (`create_app`, the directory in memory, no journal, state in
memory), started without a socket: each webhook is handed to `CallPipeline.handle` as the
HTTP glue hands it (a `Delivery` of signed bytes), three per call as Twilio sends them (the
voice webhook, the date of birth at the `<Gather>` action URL, the `completed` status). Printed,
as medians over rounds of CPU time (`time.process_time`) per event:

- the whole core: parse, lock, state, engine, render, store;
- the adapter's parse alone (form, signature, event) of the same deliveries;
- so what bench.webhooks' server spends per event besides these is aiohttp and the HTTP glue.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from bench.machine import describe
from bench.webhooks import FIELDS, TOKEN, DictDirectory
from ivr.adapters.base import Adapter
from ivr.adapters.signatures import twilio_signature
from ivr.bootstrap import Project
from ivr.calls import CallPipeline, Delivery
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.keys import ADAPTERS, CALLS
from ivr.web.settings import ServeSettings

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8080"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def delivery(kind: str, path: str, form: dict[str, str]) -> Delivery:
    url = BASE + path
    headers = {**FORM_TYPE, "X-Twilio-Signature": twilio_signature(TOKEN, url, form.items())}
    return Delivery(kind, BASE, url, headers, urlencode(form).encode())


def deliveries(sid: str, gather_path: str) -> list[Delivery]:
    """One call's three webhooks, signed as Twilio signs them."""
    call = {**FIELDS, "CallSid": sid, "CallStatus": "ringing"}
    answer = {**call, "CallStatus": "in-progress", "Digits": "01021980"}
    return [
        delivery("voice", "/twilio/voice", call),
        delivery("gather", gather_path, answer),
        delivery("status", "/twilio/status", {**call, "CallStatus": "completed"}),
    ]


async def gather_path(pipeline: CallPipeline, twilio: Adapter) -> str:
    """The `<Gather>` action URL of the voice webhook's answer (the same for every call)."""
    call = {**FIELDS, "CallSid": "CA" + "f" * 32, "CallStatus": "ringing"}
    reply = await pipeline.handle(twilio, delivery("voice", "/twilio/voice", call))
    twiml = reply.document.body.decode()
    action = twiml.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    return "/twilio/" + action.split("/twilio/", 1)[1]


async def measure(calls: int, rounds: int) -> tuple[list[float], list[float]]:
    settings = ServeSettings(
        env=Settings(twilio_auth_token=TOKEN),
        project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
        directory=DictDirectory(),
        journal_url=None,
        webhook_secret=None,
        reports_key=None,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()  # startup and cleanup contexts run; no socket is opened
    try:
        pipeline = app[CALLS]
        twilio = next(adapter for adapter in app[ADAPTERS] if adapter.name == "twilio")
        path = await gather_path(pipeline, twilio)
        for warm_up in deliveries("CA" + "e" * 32, path):  # caches, metric children
            await pipeline.handle(twilio, warm_up)
        whole, parse = [], []
        for round_ in range(rounds):
            batch = [d for i in range(calls) for d in deliveries(f"CA{round_:04d}{i:028d}", path)]
            started = time.process_time()
            for item in batch:
                reply = await pipeline.handle(twilio, item)
            whole.append((time.process_time() - started) / len(batch))
            assert reply.status == 200
            gathered = await pipeline.handle(twilio, batch[-2])  # a redelivery: the answer
            assert "verified" in gathered.document.body.decode()  # the path measured is real
            started = time.process_time()
            for item in batch:
                twilio.parse(item.kind, item.url, item.headers, item.body)
            parse.append((time.process_time() - started) / len(batch))
        return whole, parse
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    whole, parse = asyncio.run(measure(max(1, args.calls), args.rounds))
    print(f"bench.pipeline on {describe()}; {args.calls} calls x 3 webhooks, {args.rounds} rounds")
    for label, figures in (
        ("core (parse, pipeline, engine, render, store)", whole),
        ("of which the Twilio adapter's parse", parse),
    ):
        print(f"  {label:<47} {statistics.median(figures) * 1e6:6.0f} µs CPU/event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
