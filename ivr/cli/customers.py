"""`ivr customers ...`: manage the embedded customer directory from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ivr.directory.csv_import import ImportFailed, import_file
from ivr.directory.phone import DEFAULT_COUNTRY_CODE
from ivr.directory.port import DirectoryError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
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


def import_command(args: argparse.Namespace) -> int:
    db: Path = args.db
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(import_file(args.file, db, args.country_code))
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
