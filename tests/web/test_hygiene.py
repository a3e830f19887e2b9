"""No caller keys in metrics labels or log lines; the journal gets each event's records."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from ivr.journal.store import open_store
from ivr.web.logs import JsonFormatter
from tests.web.conftest import CARDS_LINE, Caller, MakeClient

SECRET_KEYS = ("01021980", "12345678", "99999999")


async def _call_with_secrets(client: TestClient[Any, Any]) -> Caller:
    caller = Caller(client)
    await caller.start(ani=None, dnis=CARDS_LINE)
    await caller.press("12345678#")
    await caller.press("99999999#")
    await caller.press("01021980#")
    return caller


async def test_metrics_labels_carry_no_caller_digits(client: TestClient[Any, Any]) -> None:
    await _call_with_secrets(client)
    text = await (await client.get("/metrics")).text()
    assert "ivr_webhook_seconds_bucket" in text
    for labels in re.findall(r"^ivr_\w+\{([^}]*)\}", text, flags=re.M):
        values = re.findall(r'="([^"]*)"', labels)
        values = [v for v in values if not re.fullmatch(r"[0-9.e+]+|\+Inf", v)]  # le buckets
        assert not any(re.search(r"\d", value) for value in values), labels


async def test_log_lines_are_json_with_call_id_and_no_keys(client: TestClient[Any, Any]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        caller = await _call_with_secrets(client)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    webhooks = [line for line in lines if line["msg"] == "webhook"]
    assert len(webhooks) == 4
    assert all(line["call_id"] == caller.call_id for line in webhooks)
    assert all(secret not in stream.getvalue() for secret in SECRET_KEYS)


async def test_journal_receives_the_records_of_every_event(
    make_client: MakeClient, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/journal.db"
    client = await make_client(journal_url=url)
    caller = await _call_with_secrets(client)
    await client.close()  # flushes the writer
    store = await open_store(url)
    try:
        journey = await store.journey(caller.call_id)
    finally:
        await store.close()
    assert journey[0].kind.value == "call_started"
    assert journey[-1].kind.value == "call_ended"
    dumped = json.dumps([record.data for record in journey])
    assert all(secret not in dumped for secret in SECRET_KEYS)
    await asyncio.sleep(0)
