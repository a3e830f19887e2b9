from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ivr.directory.csv_import import ImportFailed, import_file, read_customers
from ivr.directory.port import LookupStatus, VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.fields import BUILTIN_FIELDS, FieldSpec

from .conftest import DEMO_CSV

HEADER = "customer_id,name,phones,account_number,date_of_birth,pin\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ImportFailed) as raised:
        read_customers(path, today=date(2025, 1, 1))
    return [str(e) for e in raised.value.errors]


def test_demo_file_parses() -> None:
    records = read_customers(DEMO_CSV)
    ids = [r.customer_id for r in records]
    assert ids == ["C1001", "C1002", "C1003", "C1004", "C1005", "C1006"]
    assert records[1].phones == ("+447700900456", "+441134960123")
    assert records[4].answers == {}
    assert records[2].answers.keys() == {"date_of_birth"}


def test_phones_are_normalised_and_deduplicated(tmp_path: Path) -> None:
    path = write(tmp_path, "C1,Ann,07400 900123; +44 7400 900123;0044 113 496 0000;,1234,,\n")
    (record,) = read_customers(path)
    assert record.phones == ("+447400900123", "+441134960000")


def test_issue_13_numbers_are_read_by_libphonenumber_in_the_region(tmp_path: Path) -> None:
    # The hand-written normaliser kept the trunk zero (+4407700900123) and read a US number
    # as Moroccan (+2125551234).
    path = write(tmp_path, "C1,Ann,+44 07700 900123,1234,,\n")
    assert read_customers(path)[0].phones == ("+447700900123",)
    us = write(tmp_path, "C1,Ann,2125551234,1234,,\n")
    assert errors_of(us) == [
        f"{us}:2: phones: '2125551234' is not a valid GB number; write a number of another "
        "country with its country code (+1..., +33...)"
    ]
    assert read_customers(us, region="US")[0].phones == ("+12125551234",)
    short = write(tmp_path, "C1,Ann,+44 77,1234,,\n")
    assert errors_of(short) == [
        f"{short}:2: phones: '+44 77' has the wrong number of digits for a phone number"
    ]


def test_every_bad_row_is_reported_with_file_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "C1,Ann,+447700900123,12345678,01021980,4321\n"
        "C2,Bob,not-a-phone,23456789,31021980,12\n"
        "\n"
        "C1,,+447700900124,12345678,1021980,12345\n"
        "C4,Dee,anonymous,4567890x,,\n",
    )
    assert errors_of(path) == [
        f"{path}:3: phones: 'not-a-phone' is not a valid phone number",
        f"{path}:3: date_of_birth: not a real date (expected DDMMYYYY)",
        f"{path}:3: pin: must be 4 to 8 digits (a spreadsheet may have dropped a leading zero)",
        f"{path}:5: name: must be 1-200 characters",
        f"{path}:5: date_of_birth: must be 8 digits "
        "(a spreadsheet may have dropped a leading zero)",
        f"{path}:5: customer_id: duplicate (first on line 2)",
        f"{path}:5: account_number: duplicate (first on line 2)",
        f"{path}:6: phones: 'anonymous' is not a valid phone number",
        f"{path}:6: account_number: must be 4-20 digits",
    ]


def test_errors_never_show_answers(tmp_path: Path) -> None:
    path = write(tmp_path, "C1,Ann,,12345678,31029999,98x7\n")
    text = "\n".join(errors_of(path))
    assert "31029999" not in text
    assert "98x7" not in text
    assert "date_of_birth" in text
    assert "pin" in text


def test_future_and_ancient_dates_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "C1,Ann,,12345678,01012030,\nC2,Bob,,23456789,01011850,\n")
    assert len(errors_of(path)) == 2


def test_line_numbers_follow_multiline_quoted_cells(tmp_path: Path) -> None:
    path = write(tmp_path, 'C1,"Ann\nSecond line",,12345678,,\nC2,Bob,,1,,\n')
    assert errors_of(path) == [f"{path}:4: account_number: must be 4-20 digits"]


def test_wrong_field_count_and_header(tmp_path: Path) -> None:
    path = write(tmp_path, "C1,Ann,,12345678,\n")
    assert errors_of(path) == [f"{path}:2: row: expected 6 fields, found 5"]
    bad_header = write(tmp_path, "C1,Ann,,12345678,,\n", header="id,name,phones\n")
    assert errors_of(bad_header) == [
        f"{bad_header}:1: header: missing column(s) customer_id, account_number; "
        "expected customer_id,name,phones,account_number"
    ]
    typo = write(
        tmp_path, "C1,Ann,,12345678,\n", header="customer_id,name,phones,account_number,pim\n"
    )
    assert errors_of(typo) == [
        f"{typo}:1: header: column 'pim' is not a customer column nor a field of "
        "config/directory.yaml (did you mean 'pin'?); fields: date_of_birth, pin, "
        "security_number, card_last_four"
    ]


def test_declared_fields_decide_the_secret_columns(tmp_path: Path) -> None:
    fields = {
        "pin": BUILTIN_FIELDS["pin"],
        "security_number": FieldSpec.model_validate(
            {"name": "security_number", "label": "S", "digits": 6, "kind": "partial", "ask": 2}
        ),
    }
    path = write(
        tmp_path,
        "C1,Ann,,12345678,4321,739204\nC2,Bob,,23456789,,12345\n",
        header="customer_id,name,phones,account_number,pin,security_number\n",
    )
    with pytest.raises(ImportFailed) as failed:
        read_customers(path, fields=fields)
    assert [str(e) for e in failed.value.errors] == [
        f"{path}:3: security_number: must be 6 digits "
        "(a spreadsheet may have dropped a leading zero)"
    ]
    ok = write(
        tmp_path,
        "C1,Ann,,12345678,4321,739204\n",
        header="customer_id,name,phones,account_number,pin,security_number\n",
    )
    (record,) = read_customers(ok, fields=fields)
    assert record.answers == {"pin": "4321", "security_number": "739204"}


def test_columns_may_come_in_any_order_and_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "\ufeffpin,customer_id,name,phones,account_number,date_of_birth\n"
        "4321,C1,Ann,+447700900123,12345678,01021980\n",
        encoding="utf-8",
    )
    (record,) = read_customers(path)
    assert record.answers == {"pin": "4321", "date_of_birth": "01021980"}


def test_missing_or_empty_file(tmp_path: Path) -> None:
    assert "cannot read" in errors_of(tmp_path / "nope.csv")[0]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert errors_of(empty) == [f"{empty}:1: header: file is empty"]


async def test_import_then_reimport_updates(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    first = await import_file(DEMO_CSV, db)
    assert (first.new, first.updated) == (6, 0)
    path = write(tmp_path, "C1001,Alice Renamed,+447700900321,12345678,,2468\nC9,New,,99990000,,\n")
    second = await import_file(path, db)
    assert (second.new, second.updated) == (1, 1)
    directory = await SqliteDirectory.open(db)
    try:
        found = await directory.lookup_by_phone("+447700900321")
        assert found.customer is not None
        assert found.customer.name == "Alice Renamed"
        gone = await directory.lookup_by_phone("+447700900123")
        assert gone.status is LookupStatus.NOT_FOUND
        assert await directory.verify_answer("C1001", "pin", "2468") is VerifyStatus.VERIFIED
        dob = await directory.verify_answer("C1001", "date_of_birth", "01021980")
        assert dob is VerifyStatus.NOT_ENROLLED
        assert await directory.count_customers() == 7
    finally:
        await directory.close()


async def test_a_bad_file_imports_nothing(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    path = write(tmp_path, "C1,Ann,+447700900123,12345678,,\nC2,Bob,,23456789,,1\n")
    with pytest.raises(ImportFailed):
        await import_file(path, db)
    directory = await SqliteDirectory.open(db)
    try:
        assert await directory.count_customers() == 0
    finally:
        await directory.close()


async def test_account_taken_by_a_stored_customer_is_a_row_error(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    await import_file(DEMO_CSV, db)
    path = write(tmp_path, "C9,Ann,+447700900111,23456789,,\n")
    with pytest.raises(ImportFailed) as raised:
        await import_file(path, db)
    assert [str(e) for e in raised.value.errors] == [
        f"{path}:2: account_number: already belongs to customer C1002"
    ]
