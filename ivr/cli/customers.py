"""`ivr customers ...`: manage the embedded customer directory from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from ivr.cli.environment import settings_or_exit
from ivr.directory.csv_import import ImportFailed, import_file
from ivr.directory.lockout import LockoutPolicy, LockoutState
from ivr.directory.phone import DEFAULT_COUNTRY_CODE
from ivr.directory.port import DirectoryError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("customers", help="manage the embedded customer directory")
    commands = parser.add_subparsers(dest="customers_command", metavar="SUBCOMMAND", required=True)
    importer = commands.add_parser(
        "import",
        help="import or update customers from a CSV file (all rows or none)",
        description="Columns: customer_id,name,phones,account_number,date_of_birth,pin. "
        "phones are separated by ';'; date_of_birth is DDMMYYYY; pin is 4-8 digits; an empty "
        "date_of_birth or pin means no answer on file. Answers are stored as keyed hashes "
        "(set IVR_SECRET_KEY).",
    )
    importer.add_argument("file", type=Path, help="the CSV file")
    importer.add_argument("--db", type=Path, required=True, help="the SQLite directory file")
    importer.add_argument(
        "--country-code",
        default=DEFAULT_COUNTRY_CODE,
        help="country code for national numbers such as 07... (default %(default)s)",
    )
    importer.set_defaults(handler=import_command)
    unlocker = commands.add_parser(
        "unlock",
        help="clear a customer's failed verifications (after verifying them another way)",
    )
    unlocker.add_argument("customer_id", help="the customer to unlock")
    unlocker.add_argument(
        "--db", type=Path, required=True, help="the file holding the lockout state"
    )
    unlocker.set_defaults(handler=unlock_command)


def unlock_command(args: argparse.Namespace) -> int:
    """`--db` is the embedded directory (or, for an HTTP directory, its lockout file)."""
    db: Path = args.db
    if not db.is_file():
        print(f"{db}: no such directory file", file=sys.stderr)
        return 1
    try:
        failures = asyncio.run(_unlock(db, args.customer_id))
    except DirectoryError as exc:
        print(f"{db}: {exc}", file=sys.stderr)
        return 1
    print(f"unlocked {args.customer_id} ({failures} recent failed verification(s) cleared)")
    return 0


async def _unlock(db: Path, customer_id: str) -> int:
    state = await LockoutState.open(db)
    try:
        failures = await state.failure_count(customer_id, time.time(), LockoutPolicy())
        await state.unlock(customer_id)
        return failures
    finally:
        await state.close()


def import_command(args: argparse.Namespace) -> int:
    db: Path = args.db
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        secrets = settings_or_exit("ivr customers import")
        key = None if secrets.secret_key is None else secrets.answer_key()
        result = asyncio.run(import_file(args.file, db, args.country_code, key))
    except ImportFailed as failed:
        for error in failed.errors:
            print(error, file=sys.stderr)
        print(f"{args.file}: nothing imported ({len(failed.errors)} error(s))", file=sys.stderr)
        return 1
    except (DirectoryError, OSError) as exc:
        print(f"{db}: {exc}", file=sys.stderr)
        return 1
    total = result.new + result.updated
    print(f"imported {total} customers ({result.new} new, {result.updated} updated)")
    return 0
