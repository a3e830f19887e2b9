from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.directory.lockout import LockingDirectory, LockoutPolicy
from ivr.directory.port import VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory

from .conftest import ALICE, FakeClock

HOUR = 3600.0


async def fail(directory: SqliteDirectory | LockingDirectory, times: int) -> None:
    for _ in range(times):
        assert await directory.verify_answer("C1001", "pin", "0000") is VerifyStatus.WRONG


async def test_five_failures_lock_even_the_right_answer(directory: SqliteDirectory) -> None:
    await fail(directory, 5)
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    assert await directory.verify_answer("C1001", "date_of_birth", "01021980") == "locked"


async def test_lock_is_per_customer(directory: SqliteDirectory) -> None:
    await fail(directory, 5)
    assert await directory.verify_answer("C1004", "pin", "9876") is VerifyStatus.VERIFIED


async def test_success_resets_the_count(directory: SqliteDirectory) -> None:
    await fail(directory, 4)
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
    await fail(directory, 4)
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED


async def test_failures_older_than_the_window_do_not_count(
    directory: SqliteDirectory, clock: FakeClock
) -> None:
    await fail(directory, 4)
    clock.advance(HOUR + 1)  # the fixture's window is one hour
    await fail(directory, 4)
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED


async def test_lock_expires_as_the_window_slides(
    directory: SqliteDirectory, clock: FakeClock
) -> None:
    await fail(directory, 5)
    clock.advance(HOUR - 1)
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    clock.advance(2)
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED


async def test_not_enrolled_does_not_count_as_failure(directory: SqliteDirectory) -> None:
    for _ in range(10):
        status = await directory.verify_answer("C1005", "pin", "1234")
        assert status is VerifyStatus.NOT_ENROLLED


async def test_policy_is_configurable(tmp_path: Path, clock: FakeClock) -> None:
    policy = LockoutPolicy(max_failures=2, window_s=60)
    directory = await SqliteDirectory.open(tmp_path / "d.db", policy=policy, clock=clock)
    try:
        await directory.upsert_customers([ALICE])
        await fail(directory, 2)
        assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
        clock.advance(61)
        assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
    finally:
        await directory.close()


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        LockoutPolicy(max_failures=0)
    with pytest.raises(ValueError):
        LockoutPolicy(window_s=0)


async def test_lock_survives_restart(tmp_path: Path, clock: FakeClock) -> None:
    first = await SqliteDirectory.open(tmp_path / "d.db", clock=clock)
    await first.upsert_customers([ALICE])
    await fail(first, 5)
    await first.close()
    second = await SqliteDirectory.open(tmp_path / "d.db", clock=clock)
    try:
        assert await second.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    finally:
        await second.close()


async def test_concurrent_guesses_get_no_more_than_the_limit(tmp_path: Path) -> None:
    """Two workers (two directory objects on one file) guessing in parallel share the limit."""
    clock = FakeClock()
    one = await SqliteDirectory.open(tmp_path / "d.db", clock=clock)
    await one.upsert_customers([ALICE])
    two = await SqliteDirectory.open(tmp_path / "d.db", clock=clock)
    try:
        guesses = [
            d.verify_answer("C1001", "pin", f"{n:04d}") for n in range(20) for d in (one, two)
        ]
        results = await asyncio.gather(*guesses)
    finally:
        await one.close()
        await two.close()
    assert results.count(VerifyStatus.WRONG) == 5
    assert results.count(VerifyStatus.LOCKED) == 35


async def test_lockout_is_off_only_when_asked(tmp_path: Path) -> None:
    directory = await SqliteDirectory.open(tmp_path / "d.db", lockout=False)
    try:
        await directory.upsert_customers([ALICE])
        await fail(directory, 10)
        assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
        assert directory.lockout_state is None
    finally:
        await directory.close()
