"""Load customers from a CSV file into the embedded directory, all or nothing.

Business users export customers from spreadsheets, so the importer must say precisely what
is wrong (`FILE:LINE: column: message`, every bad row in one pass) and must never half-import
a file. Error messages never repeat a date of birth or PIN: import output ends up in tickets.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from ivr.directory.phone import DEFAULT_COUNTRY_CODE, normalise_phone
from ivr.directory.sqlite_store import (
    CustomerRecord,
    RecordConflict,
    SqliteDirectory,
    UpsertResult,
)

COLUMNS = ("customer_id", "name", "phones", "account_number", "date_of_birth", "pin")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_ACCOUNT = re.compile(r"^[0-9]{4,20}$")
_DOB = re.compile(r"^[0-9]{8}$")
_PIN = re.compile(r"^[0-9]{4,8}$")


@dataclass(frozen=True, slots=True)
class RowError:
    path: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.column}: {self.message}"


class ImportFailed(Exception):
    """The file was not imported; `errors` lists every problem found."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def _check_dob(value: str, today: date) -> str | None:
    if not _DOB.match(value):
        return "must be 8 digits DDMMYYYY (a spreadsheet may have dropped a leading zero)"
    try:
        born = datetime.strptime(value, "%d%m%Y").date()
    except ValueError:
        return "not a real date (expected DDMMYYYY)"
    if born > today or born.year < 1900:
        return "not a plausible date of birth"
    return None


def _parse_row(
    cells: dict[str, str], line: int, country_code: str, today: date
) -> tuple[CustomerRecord | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    customer_id = cells["customer_id"]
    if not _CUSTOMER_ID.match(customer_id):
        problems.append(("customer_id", "must be 1-64 letters, digits, '_', '.' or '-'"))
    name = cells["name"]
    if not name or len(name) > 200:
        problems.append(("name", "must be 1-200 characters"))
    phones: list[str] = []
    for part in (p.strip() for p in cells["phones"].split(";")):
        if not part:
            continue
        e164 = normalise_phone(part, country_code)
        if e164 is None:
            problems.append(("phones", f"{part!r} is not a valid phone number"))
        elif e164 not in phones:
            phones.append(e164)
    account = cells["account_number"]
    if not _ACCOUNT.match(account):
        problems.append(("account_number", "must be 4-20 digits"))
    answers: dict[str, str] = {}
    if cells["date_of_birth"]:
        problem = _check_dob(cells["date_of_birth"], today)
        if problem:
            problems.append(("date_of_birth", problem))
        answers["date_of_birth"] = cells["date_of_birth"]
    if cells["pin"]:
        if not _PIN.match(cells["pin"]):
            problems.append(("pin", "must be 4 to 8 digits"))
        answers["pin"] = cells["pin"]
    if problems:
        return None, problems
    record = CustomerRecord(customer_id, name, tuple(phones), account, answers, line)
    return record, []


def read_customers(
    path: str | Path, country_code: str = DEFAULT_COUNTRY_CODE, today: date | None = None
) -> list[CustomerRecord]:
    """Parse and validate the whole file; raise ImportFailed listing every bad row."""
    name = str(path)
    today = today or date.today()
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(_numbered_rows(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFailed([RowError(name, 0, "file", f"cannot read: {exc}")]) from None
    if not rows:
        raise ImportFailed([RowError(name, 1, "header", "file is empty")])
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    if missing or extra or len(set(header)) != len(header):
        message = f"expected columns {','.join(COLUMNS)}"
        raise ImportFailed([RowError(name, header_line, "header", message)])
    errors: list[RowError] = []
    records: list[CustomerRecord] = []
    first_seen: dict[tuple[str, str], int] = {}
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            message = f"expected {len(header)} fields, found {len(cells)}"
            errors.append(RowError(name, line, "row", message))
            continue
        values = {column: cell.strip() for column, cell in zip(header, cells, strict=True)}
        record, problems = _parse_row(values, line, country_code, today)
        for column in ("customer_id", "account_number"):
            key = (column, values[column])
            if values[column] and key in first_seen:
                problems.append((column, f"duplicate (first on line {first_seen[key]})"))
                record = None
            first_seen.setdefault(key, line)
        errors.extend(RowError(name, line, column, message) for column, message in problems)
        if record is not None:
            records.append(record)
    if errors:
        raise ImportFailed(errors)
    return records


def _numbered_rows(handle: Iterable[str]) -> list[tuple[int, list[str]]]:
    """Rows with the file line each starts on (a quoted cell may span lines); blanks skipped."""
    reader = csv.reader(handle)
    numbered: list[tuple[int, list[str]]] = []
    start = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            numbered.append((start, cells))
        start = reader.line_num + 1
    return numbered


async def import_file(
    csv_path: str | Path,
    db_path: str | Path,
    country_code: str = DEFAULT_COUNTRY_CODE,
    answer_key: bytes | None = None,
) -> UpsertResult:
    """Validate `csv_path`, then upsert it into the directory at `db_path` in one transaction.

    `answer_key` hashes the answers (`Settings.answer_key()`; None: the development key)."""
    records = read_customers(csv_path, country_code)
    directory = await SqliteDirectory.open(db_path, answer_key=answer_key)
    try:
        return await directory.upsert_customers(records)
    except RecordConflict as conflict:
        raise ImportFailed(
            [RowError(str(csv_path), line, col, msg) for line, col, msg in conflict.problems]
        ) from None
    finally:
        await directory.close()
