"""`ivr simulate flows/callback.yaml --callback ID` plays a booked callback in the console:
the console hears the secret, presses 1, and the callback ends completed."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.db import open_database
from ivr.callbacks.model import Booking, Window
from ivr.callbacks.queues import Queues
from ivr.callbacks.service import book
from ivr.callbacks.store import CallbackStore
from ivr.directory.csv_import import import_file
from tests.callbacks.conftest import KEY_1

ROOT = Path(__file__).resolve().parents[2]
IVR = Path(sys.executable).parent / "ivr"


async def _booked(url: str) -> str:
    db = await open_database(url)
    try:
        store = CallbackStore(db, SecretBox.from_text(f"k1:{KEY_1}"))
        now = time.time()
        from datetime import UTC, datetime, timedelta

        start = datetime.fromtimestamp(now, UTC)
        window = Window(start=start, end=start + timedelta(hours=3))
        request = Booking(number="+447700900123", queue="cards", window=window, secret="anana")
        who = AppIdentity("C1001", "Alice Example")
        callback, _ = await book(store, Queues.load(ROOT / "config"), who, request, now)
        return callback.id
    finally:
        await db.close()


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(IVR), *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_simulate_plays_the_callback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/journal.db"
    callback_id = await _booked(url)
    directory = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", directory)
    env = {**os.environ, "IVR_CALLBACK_KEYS": f"k1:{KEY_1}"}
    code, out, err = await _run(
        "simulate", "flows/callback.yaml", "--callback", callback_id, "--input", "1",
        "--db", str(directory), "--journal", url, env=env,
    )  # fmt: skip
    assert code == 0, err
    assert "IVR: Hello Alice Example" in out
    assert "your secret word is anana" in out
    assert "reverse_idv': 'read_back'" in out
    assert f"callback {callback_id}: completed" in err
    again_code, _, again_err = await _run(
        "simulate", "flows/callback.yaml", "--callback", callback_id, "--input", "1",
        "--db", str(directory), "--journal", url, env=env,
    )  # fmt: skip
    assert again_code == 1
    assert "is completed, not scheduled" in again_err
    db = await open_database(url)
    try:
        rows = await db.fetch("SELECT body FROM record_chunks", {})
    finally:
        await db.close()
    assert rows  # the call was journaled
    assert "anana" not in repr(rows)
