from __future__ import annotations

from pathlib import Path

import pytest

from ivr.directory.factory import open_directory
from ivr.directory.http_directory import HttpDirectory
from ivr.directory.lockout import LockingDirectory, LockoutPolicy
from ivr.directory.port import DirectoryError, LookupStatus, VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory

from .conftest import ALICE, FakeClock
from .remote import TOKEN, RemoteDirectory


async def seeded(path: Path) -> None:
    directory = await SqliteDirectory.open(path)
    await directory.upsert_customers([ALICE])
    await directory.close()


@pytest.mark.parametrize("form", ["{path}", "sqlite:///{path}"])
async def test_sqlite_paths(tmp_path: Path, form: str) -> None:
    db = tmp_path / "d.db"  # absolute, so sqlite:/// + /abs gives sqlite:////abs
    await seeded(db)
    directory = await open_directory(form.format(path=db))
    try:
        assert isinstance(directory, SqliteDirectory)
        assert (await directory.lookup_by_account("12345678")).status is LookupStatus.FOUND
    finally:
        await directory.close()


async def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    await seeded(tmp_path / "rel.db")
    directory = await open_directory("sqlite:///rel.db")
    try:
        assert (await directory.lookup_by_account("12345678")).status is LookupStatus.FOUND
    finally:
        await directory.close()


async def test_sqlite_directory_locks_out(tmp_path: Path) -> None:
    await seeded(tmp_path / "d.db")
    directory = await open_directory(
        str(tmp_path / "d.db"), policy=LockoutPolicy(max_failures=1), clock=FakeClock()
    )
    try:
        assert await directory.verify_answer("C1001", "pin", "0") is VerifyStatus.WRONG
        assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    finally:
        await directory.close()


async def test_http_directory_is_wrapped_with_lockout(
    remote: tuple[RemoteDirectory, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = await open_directory(
        remote[1],
        token=TOKEN,
        lockout_db=tmp_path / "state" / "lockout.db",
        policy=LockoutPolicy(max_failures=1),
        timeout_s=0.5,
    )
    try:
        assert isinstance(directory, LockingDirectory)
        assert isinstance(directory.inner, HttpDirectory)
        assert directory.inner.timeout_s == 0.5
        assert (await directory.lookup_by_phone("+447700900123")).status is LookupStatus.FOUND
        assert await directory.verify_answer("C1001", "pin", "0") is VerifyStatus.WRONG
        assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.LOCKED
    finally:
        await directory.close()
    assert (tmp_path / "state" / "lockout.db").exists()


@pytest.mark.parametrize("url", ["ftp://example.com/customers", "postgres://db/x", ""])
async def test_unsupported_urls(url: str) -> None:
    with pytest.raises(DirectoryError):
        await open_directory(url)


async def test_empty_sqlite_directory_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = await open_directory(str(tmp_path / "typo.db"))
    await directory.close()
    assert any("holds no customers" in r.getMessage() for r in caplog.records)
