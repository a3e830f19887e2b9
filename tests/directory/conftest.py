"""Shared fixtures: a known secret key, a controllable clock, a demo directory on disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.directory.lockout import LockoutPolicy
from ivr.directory.sqlite_store import CustomerRecord, SqliteDirectory

from .remote import RemoteDirectory, serve

REPO = Path(__file__).resolve().parents[2]
DEMO_CSV = REPO / "config" / "demo-customers.csv"


class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No IVR_SECRET_KEY from the developer's shell: `ivr customers import` (which reads it)
    and a directory opened here without a key then hash with the same development key."""
    monkeypatch.delenv("IVR_SECRET_KEY", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ALICE = CustomerRecord(
    "C1001",
    "Alice Example",
    ("+447700900123",),
    "12345678",
    {"date_of_birth": "01021980", "pin": "4321"},
)
CAROL = CustomerRecord("C1003", "Carol Shared", ("+447700900789",), "34567890", {"pin": "1111"})
DAN = CustomerRecord("C1004", "Dan Shared", ("+447700900789",), "45678901", {"pin": "9876"})
ERIN = CustomerRecord("C1005", "Erin Noanswer", ("+447700900999",), "56789012", {})


@pytest.fixture
async def directory(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteDirectory]:
    opened = await SqliteDirectory.open(
        tmp_path / "directory.db", policy=LockoutPolicy(max_failures=5, window_s=3600), clock=clock
    )
    await opened.upsert_customers([ALICE, CAROL, DAN, ERIN])
    yield opened
    await opened.close()


@pytest.fixture
async def remote() -> AsyncIterator[tuple[RemoteDirectory, str]]:
    """A real HTTP directory on 127.0.0.1 and its base URL."""
    directory = RemoteDirectory()
    async with serve(directory) as url:
        yield directory, url
