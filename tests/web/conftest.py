"""A real server on loopback over the repository's flows, config and prompts, with a real
SQLite directory, and a signed JSON-webhook caller to drive it."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ivr.adapters.json_webhook import signature
from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings

if TYPE_CHECKING:
    from tests.web.servers import Server

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-webhook-secret"
ALICE = "+447700900123"  # C1001, date of birth 01021980
DEMO_LINE = "+441134960000"  # identify by ANI
CARDS_LINE = "+441134960001"  # account number first


@pytest.fixture
def project() -> Project:
    return Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")


@pytest.fixture
async def demo_db(tmp_path: Path) -> str:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    return str(db)


@pytest.fixture
def settings(project: Project, demo_db: str, tmp_path: Path) -> ServeSettings:
    return ServeSettings(
        project=project,
        prompts_build=tmp_path / "prompts-build",  # nothing built: what a fresh clone has
        directory=demo_db,
        journal_url=None,
        webhook_secret=SECRET,
        admin_key="test-admin-key",
        reports_key=None,
    )


MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any, settings: ServeSettings) -> MakeClient:
    async def make(**overrides: Any) -> TestClient[Any, Any]:
        values = {**settings.__dict__, **overrides}
        client: TestClient[Any, Any] = await aiohttp_client(create_app(ServeSettings(**values)))
        return client

    return make


class Caller:
    """Sends signed JSON-webhook events for one call and remembers the last answer."""

    _ids = itertools.count()

    def __init__(self, client: TestClient[Any, Any], call_id: str | None = None) -> None:
        self.client = client
        self.call_id = call_id or f"call-{next(self._ids)}-{time.monotonic_ns()}"
        self.events = itertools.count(1)

    def body(self, kind: str, event_id: str | None = None, **fields: Any) -> bytes:
        doc = {"type": kind, "event_id": event_id or f"e{next(self.events)}"}
        doc["call_id"] = self.call_id
        doc.update(fields)
        return json.dumps(doc).encode()

    async def post_raw(
        self, body: bytes, *, secret: str = SECRET, at: float | None = None, sign: bool = True
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if sign:
            headers["X-IVR-Signature"] = signature(secret, body, int(at or time.time()))
        response = await self.client.post("/json/events", data=body, headers=headers)
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text

    async def send(self, kind: str, event_id: str | None = None, **fields: Any) -> dict[str, Any]:
        status, doc = await self.post_raw(self.body(kind, event_id, **fields))
        assert status == 200, doc
        assert isinstance(doc, dict)
        return doc

    async def start(self, ani: str | None = ALICE, dnis: str = DEMO_LINE) -> dict[str, Any]:
        return await self.send("call.started", ani=ani, dnis=dnis)

    async def press(self, digits: str, event_id: str | None = None) -> dict[str, Any]:
        return await self.send("digits", event_id, digits=digits)


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()


def kinds(doc: dict[str, Any]) -> list[str]:
    return [action["type"] for action in doc["actions"]]


def transfer(doc: dict[str, Any]) -> dict[str, Any]:
    found = [action for action in doc["actions"] if action["type"] == "transfer"]
    assert found, doc
    result: dict[str, Any] = found[-1]
    return result


# Real `ivr serve` processes (tests.web.servers), shared by the process, shedding and limits tests.
@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """The servers a test starts; each is stopped after the test."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
