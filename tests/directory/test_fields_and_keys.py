"""Issue 13: declared fields, partial answers, keys that rotate, `locked` known at lookup."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.directory.hashing import KeyRing, hash_answer, key_id
from ivr.directory.http_directory import HttpDirectory
from ivr.directory.lockout import LockoutPolicy
from ivr.directory.port import DirectoryError, VerifyStatus
from ivr.directory.sqlite_store import CustomerRecord, KeyMismatch, SqliteDirectory
from ivr.fields import BUILTIN_FIELDS, FieldError, FieldSpec, parse_fields

from .conftest import ALICE, FakeClock
from .remote import TOKEN, RemoteDirectory

SECURITY = FieldSpec.model_validate(
    {
        "name": "security_number",
        "label": "Security number",
        "digits": 8,
        "kind": "partial",
        "ask": 2,
    }
)
FIELDS = {**BUILTIN_FIELDS, "security_number": SECURITY}
ZOE = CustomerRecord(
    "C7", "Zoe", (), "77777777", {"security_number": "73920461", "date_of_birth": "01021980"}
)


def test_partial_fields_need_an_exact_length_and_fewer_positions_than_digits() -> None:
    for body, message in (
        ({"label": "x", "digits": {"min": 6, "max": 8}, "kind": "partial", "ask": 2}, "exact"),
        ({"label": "x", "digits": 6, "kind": "partial"}, "needs 'ask'"),
        ({"label": "x", "digits": 6, "kind": "partial", "ask": 6}, "fewer than all"),
        ({"label": "x", "digits": 6, "ask": 2}, "partial fields only"),
        ({"label": "x", "digits": 20, "kind": "partial", "ask": 8}, "combinations"),
    ):
        with pytest.raises(FieldError, match=message):
            parse_fields({"fields": {"f": body}}, "directory.yaml")
    with pytest.raises(FieldError, match="customer column"):
        parse_fields({"fields": {"phones": {"label": "x", "digits": 4}}}, "directory.yaml")


async def test_partial_answer_verifies_the_digits_at_the_positions(tmp_path: Path) -> None:
    directory = await SqliteDirectory.open(tmp_path / "d.db", lockout=False)
    try:
        await directory.upsert_customers([ZOE], FIELDS)
        assert await directory.verify_answer("C7", "security_number", "30", [2, 5]) == "verified"
        assert await directory.verify_answer("C7", "security_number", "71", [1, 8]) == "verified"
        assert await directory.verify_answer("C7", "security_number", "03", [2, 5]) == "wrong"
        with pytest.raises(DirectoryError, match="2 of 8 positions"):
            await directory.verify_answer("C7", "security_number", "739", [1, 2, 3])
        with pytest.raises(DirectoryError, match="2 of 8 positions"):
            await directory.verify_answer("C7", "security_number", "7", [9, 1])
        with pytest.raises(DirectoryError, match="full answer"):
            await directory.verify_answer("C7", "date_of_birth", "01", [1, 2])
        assert set(await directory.fields()) == set(FIELDS)
    finally:
        await directory.close()
    with sqlite3.connect(tmp_path / "d.db") as conn:
        rows = conn.execute(
            "SELECT positions, hash FROM secrets WHERE field = 'security_number'"
        ).fetchall()
    assert len(rows) == 28  # one keyed hash per pair of positions, none of a single digit
    assert all("7392" not in h for _, h in rows)


async def test_fields_are_learnt_from_the_import_and_survive_reopening(tmp_path: Path) -> None:
    directory = await SqliteDirectory.open(tmp_path / "d.db", lockout=False)
    await directory.upsert_customers([ZOE], FIELDS)
    await directory.close()
    again = await SqliteDirectory.open(tmp_path / "d.db", lockout=False)
    try:
        assert (await again.fields())["security_number"] == SECURITY
        with pytest.raises(DirectoryError, match="unknown verification field 'date_of_brith'"):
            await again.verify_answer("C7", "date_of_brith", "01021980")
    finally:
        await again.close()


async def test_rotation_restores_answers_under_the_new_key(tmp_path: Path) -> None:
    old = KeyRing.of("old-key")
    directory = await SqliteDirectory.open(tmp_path / "d.db", keys=old, lockout=False)
    await directory.upsert_customers([ALICE, ZOE], FIELDS)
    await directory.close()
    rotated = KeyRing.of("new-key", "old-key")
    directory = await SqliteDirectory.open(tmp_path / "d.db", keys=rotated, lockout=False)
    try:
        assert await directory.key_usage() == {key_id(b"old-key"): 4}
        assert await directory.verify_answer("C1001", "pin", "4321") == "verified"
        assert await directory.verify_answer("C7", "security_number", "30", [2, 5]) == "verified"
        usage = await directory.key_usage()
        assert usage[key_id(b"new-key")] == 2  # Alice's pin, one of Zoe's combinations
        assert usage[key_id(b"old-key")] == 3  # Alice's date of birth, Zoe's other ones
        # a wrong answer under the old key stays where it is
        assert await directory.verify_answer("C1001", "date_of_birth", "02021980") == "wrong"
    finally:
        await directory.close()
    # the re-stored answer now verifies with the new key alone
    alone = await SqliteDirectory.open(tmp_path / "d.db", keys=KeyRing.of("new-key"))
    try:
        assert await alone.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
        with pytest.raises(DirectoryError, match="not configured"):
            await alone.verify_answer("C1001", "date_of_birth", "01021980")
        await alone.check_keys()  # some answers match: serving is allowed
    finally:
        await alone.close()


async def test_a_directory_no_configured_key_made_refuses_check_keys(tmp_path: Path) -> None:
    directory = await SqliteDirectory.open(tmp_path / "d.db", keys=KeyRing.of("a"))
    await directory.upsert_customers([ALICE])
    await directory.close()
    other = await SqliteDirectory.open(tmp_path / "d.db", keys=KeyRing.of("b"))
    try:
        with pytest.raises(KeyMismatch, match="no configured key"):
            await other.check_keys()
        # an unknown key is the directory's fault, not the caller's: an error, never "wrong",
        # so it never counts towards the caller's lockout
        with pytest.raises(DirectoryError):
            await other.verify_answer("C1001", "pin", "4321")
        assert other.lockout_state is not None
        assert await other.lockout_state.failure_count("C1001", 2e9, LockoutPolicy()) == 0
    finally:
        await other.close()


async def test_a_first_schema_directory_is_migrated_with_its_key(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    key = b"legacy-key"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "account_number TEXT UNIQUE);"
            "CREATE TABLE answers (customer_id TEXT, field TEXT, hash TEXT);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        )
        conn.execute("INSERT INTO customers VALUES ('C1', 'Ann', '1234')")
        conn.execute(
            "INSERT INTO answers VALUES ('C1', 'pin', ?)", (hash_answer("pin", "C1", "4321", key),)
        )
        conn.execute(
            "INSERT INTO meta VALUES ('key_check', ?)",
            (hash_answer("meta", "", "key_check", key),),
        )
    directory = await SqliteDirectory.open(db, keys=KeyRing.of("new", key))
    try:
        assert await directory.key_usage() == {key_id(key): 1}
        assert await directory.verify_answer("C1", "pin", "4321") == "verified"
        assert await directory.key_usage() == {key_id(b"new"): 1}
    finally:
        await directory.close()


async def test_lookup_says_a_customer_is_locked(tmp_path: Path, clock: FakeClock) -> None:
    policy = LockoutPolicy(max_failures=2, window_s=3600)
    directory = await SqliteDirectory.open(tmp_path / "d.db", policy=policy, clock=clock)
    try:
        await directory.upsert_customers([ALICE])
        found = await directory.lookup_by_account("12345678")
        assert found.customer is not None
        assert not found.customer.locked
        for _ in range(2):
            await directory.verify_answer("C1001", "pin", "0000")
        found = await directory.lookup_by_phone("+447700900123")
        assert found.customer is not None
        assert found.customer.locked
    finally:
        await directory.close()


def test_key_status_counts_answers_per_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(
        "customer_id,name,phones,account_number,pin\nC1,Ann,,1234,4321\nC2,Bo,,2345,1111\n"
    )
    db = tmp_path / "d.db"
    monkeypatch.setenv("IVR_SECRET_KEY", "first")
    assert main(["customers", "import", str(csv), "--db", str(db)]) == 0
    monkeypatch.setenv("IVR_SECRET_KEY", "second,first")
    capsys.readouterr()
    assert main(["customers", "key-status", "--db", str(db)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"key {key_id(b'second')} (current): 0 answer(s)",
        f"key {key_id(b'first')} (older): 2 answer(s)",
    ]
    monkeypatch.setenv("IVR_SECRET_KEY", "third")
    assert main(["customers", "key-status", "--db", str(db)]) == 0
    assert f"key {key_id(b'first')} (NOT CONFIGURED): 2" in capsys.readouterr().out


def test_fields_command_lists_the_declared_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["customers", "fields"]) == 0
    out = capsys.readouterr().out
    assert "security_number: Security number, 8 digits, 2 of 8 digits asked" in out
    assert "pin: Telephone PIN, 4 to 8 digits, full" in out


async def test_http_directory_lists_fields_and_sends_positions(
    remote: tuple[RemoteDirectory, str],
) -> None:
    server, url = remote
    directory = await HttpDirectory.open(url, TOKEN)
    try:
        fields = await directory.fields()
        assert fields["security_number"].ask == 2
        assert await directory.verify_answer("C1001", "security_number", "30", [2, 5]) == "verified"
        assert await directory.verify_answer("C1001", "security_number", "99", [2, 5]) == "wrong"
        server.fields = [{"name": "x"}]
        with pytest.raises(DirectoryError, match="malformed field"):
            await directory.fields()
    finally:
        await directory.close()
