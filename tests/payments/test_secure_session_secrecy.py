"""The PCI sweep for agent-assisted payments: callers handed to an agent are sent into secure
sessions through the JSON protocol and Twilio (its REST redirect), concurrently, and key random
valid cards and CVVs (some a mistyped number first); the call state is in Redis. Afterwards
every log line, journal table, Redis key and value (also while a card entry was half keyed),
the metrics, every hand-off, every view the agent polled and every webhook the agent desktop
got are searched for any card number (in any spelling) or CVV: none is found."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.bootstrap import Project
from ivr.payments.cards import Brand
from ivr.web.logs import JsonFormatter
from simulator.remote_twilio import RemoteTwilioDriver
from tests.conftest import REDIS_URL, delete_keys
from tests.payments.cardgen import card_number, cvv_for
from tests.payments.secure_server import (
    ALICE,
    CARDS_LINE,
    ROOT,
    TWILIO_TOKEN,
    JsonCaller,
    Running,
    secure_server,
    transfer,
)
from tests.payments.test_pci_sweep import Keyed, journal_dump, leaks, redis_dump

PER_GATEWAY = 40
CONCURRENCY = 8


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    try:
        async with secure_server(tmp_path, monkeypatch, REDIS_URL, prefix) as server:
            yield server
    finally:
        await delete_keys(prefix)


@pytest.fixture
def server_log() -> AsyncIterator[io.StringIO]:
    """Every log line of the server, as `ivr serve` writes them (JSON, debug and up)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out  # type: ignore[misc]
    root.removeHandler(handler)
    root.setLevel(level)


def card(rng: random.Random, keyed: Keyed) -> tuple[str, str]:
    brand = rng.choice(list(Brand))
    pan, cvv = card_number(brand, rng), cvv_for(brand, rng)
    keyed.pans.add(pan)
    keyed.cvvs.add(cvv)
    return pan, cvv


async def json_payment(
    running: Running, rng: random.Random, keyed: Keyed, seen: list[str], snapshot: bool
) -> str:
    caller = JsonCaller(running)
    await caller.to_agent(verified=False)
    status, started = await running.agent(
        "POST", caller.call_id, {"amount": "30.00", "currency": "GBP"}
    )
    assert status == 201, started
    seen.append(json.dumps(started))
    await caller.send("transfer_result", result="returned")
    pan, cvv = card(rng, keyed)
    if rng.random() < 0.1:  # a mistyped number first: refused, asked again, never kept
        wrong = pan[:-1] + str((int(pan[-1]) + 1) % 10)
        keyed.pans.add(wrong)
        seen.append(json.dumps(await caller.send("digits", digits=wrong + "#")))
    seen.append(json.dumps(await caller.send("digits", digits=pan + "#")))
    seen.append(json.dumps(await caller.send("digits", digits="1235#")))
    if snapshot:  # the entry so far is in Redis, sealed: search it now
        seen.append(await redis_dump(f"{running.prefix}*"))
    done = await caller.send("digits", digits=cvv + "#")
    seen.append(json.dumps(done))
    _, polled = await running.agent("GET", caller.call_id)
    seen.append(json.dumps(polled))
    return str(transfer(done)["handoff"]["payment_outcome"])


async def twilio_payment(
    running: Running, rng: random.Random, keyed: Keyed, seen: list[str]
) -> str:
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    driver = RemoteTwilioDriver(running.url, TWILIO_TOKEN, project=project)
    sid = "CA" + uuid.uuid4().hex
    try:
        await driver.start(sid, ALICE, CARDS_LINE, "A")
        await driver.press("*")  # no account number: to an agent
    finally:
        await driver.close()
    pan, cvv = card(rng, keyed)
    call = running.twilio.answer_inbound(sid, ALICE, CARDS_LINE, [pan, "1235", cvv])
    status, started = await running.agent("POST", sid, {"amount": "30.00", "currency": "GBP"})
    assert status == 201, started
    await asyncio.wait_for(call.done.wait(), 60)
    seen.extend(call.documents)
    _, polled = await running.agent("GET", sid)
    seen.append(json.dumps(polled))
    assert call.handoff is not None, call.documents
    seen.append(json.dumps(call.handoff))
    return str(call.handoff["payment_outcome"])


async def test_no_card_number_or_cvv_anywhere_after_agent_assisted_payments(
    running: Running, server_log: io.StringIO
) -> None:
    rng = random.Random(20261203)
    keyed = Keyed()
    seen: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def paced(gateway: str, index: int) -> str:
        async with gate:
            if gateway == "json":
                return await json_payment(running, rng, keyed, seen, snapshot=index % 10 == 0)
            return await twilio_payment(running, rng, keyed, seen)

    runs = [(g, i) for g in ("json", "twilio") for i in range(PER_GATEWAY)]
    outcomes = await asyncio.gather(*(paced(g, i) for g, i in runs))
    assert outcomes.count("paid") == len(runs)
    assert any('"sealed":{"k"' in text for text in seen)  # a half-keyed entry was seen, sealed
    for _ in range(100):  # the desktop's webhooks arrive in the background
        if len(running.desktop.received) >= len(runs):
            break
        await asyncio.sleep(0.05)
    assert len(running.desktop.received) == len(runs)
    async with running.http.get(f"{running.url}/metrics") as response:
        metrics = await response.text()
    assert 'ivr_secure_sessions_total{event="paid"}' in metrics
    await asyncio.sleep(1.0)  # the journal writer flushes
    journal = journal_dump(running.journal)
    assert journal.count("secure_session.end") == len(runs)
    places: dict[str, Any] = {
        "log": server_log.getvalue(),
        "journal": journal,
        "redis": await redis_dump(f"{running.prefix}*"),
        "metrics": metrics,
        "answers, hand-offs and views": "\n".join(seen),
        "webhooks": json.dumps(running.desktop.received),
    }
    assert "secure_session" in places["log"]
    for place, text in places.items():
        assert leaks(text, keyed) == [], place
