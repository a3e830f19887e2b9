from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from ivr.directory.port import Customer, DirectoryError, LookupStatus, VerifyStatus
from ivr.directory.sqlite_store import CustomerRecord, RecordConflict, SqliteDirectory

from .conftest import ALICE, FakeClock


def read_all(folder: Path, pattern: str) -> bytes:
    return b"".join(f.read_bytes() for f in folder.glob(pattern))


async def test_lookup_by_phone_found_many_not_found(directory: SqliteDirectory) -> None:
    found = await directory.lookup_by_phone("+447700900123")
    assert found.status is LookupStatus.FOUND
    assert found.customer == Customer("C1001", "Alice Example")
    many = await directory.lookup_by_phone("+447700900789")
    assert many.status is LookupStatus.MANY
    assert many.customer is None
    assert (await directory.lookup_by_phone("+447700900000")).status is LookupStatus.NOT_FOUND


async def test_lookup_by_phone_normalises_and_skips_withheld(directory: SqliteDirectory) -> None:
    assert (await directory.lookup_by_phone("07700 900123")).status is LookupStatus.FOUND
    for raw in ("anonymous", "", "client:alice", "sip:+447700900123@x"):
        assert (await directory.lookup_by_phone(raw)).status is LookupStatus.NOT_FOUND


async def test_lookup_by_account(directory: SqliteDirectory) -> None:
    found = await directory.lookup_by_account("12345678")
    assert found.customer == Customer("C1001", "Alice Example")
    assert (await directory.lookup_by_account(" 1234 5678 ")).status is LookupStatus.FOUND
    assert (await directory.lookup_by_account("99999999")).status is LookupStatus.NOT_FOUND
    assert (await directory.lookup_by_account("")).status is LookupStatus.NOT_FOUND


async def test_verify_answer_outcomes(directory: SqliteDirectory) -> None:
    assert await directory.verify_answer("C1001", "date_of_birth", "01021980") == "verified"
    assert await directory.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
    assert await directory.verify_answer("C1001", "pin", "4322") is VerifyStatus.WRONG
    assert await directory.verify_answer("C1003", "date_of_birth", "x") is VerifyStatus.NOT_ENROLLED
    assert await directory.verify_answer("C1005", "pin", "1234") is VerifyStatus.NOT_ENROLLED
    assert await directory.verify_answer("NOBODY", "pin", "1234") is VerifyStatus.NOT_ENROLLED


async def test_answers_of_one_customer_do_not_verify_another(directory: SqliteDirectory) -> None:
    assert await directory.verify_answer("C1004", "pin", "4321") is VerifyStatus.WRONG


async def test_unknown_field_is_a_directory_error(directory: SqliteDirectory) -> None:
    with pytest.raises(DirectoryError, match="unknown verification field"):
        await directory.verify_answer("C1001", "mothers_maiden_name", "Smith")


async def test_answers_are_stored_only_as_hashes(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "d.db"
    directory = await SqliteDirectory.open(db, clock=clock)
    await directory.upsert_customers([ALICE])
    await directory.close()
    content = read_all(tmp_path, "d.db*")
    assert b"01021980" not in content
    assert b"4321" not in content
    with sqlite3.connect(db) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        hashes = [h for (h,) in conn.execute("SELECT hash FROM secrets")]
    assert mode == "wal"
    assert len(hashes) == 2
    assert all(len(h) == 64 for h in hashes)


async def test_upsert_replaces_phones_and_answers(directory: SqliteDirectory) -> None:
    moved = CustomerRecord("C1001", "Alice Moved", ("+447700900555",), "12345678", {"pin": "8888"})
    result = await directory.upsert_customers([moved])
    assert (result.new, result.updated) == (0, 1)
    assert (await directory.lookup_by_phone("+447700900123")).status is LookupStatus.NOT_FOUND
    found = await directory.lookup_by_phone("+447700900555")
    assert found.customer == Customer("C1001", "Alice Moved")
    assert await directory.verify_answer("C1001", "pin", "8888") is VerifyStatus.VERIFIED
    dob = await directory.verify_answer("C1001", "date_of_birth", "01021980")
    assert dob is VerifyStatus.NOT_ENROLLED


async def test_customers_in_one_batch_may_swap_account_numbers(
    directory: SqliteDirectory,
) -> None:
    carol = CustomerRecord("C1003", "Carol Shared", (), "45678901")
    dan = CustomerRecord("C1004", "Dan Shared", (), "34567890")
    await directory.upsert_customers([carol, dan])
    found = await directory.lookup_by_account("45678901")
    assert found.customer is not None
    assert found.customer.customer_id == "C1003"


async def test_account_conflict_with_stored_customer_stores_nothing(
    directory: SqliteDirectory,
) -> None:
    newcomer = CustomerRecord("C2000", "New", ("+447700900111",), "12345678", line=7)
    with pytest.raises(RecordConflict) as raised:
        await directory.upsert_customers([newcomer])
    assert raised.value.problems == [(7, "account_number", "already belongs to customer C1001")]
    assert (await directory.lookup_by_phone("+447700900111")).status is LookupStatus.NOT_FOUND
    assert await directory.count_customers() == 4


async def test_directory_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    first = await SqliteDirectory.open(tmp_path / "d.db", clock=clock)
    await first.upsert_customers([ALICE])
    await first.close()
    second = await SqliteDirectory.open(f"{tmp_path}/d.db", clock=clock)
    try:
        assert await second.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
    finally:
        await second.close()


async def test_unopenable_file_is_a_directory_error(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="opening the database"):
        await SqliteDirectory.open(tmp_path / "missing-dir" / "d.db")


async def test_corrupt_file_is_a_directory_error(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    db.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(DirectoryError):
        await SqliteDirectory.open(db)


async def test_closed_directory_raises_directory_error(directory: SqliteDirectory) -> None:
    await directory.close()
    with pytest.raises(DirectoryError):
        await directory.lookup_by_phone("+447700900123")
    with pytest.raises(DirectoryError):
        await directory.verify_answer("C1001", "pin", "4321")
    await directory.close()  # closing twice is harmless


async def test_changed_secret_key_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await SqliteDirectory.open(tmp_path / "d.db", answer_key=b"the-first-key")
    await first.upsert_customers([ALICE])
    await first.close()
    with caplog.at_level(logging.ERROR):
        second = await SqliteDirectory.open(tmp_path / "d.db", answer_key=b"a-different-key")
    await second.close()
    assert any("different IVR_SECRET_KEY" in r.getMessage() for r in caplog.records)


async def test_upsert_normalises_phones_and_rejects_non_numbers(
    directory: SqliteDirectory,
) -> None:
    spelled = CustomerRecord("C2001", "Spelled", ("07700 900222",), "20012001")
    await directory.upsert_customers([spelled])
    assert (await directory.lookup_by_phone("+447700900222")).status is LookupStatus.FOUND
    withheld = CustomerRecord("C2002", "Withheld", ("anonymous",), "20022002", line=3)
    with pytest.raises(RecordConflict) as raised:
        await directory.upsert_customers([withheld])
    assert raised.value.problems == [(3, "phones", "'anonymous' is not a valid phone number")]
    assert (await directory.lookup_by_account("20022002")).status is LookupStatus.NOT_FOUND
