"""Load customers from a CSV file into the embedded directory, all or nothing.

Business users export customers from spreadsheets, so the importer must say precisely what
is wrong (`FILE:LINE: column: message`, every bad row in one pass) and must never half-import
a file. Error messages never repeat a security answer: import output ends up in tickets.
Which columns are security answers is declared in config/directory.yaml (see fields.py).
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ivr.callbacks.crypto import SecretBox
from ivr.directory.hashing import KeyRing
from ivr.directory.otp_state import normalise_secret, totp_binding
from ivr.directory.sqlite_store import (
    CustomerRecord,
    RecordConflict,
    SqliteDirectory,
    UpsertResult,
)
from ivr.fields import CUSTOMER_COLUMNS, TOTP_COLUMN, FieldSpec, load_fields
from ivr.numbers import DEFAULT_REGION, NumberProblem, checked_e164
from ivr.settings import OTP_KEYS_ENV, Settings

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_ACCOUNT = re.compile(r"^[0-9]{4,20}$")


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


def _parse_row(
    cells: dict[str, str],
    line: int,
    fields: Mapping[str, FieldSpec],
    region: str,
    today: date,
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
        try:
            e164 = checked_e164(part, region)
        except NumberProblem as refused:
            problems.append(("phones", str(refused)))
            continue
        if e164 not in phones:
            phones.append(e164)
    account = cells["account_number"]
    if not _ACCOUNT.match(account):
        problems.append(("account_number", "must be 4-20 digits"))
    answers: dict[str, str] = {}
    for field_name, spec in fields.items():
        value = cells.get(field_name, "")
        if not value:
            continue  # no answer on file for this field
        problem = spec.problem(value, today)
        if problem:
            problems.append((field_name, problem))
        answers[field_name] = value
    totp_secret = None
    if cells.get(TOTP_COLUMN):
        try:
            totp_secret = normalise_secret(cells[TOTP_COLUMN])
        except ValueError as refused:  # the message never quotes the secret
            problems.append((TOTP_COLUMN, str(refused)))
    if problems:
        return None, problems
    record = CustomerRecord(
        customer_id, name, tuple(phones), account, answers, line, totp_secret=totp_secret
    )
    return record, []


def default_fields() -> dict[str, FieldSpec]:
    """The fields of `config/directory.yaml` in the working directory (as `ivr customers
    import` reads them by default), else the built-in date_of_birth and pin."""
    return load_fields(Path("config") / "directory.yaml")


def _header_problem(header: list[str], fields: Mapping[str, FieldSpec], source: str) -> str | None:
    missing = [c for c in CUSTOMER_COLUMNS if c not in header]
    if missing:
        return f"missing column(s) {', '.join(missing)}; expected {','.join(CUSTOMER_COLUMNS)}"
    if len(set(header)) != len(header):
        return "a column appears twice"
    for column in header:
        if column not in (*CUSTOMER_COLUMNS, TOTP_COLUMN) and column not in fields:
            close = difflib.get_close_matches(column, list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return (
                f"column '{column}' is not a customer column nor a field of {source}{hint}; "
                f"fields: {', '.join(fields)}"
            )
    return None


def read_customers(
    path: str | Path,
    region: str = DEFAULT_REGION,
    today: date | None = None,
    fields: Mapping[str, FieldSpec] | None = None,
    fields_source: str = "config/directory.yaml",
) -> list[CustomerRecord]:
    """Parse and validate the whole file; raise ImportFailed listing every bad row.

    Columns: customer_id, name, phones (';'-separated), account_number, then one column per
    security field (`fields`, from config/directory.yaml), any of which may be left out.
    National phone numbers are read in `region`.
    """
    fields = default_fields() if fields is None else fields
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
    problem = _header_problem(header, fields, fields_source)
    if problem:
        raise ImportFailed([RowError(name, header_line, "header", problem)])
    errors: list[RowError] = []
    records: list[CustomerRecord] = []
    first_seen: dict[tuple[str, str], int] = {}
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            message = f"expected {len(header)} fields, found {len(cells)}"
            errors.append(RowError(name, line, "row", message))
            continue
        values = {column: cell.strip() for column, cell in zip(header, cells, strict=True)}
        record, problems = _parse_row(values, line, fields, region, today)
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
    region: str = DEFAULT_REGION,
    fields: Mapping[str, FieldSpec] | None = None,
    *,
    keys: KeyRing | None = None,
    answer_key: bytes | None = None,
    otp_box: SecretBox | None = None,
) -> UpsertResult:
    """Validate `csv_path`, then upsert it into the directory at `db_path` in one transaction;
    the directory learns `fields` (default: those of ./config/directory.yaml).

    `keys` (`KeyRing.from_settings`) or `answer_key` hash the answers; neither: the
    development key. `otp_box` seals the optional `totp_secret` column (default: the public
    development key, with a warning); an imported customer without one loses any earlier
    enrolment."""
    declared = dict(default_fields() if fields is None else fields)
    records = read_customers(csv_path, region, fields=declared)
    if otp_box is None and any(r.totp_secret for r in records):
        otp_box = SecretBox.from_text(Settings.defaults().otp_key_text(), OTP_KEYS_ENV)
    directory = await SqliteDirectory.open(db_path, keys=keys, answer_key=answer_key)
    try:
        result = await directory.upsert_customers(records, declared)
        await enrol_totp(directory, records, otp_box)
        return result
    except RecordConflict as conflict:
        raise ImportFailed(
            [RowError(str(csv_path), line, col, msg) for line, col, msg in conflict.problems]
        ) from None
    finally:
        await directory.close()


async def enrol_totp(
    directory: SqliteDirectory, records: Iterable[CustomerRecord], box: SecretBox | None
) -> None:
    """Seal and store each record's TOTP secret; forget the enrolment of those without one."""
    state = directory.otp_state
    if state is None:
        return
    without = []
    for record in records:
        if record.totp_secret and box is not None:
            sealed = box.seal(record.totp_secret, totp_binding(record.customer_id))
            await state.enrol(record.customer_id, sealed.key_id, sealed.blob)
        else:
            without.append(record.customer_id)
    await state.remove_enrolments(without)
