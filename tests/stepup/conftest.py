"""Fixtures for one-time codes: the demo directory (Alice enrolled for TOTP), a clock that only
moves when a test says so, and the loopback code provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest

from ivr.directory.csv_import import import_file
from ivr.directory.lockout import LockoutPolicy
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.settings import Settings
from ivr.stepup.operations import OneTimeCodes
from ivr.stepup.wiring import one_time_codes
from tests.stepup.provider_server import LoopbackProvider

ROOT = Path(__file__).resolve().parents[2]
DEMO_CSV = ROOT / "config" / "demo-customers.csv"
ALICE_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the documented demo secret
START = 1_700_000_010.0  # 10 s into a 30 s time step


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def code(at: float, secret: str = ALICE_SECRET) -> str:
    """What Alice's authenticator shows at `at` (pyotp, the reference implementation)."""
    return pyotp.TOTP(secret).at(at)


@pytest.fixture(autouse=True)
def no_shell_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IVR_SECRET_KEY", "IVR_OTP_KEYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def directory(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteDirectory]:
    db = tmp_path / "directory.db"
    await import_file(DEMO_CSV, db)
    opened = await SqliteDirectory.open(
        db, policy=LockoutPolicy(max_failures=5, window_s=3600), clock=clock
    )
    yield opened
    await opened.close()


@pytest.fixture
async def provider() -> AsyncIterator[LoopbackProvider]:
    server = LoopbackProvider()
    await server.start()
    yield server
    await server.stop()


def settings_for(provider_url: str | None = None, **values: object) -> Settings:
    fields: dict[str, object] = {"otp_provider_url": provider_url, **values}
    return Settings.model_construct(**fields)


@pytest.fixture
def codes(directory: SqliteDirectory, clock: FakeClock) -> OneTimeCodes:
    built = one_time_codes(directory, settings_for(), clock)
    assert built is not None
    assert built.lockout is not None
    built.lockout.clock = clock
    return built
