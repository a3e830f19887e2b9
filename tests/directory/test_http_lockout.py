"""LockingDirectory in front of a real HTTP directory on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.directory.http_directory import HttpDirectory
from ivr.directory.lockout import LockingDirectory, LockoutPolicy, LockoutState
from ivr.directory.port import DirectoryError, LookupStatus, VerifyStatus

from .conftest import FakeClock
from .remote import TOKEN, RemoteDirectory


@pytest.fixture
async def locking(
    remote: tuple[RemoteDirectory, str], tmp_path: Path, clock: FakeClock
) -> AsyncIterator[LockingDirectory]:
    inner = await HttpDirectory.open(remote[1], TOKEN, timeout_s=1.0)
    state = await LockoutState.open(tmp_path / "lockout.db")
    wrapped = LockingDirectory(inner, state, LockoutPolicy(max_failures=3, window_s=600), clock)
    yield wrapped
    await wrapped.close()


def verify_calls(remote: RemoteDirectory) -> int:
    return sum(1 for method, _ in remote.requests if method == "POST")


async def test_locked_customers_are_not_sent_to_the_service(
    locking: LockingDirectory, remote: tuple[RemoteDirectory, str]
) -> None:
    for _ in range(3):
        assert await locking.verify_answer("C1001", "pin", "0000") is VerifyStatus.WRONG
    assert await locking.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    assert verify_calls(remote[0]) == 3


async def test_success_resets_and_window_slides(
    locking: LockingDirectory, clock: FakeClock
) -> None:
    for _ in range(2):
        await locking.verify_answer("C1001", "pin", "0000")
    assert await locking.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
    for _ in range(3):
        await locking.verify_answer("C1001", "pin", "0000")
    assert await locking.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    clock.advance(601)
    assert await locking.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED


async def test_errors_remote_locks_and_not_enrolled_do_not_count(
    locking: LockingDirectory, remote: tuple[RemoteDirectory, str], clock: FakeClock
) -> None:
    server = remote[0]
    server.mode = "fail"
    for _ in range(4):
        with pytest.raises(DirectoryError):
            await locking.verify_answer("C1001", "pin", "0000")
    server.mode = "normal"
    server.scripted_results = ["locked"] * 4
    for _ in range(4):
        assert await locking.verify_answer("C1001", "pin", "0000") is VerifyStatus.LOCKED
    for _ in range(4):
        status = await locking.verify_answer("C1001", "mothers_name", "x")
        assert status is VerifyStatus.NOT_ENROLLED
    assert await locking.state.failure_count("C1001", clock(), locking.policy) == 0
    assert await locking.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED


async def test_lock_persists_across_restart(
    remote: tuple[RemoteDirectory, str], tmp_path: Path, clock: FakeClock
) -> None:
    policy = LockoutPolicy(max_failures=2)
    for expected in (VerifyStatus.WRONG, VerifyStatus.WRONG, VerifyStatus.LOCKED):
        inner = await HttpDirectory.open(remote[1], TOKEN)
        state = await LockoutState.open(tmp_path / "lockout.db")
        wrapped = LockingDirectory(inner, state, policy, clock)
        try:
            assert await wrapped.verify_answer("C1001", "pin", "0000") is expected
        finally:
            await wrapped.close()


async def test_unlock_clears_a_lock(locking: LockingDirectory) -> None:
    for _ in range(3):
        await locking.verify_answer("C1001", "pin", "0000")
    await locking.state.unlock("C1001")
    assert await locking.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED


async def test_lookups_pass_through(locking: LockingDirectory) -> None:
    assert (await locking.lookup_by_phone("+447700900789")).status is LookupStatus.MANY
    assert (await locking.lookup_by_account("12345678")).status is LookupStatus.FOUND
