"""The PCI sweep (issue 15): payments with random valid cards through every gateway, then a
search of everything the server kept or showed for any card number or CVV.

A real `ivr serve` on loopback with its journal (SQLite) and Redis session store takes
PAYMENTS_PER_GATEWAY payments through each of the JSON protocol, Twilio and jambonz, played by
the simulator's remote drivers (signed like the gateways), concurrently. Card numbers are
generated per brand (prefix, length, Luhn), CVVs at random; some calls first key a mistyped
number, which must not leak either. Afterwards the sweep reads: the server's log (stdout and
stderr), every table of the journal, every Redis key and value (also snapshotted while calls
were mid-payment), `/metrics`, both CSV extracts, every `/calls/stream` message, and
recordings of calls through each gateway (their tones decoded). A card number is searched as
typed and grouped with spaces or dashes; a CVV next to what would name it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.payments.cards import Brand
from ivr.settings import Settings
from simulator.player import play_call, scripted
from simulator.remote import remote_driver
from simulator.script import parse_script
from tests.callbacks.servers import free_port
from tests.payments.cardgen import card_number, cvv_for, spellings
from tests.payments.conftest import ROOT
from tests.prompts.test_call_recording import detect_keys, read_samples

PAYMENTS_PER_GATEWAY = 1000
CONCURRENCY = 40
SNAPSHOT_EVERY_S = 3.0
GATEWAYS = ("json", "twilio", "jambonz")
PAYMENTS_LINE = "+441134960003"
REDIS_URL = os.environ.get("IVR_TEST_REDIS", "redis://127.0.0.1:6379/0")
SECRETS = {
    "IVR_WEBHOOK_SECRET": "sweep-webhook-secret",
    "IVR_TWILIO_AUTH_TOKEN": "sweep-twilio-token",
    "IVR_JAMBONZ_SECRET": "sweep-jambonz-secret",
    "IVR_REPORTS_KEY": "sweep-reports-key",
    "IVR_PAYMENT_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
}


@dataclass
class Keyed:
    """What the callers keyed: every card number (valid or mistyped) and CVV."""

    pans: set[str] = field(default_factory=set)
    cvvs: set[str] = field(default_factory=set)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    journal: Path
    prefix: str


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    port = free_port()
    prefix = f"sweep-{uuid.uuid4().hex[:8]}:"
    journal = tmp_path / "journal.db"
    log = tmp_path / "server.log"
    process = start(port, db, journal, prefix, log)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, process, log)
        yield Server(url, process, log, journal, prefix)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        client = aioredis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def start(port: int, db: Path, journal: Path, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SECRETS, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ivr.cli.serve", "--port", str(port), "--db", str(db)]
    command += ["--journal", f"sqlite:///{journal}", "--redis", REDIS_URL]
    command += ["--redis-prefix", prefix, "--log-level", "debug"]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


async def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{await asyncio.to_thread(log.read_text)}")
            with contextlib.suppress(aiohttp.ClientError):  # not listening yet
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(await asyncio.to_thread(log.read_text))


def driver_secrets() -> Settings:
    return Settings.model_construct(
        webhook_secret=SecretStr(SECRETS["IVR_WEBHOOK_SECRET"]),
        twilio_auth_token=SecretStr(SECRETS["IVR_TWILIO_AUTH_TOKEN"]),
        jambonz_secret=SecretStr(SECRETS["IVR_JAMBONZ_SECRET"]),
    )


def script_for(rng: random.Random, keyed: Keyed) -> str:
    brand = rng.choice(list(Brand))
    pan, cvv = card_number(brand, rng), cvv_for(brand, rng)
    keyed.pans.add(pan)
    keyed.cvvs.add(cvv)
    keys = []
    if rng.random() < 0.1:  # a mistyped number first: refused, asked again, never kept
        wrong = pan[:-1] + str((int(pan[-1]) + 1) % 10)
        keyed.pans.add(wrong)
        keys.append(wrong + "#")
    keys += [pan + "#", f"12{rng.randint(30, 40)}#", cvv + "#"]
    return ";".join(keys)


async def one_payment(url: str, protocol: str, script: str, project: Project) -> str:
    driver = remote_driver(protocol, url, project, driver_secrets())
    try:
        outcome = await play_call(
            driver, scripted(parse_script(script)), ani=None, dnis=PAYMENTS_LINE
        )
    finally:
        await driver.close()
    return str(outcome.to_json()["handoff"].get("payment_outcome"))


async def redis_dump(pattern: str = "*") -> str:
    """Every key matching `pattern` and its value, whatever its type, as text (pipelined)."""
    client = aioredis.from_url(REDIS_URL)
    readers = {
        "string": lambda pipe, key: pipe.get(key),
        "hash": lambda pipe, key: pipe.hgetall(key),
        "list": lambda pipe, key: pipe.lrange(key, 0, -1),
        "set": lambda pipe, key: pipe.smembers(key),
        "zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
        "stream": lambda pipe, key: pipe.xrange(key),
    }
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        kinds = [kind.decode() for kind in await pipe.execute()]
        pipe = client.pipeline(transaction=False)
        for key, kind in zip(keys, kinds, strict=True):
            reader = readers.get(kind)
            if reader is None:
                pipe.exists(key)
            else:
                reader(pipe, key)
        values = await pipe.execute()
    finally:
        await client.aclose()
    return "\n".join(
        f"{key.decode('latin-1')} {value!r}" for key, value in zip(keys, values, strict=True)
    )


async def read_stream(url: str, into: list[str], stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {SECRETS['IVR_REPORTS_KEY']}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"{url}/calls/stream", headers=headers) as response,
    ):
        assert response.status == 200
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(response.content.readline(), 0.5)
            except TimeoutError:
                continue
            except aiohttp.ClientPayloadError:  # the server went away: what was read stays
                return
            if not line:
                return
            into.append(line.decode("utf-8", "replace"))


def journal_dump(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute("select name from sqlite_master where type='table'")
        ]
        return "\n".join(
            repr(row) for table in tables for row in connection.execute(f'select * from "{table}"')
        )
    finally:
        connection.close()


def extracts(journal: Path) -> str:
    out = []
    for name in ("calls", "steps"):
        done = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "ivr"),
                "extract",
                name,
                "--journal",
                f"sqlite:///{journal}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        out.append(done.stdout)
    return "\n".join(out)


def recordings(url: str, tmp_path: Path, keyed: Keyed) -> str:
    """One recorded call per gateway, its DTMF decoded: the keys a recording gives away."""
    rng = random.Random(7)
    decoded = []
    for protocol in GATEWAYS:
        script = script_for(rng, keyed)
        out = tmp_path / f"{protocol}.wav"
        env = {**os.environ, **SECRETS}
        done = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "ivr"),
                "simulate",
                "--url",
                url,
                "--protocol",
                protocol,
                "--dnis",
                PAYMENTS_LINE,
                "--input",
                script,
                "--record",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "payment_reference" in done.stdout, done.stdout  # the call took the payment
        decoded.append(detect_keys(read_samples(out)))
        decoded.append(done.stdout + done.stderr)
    return "\n".join(decoded)


_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){11,}")
_CVV_IN_CONTEXT = re.compile(
    r"(?:cvv|cvc|csc|cv2|security[_ ]?code|digits)[\"':= ,]{0,4}(\d{3,4})(?!\d)", re.IGNORECASE
)


def leaks(text: str, keyed: Keyed) -> list[str]:
    """Card numbers in any spelling (digits alone or grouped by spaces or dashes), and CVVs
    next to a word that would name them. One pass over the text: every run of digits, with
    separators dropped, is looked up in the set of keyed numbers at every offset and length."""
    found = []
    for run in _DIGIT_RUN.findall(text):
        digits = run.replace(" ", "").replace("-", "")
        for length in range(13, 20):
            for start in range(len(digits) - length + 1):
                if digits[start : start + length] in keyed.pans:
                    found.append(digits[start : start + length])
    found += ["cvv " + cvv for cvv in _CVV_IN_CONTEXT.findall(text) if cvv in keyed.cvvs]
    return found


async def test_no_card_number_or_cvv_anywhere_after_payments_through_every_gateway(
    server: Server, tmp_path: Path
) -> None:
    rng = random.Random(20261203)
    keyed = Keyed()
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    sse: list[str] = []
    stop = asyncio.Event()
    reader = asyncio.create_task(read_stream(server.url, sse, stop))
    gate = asyncio.Semaphore(CONCURRENCY)
    mid_payment: list[bool] = []
    snapshot_leaks: list[str] = []

    async def paced(protocol: str, script: str) -> str:
        async with gate:
            return await one_payment(server.url, protocol, script, project)

    async def snapshot_while_running(work: asyncio.Future[list[str]]) -> None:
        """Redis as it is mid-run, searched at once (a few snapshots, not kept whole)."""
        while not work.done():
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            text = await redis_dump(f"{server.prefix}*")
            mid_payment.append('"sealed":{"k"' in text)
            snapshot_leaks.extend(leaks(text, keyed))

    started = time.perf_counter()
    scripts = [(p, script_for(rng, keyed)) for p in GATEWAYS for _ in range(PAYMENTS_PER_GATEWAY)]
    work = asyncio.gather(*(paced(p, s) for p, s in scripts))
    await asyncio.gather(work, snapshot_while_running(work))
    outcomes = work.result()
    elapsed = time.perf_counter() - started
    rate, load = len(scripts) / elapsed, os.getloadavg()[0]
    print(f"\n{len(scripts)} payments in {elapsed:.1f} s ({rate:.0f}/s), load {load:.1f}")
    assert outcomes.count("paid") == len(scripts)
    assert any(mid_payment)  # some calls were caught mid-payment, their entry sealed
    assert snapshot_leaks == []

    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as resp:
        metrics = await resp.text()
    assert 'ivr_payments_total{outcome="paid",processor="test"}' in metrics
    recorded = recordings(server.url, tmp_path, keyed)
    await asyncio.sleep(1.5)  # the journal writer flushes
    stop.set()
    await reader
    assert any("take_payment" in message for message in sse)
    server.process.terminate()
    await asyncio.to_thread(server.process.wait, 30)

    places = {
        "log": await asyncio.to_thread(server.log.read_text, errors="replace"),
        "journal": journal_dump(server.journal),
        "redis": await redis_dump(),
        "metrics": metrics,
        "extracts": extracts(server.journal),
        "sse": "".join(sse),
        "recordings": recorded,
    }
    assert "take_payment" in places["journal"]
    for place, text in places.items():
        assert leaks(text, keyed) == [], place
    # the sweep finds what it looks for: a number in every spelling, a CVV named as one
    pan = next(p for p in keyed.pans if len(p) == 16)
    for form in spellings(pan):
        assert leaks(f"card {form} here", keyed) == [pan]
    cvv = next(iter(keyed.cvvs))
    assert leaks(f'{{"cvv": "{cvv}"}}', keyed) == ["cvv " + cvv]
