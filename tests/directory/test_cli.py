from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.directory.port import LookupStatus, VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory

from .conftest import DEMO_CSV, REPO


def test_import_demo_and_reimport(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "var" / "demo.db"  # the parent directory is created
    assert main(["customers", "import", str(DEMO_CSV), "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "imported 6 customers (6 new, 0 updated)"
    assert main(["customers", "import", str(DEMO_CSV), "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "imported 6 customers (0 new, 6 updated)"


async def test_imported_demo_is_usable(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    # main() runs its own event loop, so it goes to a thread from inside this async test.
    assert (
        await asyncio.to_thread(main, ["customers", "import", str(DEMO_CSV), "--db", str(db)]) == 0
    )
    directory = await SqliteDirectory.open(db)
    try:
        alice = await directory.lookup_by_phone("+447700900123")
        assert alice.customer is not None
        assert alice.customer.customer_id == "C1001"
        assert (await directory.lookup_by_phone("+447700900789")).status is LookupStatus.MANY
        dob = await directory.verify_answer("C1001", "date_of_birth", "01021980")
        assert dob is VerifyStatus.VERIFIED
        assert await directory.verify_answer("C1005", "pin", "1234") == "not_enrolled"
    finally:
        await directory.close()


def test_bad_file_reports_all_rows_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "customer_id,name,phones,account_number,date_of_birth,pin\n"
        "C1,Ann,+447700900123,12345678,,86420\n"
        "C2,Bob,xyz,23456789,,\n"
        "C3,Cy,,34567890,,86x420\n"
    )
    db = tmp_path / "d.db"
    assert main(["customers", "import", str(csv), "--db", str(db)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{csv}:3: phones: 'xyz' is not a valid phone number" in captured.err
    assert f"{csv}:4: pin: must be digits only" in captured.err
    assert "nothing imported (2 error(s))" in captured.err
    assert "86x420" not in captured.err
    assert main(["customers", "import", str(DEMO_CSV), "--db", str(db)]) == 0
    assert "(6 new, 0 updated)" in capsys.readouterr().out  # the bad file left nothing


def test_national_numbers_use_the_region_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "fr.csv"
    csv.write_text(
        "customer_id,name,phones,account_number,date_of_birth,pin\nF1,Zoe,0612345678,1234,,\n"
    )
    db = tmp_path / "d.db"
    assert main(["customers", "import", str(csv), "--db", str(db), "--region", "FR"]) == 0
    us = tmp_path / "us.csv"  # a US number written without +1 is not filed under the UK
    us.write_text("customer_id,name,phones,account_number\nU1,Al,2125551234,5678\n")
    assert main(["customers", "import", str(us), "--db", str(db)]) == 1
    assert "'2125551234' is not a valid GB number" in capsys.readouterr().err
    assert main(["customers", "import", str(us), "--db", str(db), "--region", "US"]) == 0


def test_unwritable_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "is-a-directory"
    db.mkdir()
    assert main(["customers", "import", str(DEMO_CSV), "--db", str(db)]) == 1
    assert "directory database error" in capsys.readouterr().err


def test_installed_command_runs(tmp_path: Path) -> None:
    ivr = Path(sys.executable).parent / "ivr"
    if not ivr.exists():
        ivr = REPO / ".venv" / "bin" / "ivr"
    env = {**os.environ, "IVR_SECRET_KEY": "subprocess-key"}
    db = tmp_path / "demo.db"
    done = subprocess.run(
        [str(ivr), "customers", "import", str(DEMO_CSV), "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 6 customers (6 new, 0 updated)"
    assert "IVR_SECRET_KEY is not set" not in done.stderr


async def test_unlock_lets_a_locked_customer_verify_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    command = ["customers", "import", str(DEMO_CSV), "--db", str(db)]
    assert await asyncio.to_thread(main, command) == 0
    directory = await SqliteDirectory.open(db)
    try:
        for _ in range(5):
            await directory.verify_answer("C1001", "date_of_birth", "00000000")
        assert await directory.verify_answer("C1001", "date_of_birth", "01021980") == "locked"
    finally:
        await directory.close()
    capsys.readouterr()
    unlock = ["customers", "unlock", "C1001", "--db", str(db)]
    assert await asyncio.to_thread(main, unlock) == 0
    assert "unlocked C1001 (5 recent failed verification(s) cleared)" in capsys.readouterr().out
    directory = await SqliteDirectory.open(db)
    try:
        assert await directory.verify_answer("C1001", "date_of_birth", "01021980") == "verified"
    finally:
        await directory.close()


def test_unlock_of_a_missing_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["customers", "unlock", "C1001", "--db", str(tmp_path / "none.db")]) == 1
    assert "no such directory file" in capsys.readouterr().err
