"""The one-time code secrecy sweep: many step-ups and code checks through the real server on
loopback (JSON webhooks, the app and agent APIs), with the journal and Redis; afterwards every
log line, journal table, Redis key and value, metric, extract, SSE message, webhook and API
answer is searched for every code anyone keyed or was sent: none may be found."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.stepup.provider_server import TOKEN, LoopbackProvider, free_port
from tests.stepup.test_stepup_api import AGENT_KEY, APP_SECRET, HOOK_SECRET, agent, customer
from tests.web.conftest import SECRET, Caller

from .conftest import ROOT, settings_for

REDIS_URL = "redis://127.0.0.1:6379/0"
REPORTS_KEY = "sweep-reports-key"
STEPUP_LINE = "+441134960005"
IN_CALLS = 24  # customers verifying a TOTP code in a call (a wrong code first)
TEXTED = 8  # customers texted a code in a call
AGENT_TOTP = 10  # agent step-ups answered in the app with an authenticator's code
AGENT_SENT = 6  # agent step-ups with a code pushed to the app


def wrong_for(secret: str) -> str:
    """A 6-digit code no window around now accepts."""
    totp = pyotp.TOTP(secret)
    near = {totp.at(time.time() + 30 * k) for k in range(-3, 4)}
    while True:
        guess = f"{secrets.randbelow(10**6):06d}"
        if guess not in near:
            return guess


def found(codes: set[str], text: str) -> set[str]:
    """Codes that stand alone in `text` (not inside a longer number, word, hex id or decimal)."""
    hits = set()
    for code in codes:
        if re.search(rf"(?<![0-9A-Za-z._-]){code}(?![0-9A-Za-z._-])", text):
            hits.add(code)
    return hits


class Desktop:
    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.port = free_port()

    async def hook(self, request: web.Request) -> web.Response:
        self.bodies.append((await request.read()).decode())
        return web.Response(status=204)


@pytest.fixture
async def desktop() -> AsyncIterator[Desktop]:
    receiver = Desktop()
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    yield receiver
    await runner.cleanup()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"ivr-sweep-{uuid.uuid4().hex[:10]}:"
    yield name
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def _customers(folder: Path) -> tuple[Path, dict[str, str]]:
    """A directory file: TOTP customers (S..., U...) and texted ones (T..., V...)."""
    rows = ["customer_id,name,phones,account_number,date_of_birth,totp_secret"]
    totp: dict[str, str] = {}
    for kind, count, enrolled in (("S", IN_CALLS, True), ("T", TEXTED, False),
                                  ("U", AGENT_TOTP, True), ("V", AGENT_SENT, False)):  # fmt: skip
        for n in range(1, count + 1):
            customer_id = f"{kind}{n:03d}"
            account = f"9{'STUV'.index(kind)}{n:06d}"
            secret = pyotp.random_base32(32) if enrolled else ""
            if secret:
                totp[customer_id] = secret
            rows.append(f"{customer_id},Sweep {customer_id},,{account},01011980,{secret}")
    csv = folder / "sweep.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv, totp


async def _sse(client: TestClient[Any, Any], into: list[str], stop: asyncio.Event) -> None:
    response = await client.get("/calls/stream", headers={"X-API-Key": REPORTS_KEY})
    while not stop.is_set():
        try:
            async with asyncio.timeout(0.5):
                chunk = await response.content.readany()
        except TimeoutError:
            continue
        if not chunk:
            break
        into.append(chunk.decode())
    response.close()


async def _redis_dump(prefix: str) -> str:
    client = aioredis.from_url(REDIS_URL, decode_responses=False)
    parts: list[str] = []
    try:
        async for key in client.scan_iter(match=f"{prefix}*"):
            kind = (await client.type(key)).decode()
            parts.append(key.decode(errors="replace"))
            if kind == "string":
                value: Any = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "list":
                value = await client.lrange(key, 0, -1)
            elif kind == "set":
                value = await client.smembers(key)
            elif kind == "zset":
                value = await client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = await client.xrange(key)
            else:
                value = kind
            parts.append(repr(value))
    finally:
        await client.aclose()
    return "\n".join(parts)


def _sqlite_dump(path: Path) -> str:
    """Every row of every table (and the raw file bytes, WAL included)."""
    conn = sqlite3.connect(path)
    parts = []
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            parts.append(f"{table}: " + repr(conn.execute(f'SELECT * FROM "{table}"').fetchall()))
    finally:
        conn.close()
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    parts.append(raw.decode("latin-1"))
    return "\n".join(parts)


async def test_no_code_is_found_anywhere(
    aiohttp_client: Any,
    tmp_path: Path,
    provider: LoopbackProvider,
    desktop: Desktop,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    csv, totp = _customers(tmp_path)
    directory = tmp_path / "directory.db"
    await import_file(csv, directory)
    journal = tmp_path / "journal.db"
    env = settings_for(
        provider.url,
        otp_provider_token=SecretStr(TOKEN),
        agent_key=SecretStr(AGENT_KEY),
        app_jwt_secret=SecretStr(APP_SECRET),
        stepup_webhook_url=f"http://127.0.0.1:{desktop.port}/hook",
        stepup_webhook_secret=SecretStr(HOOK_SECRET),
    )
    settings = ServeSettings(
        project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
        prompts_build=tmp_path / "prompts-build",
        directory=str(directory),
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        journal_url=f"sqlite:///{journal}",
        webhook_secret=SECRET,
        reports_key=REPORTS_KEY,
        env=env,
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    sse: list[str] = []
    stop = asyncio.Event()
    reader = asyncio.create_task(_sse(client, sse, stop))
    await asyncio.sleep(0.2)
    keyed: set[str] = set()
    answers: list[str] = []  # every body the server sent back

    async def call_with_code(customer_id: str, account: str, texted: bool) -> None:
        caller = Caller(client, f"sweep-{customer_id}")
        answers.append(json.dumps(await caller.start(ani=None, dnis=STEPUP_LINE)))
        answers.append(json.dumps(await caller.press(account + "#")))
        answers.append(json.dumps(await caller.press("01011980#")))
        if texted:
            (right,) = provider.codes_for(customer_id)
            wrong = right[::-1] if right[::-1] != right else "000001"
        else:
            secret = totp[customer_id]
            wrong, right = wrong_for(secret), pyotp.TOTP(secret).now()
        keyed.update({wrong, right})
        answers.append(json.dumps(await caller.press(wrong + "#")))
        done = await caller.press(right + "#")
        answers.append(json.dumps(done))
        transfer = [a for a in done["actions"] if a["type"] == "transfer"]
        assert transfer[0]["handoff"]["idv_status"] == "identified_and_verified", done

    for n in range(1, IN_CALLS + 1):
        await call_with_code(f"S{n:03d}", f"90{n:06d}", texted=False)
    for n in range(1, TEXTED + 1):
        await call_with_code(f"T{n:03d}", f"91{n:06d}", texted=True)

    async def agent_step_up(customer_id: str, method: str) -> None:
        body = {"customer_id": customer_id, "method": method, "audience": "payments-backend"}
        started = await client.post("/step-ups", json=body, headers=agent())
        assert started.status == 201, await started.text()
        step_up = await started.json()
        answers.append(json.dumps(step_up))
        if method == "sent":
            right = provider.codes_for(customer_id)[-1]
            wrong = f"{(int(right) + 1) % 10**6:06d}"
        else:
            secret = totp[customer_id]
            wrong, right = wrong_for(secret), pyotp.TOTP(secret).now()
        keyed.update({wrong, right})
        url = f"/step-ups/{step_up['id']}"
        for typed in (wrong, right):
            reply = await client.post(
                url + "/answer", json={"code": typed}, headers=customer(customer_id)
            )
            answers.append(await reply.text())
        polled = await (await client.get(url, headers=agent())).json()
        answers.append(json.dumps(polled))
        assert polled["status"] == "verified", polled
        redeem = {"token": polled["validation_token"], "audience": "payments-backend"}
        spent = await client.post("/step-ups/tokens/verify", json=redeem, headers=agent())
        assert spent.status == 200
        answers.append(await spent.text())

    for n in range(1, AGENT_TOTP + 1):
        await agent_step_up(f"U{n:03d}", "totp")
    for n in range(1, AGENT_SENT + 1):
        await agent_step_up(f"V{n:03d}", "sent")

    sent = {str(m["code"]) for m in provider.messages}
    codes = keyed | sent
    assert len(codes) > IN_CALLS + TEXTED + AGENT_TOTP  # many distinct codes were used
    assert found(codes, json.dumps(provider.messages)) == sent  # the search does find them
    calls = IN_CALLS + TEXTED
    key = {"X-API-Key": REPORTS_KEY}
    for _ in range(200):  # the journal worker writes in the background
        extract = await (await client.get("/extracts/calls", headers=key)).text()
        if extract.count("sweep-") >= calls:
            break
        await asyncio.sleep(0.1)
    assert extract.count("sweep-") >= calls
    steps = await (await client.get("/extracts/steps", headers=key)).text()
    assert "totp_code" in steps
    metrics = await (await client.get("/metrics")).text()
    assert 'ivr_otp_checks_total{kind="totp",outcome="verified"}' in metrics
    for _ in range(50):
        if len(desktop.bodies) >= AGENT_TOTP + AGENT_SENT:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await reader
    redis_text = await _redis_dump(prefix)
    assert redis_text  # calls were shared through Redis
    await client.close()  # the journal worker flushes and stops: its output is complete
    out, err = capfd.readouterr()
    places = {
        "logs": "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records),
        "stdout/stderr": out + err,
        "journal": _sqlite_dump(journal),
        "directory": _sqlite_dump(directory),
        "redis": redis_text,
        "metrics": metrics,
        "extracts": extract + steps,
        "sse": "".join(sse),
        "webhooks": "\n".join(desktop.bodies),
        "answers": "\n".join(answers),
    }
    assert "".join(sse).count("event: record") > calls  # the live view was watched
    assert len(desktop.bodies) == AGENT_TOTP + AGENT_SENT
    leaks = {place: found(codes, text) for place, text in places.items()}
    assert leaks == {place: set() for place in places}
