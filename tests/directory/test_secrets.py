"""Rule 4: an answer never reaches an error message or a log record."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ivr.directory.http_directory import HttpDirectory
from ivr.directory.sqlite_store import SqliteDirectory

from .remote import TOKEN, RemoteDirectory

SECRET = "97531864"  # used as the answer everywhere below; no other value contains it


def texts_of(exc: BaseException) -> str:
    parts = [str(exc), repr(exc)]
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        parts += [str(exc), repr(exc)]
    return "\n".join(parts)


@pytest.mark.parametrize("mode", ["echo", "fail", "malformed", "hang"])
async def test_http_errors_never_contain_the_answer(
    remote: tuple[RemoteDirectory, str], caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    remote[0].mode = mode
    directory = await HttpDirectory.open(remote[1], TOKEN, timeout_s=0.2)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(Exception) as raised:
            await directory.verify_answer("C1001", "pin", SECRET)
    finally:
        await directory.close()
    assert SECRET not in texts_of(raised.value)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_sqlite_errors_never_contain_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = await SqliteDirectory.open(tmp_path / "d.db")
    await directory.close()
    with pytest.raises(Exception) as raised:
        await directory.verify_answer("C1001", "pin", SECRET)
    with pytest.raises(Exception) as unknown_field:
        await directory.verify_answer("C1001", "favourite_colour", SECRET)
    for exc in (raised.value, unknown_field.value):
        assert SECRET not in texts_of(exc)
    assert all(SECRET not in record.getMessage() for record in caplog.records)
