"""`ivr customers ...`: manage the embedded customer directory from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ivr.callbacks.crypto import SecretBox, SecretUnreadable
from ivr.cli.environment import settings_or_exit
from ivr.directory.csv_import import ImportFailed, import_file
from ivr.directory.hashing import KeyRing
from ivr.directory.lockout import LockoutPolicy, LockoutState
from ivr.directory.otp_state import OtpState
from ivr.directory.port import DirectoryError
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.fields import FieldError, FieldSpec, describe, load_fields
from ivr.numbers import DEFAULT_REGION, is_region
from ivr.stepup.totp import TotpVerifier, code_at
from ivr.stepup.wiring import otp_box


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("customers", help="manage the embedded customer directory")
    commands = parser.add_subparsers(dest="customers_command", metavar="SUBCOMMAND", required=True)
    importer = commands.add_parser(
        "import",
        help="import or update customers from a CSV file (all rows or none)",
        description="Columns: customer_id,name,phones,account_number, then one column per "
        "security field declared in config/directory.yaml (`ivr customers fields` lists them). "
        "phones are separated by ';'; an empty answer means no answer on file. Answers are "
        "stored as keyed hashes (set IVR_SECRET_KEY). An optional totp_secret column (base32, "
        "as authenticator apps use) enrols the customer for one-time codes, sealed with "
        "IVR_OTP_KEYS and never printed.",
    )
    importer.add_argument("file", type=Path, help="the CSV file")
    importer.add_argument("--db", type=Path, required=True, help="the SQLite directory file")
    importer.add_argument("--config", type=Path, default=Path("config"), help="config folder")
    importer.add_argument(
        "--region",
        default=None,
        help="region of national numbers such as 07... (default: default_region of "
        "service-lines.yaml, else GB)",
    )
    importer.set_defaults(handler=import_command)
    lister = commands.add_parser("fields", help="list the security fields the directory holds")
    lister.add_argument("--config", type=Path, default=Path("config"), help="config folder")
    lister.set_defaults(handler=fields_command)
    status = commands.add_parser(
        "key-status",
        help="how many stored answers each key made (after rotating IVR_SECRET_KEY)",
    )
    status.add_argument("--db", type=Path, required=True, help="the SQLite directory file")
    status.set_defaults(handler=key_status_command)
    totp = commands.add_parser(
        "totp-code",
        help="DEVELOPMENT ONLY: print the current TOTP code of an enrolled customer",
        description="Opens the customer's sealed TOTP secret (IVR_OTP_KEYS) and prints the code "
        "their authenticator shows now, so `make run` / `ivr simulate` can try flows/stepup.yaml. "
        "Refused unless the development key is in use or --i-know-this-is-not-production.",
    )
    totp.add_argument("customer_id", help="the enrolled customer")
    totp.add_argument("--db", type=Path, required=True, help="the SQLite directory file")
    totp.add_argument("--i-know-this-is-not-production", action="store_true", dest="forced")
    totp.set_defaults(handler=totp_code_command)
    unlocker = commands.add_parser(
        "unlock",
        help="clear a customer's failed verifications (after verifying them another way)",
    )
    unlocker.add_argument("customer_id", help="the customer to unlock")
    unlocker.add_argument(
        "--db", type=Path, required=True, help="the file holding the lockout state"
    )
    unlocker.set_defaults(handler=unlock_command)


def totp_code_command(args: argparse.Namespace) -> int:
    """A development aid: with real keys configured it refuses unless forced."""
    db: Path = args.db
    settings = settings_or_exit("ivr customers totp-code")
    if settings.otp_keys is not None and not args.forced:
        print(
            "ivr customers totp-code: IVR_OTP_KEYS is set (a real deployment?): refused; "
            "--i-know-this-is-not-production overrides",
            file=sys.stderr,
        )
        return 2
    if not db.is_file():
        print(f"{db}: no such directory file", file=sys.stderr)
        return 1
    try:
        code = asyncio.run(_totp_code(db, args.customer_id, otp_box(settings)))
    except (DirectoryError, SecretUnreadable) as exc:
        print(f"{db}: {exc}", file=sys.stderr)
        return 1
    if code is None:
        print(f"{args.customer_id} is not enrolled for TOTP codes", file=sys.stderr)
        return 1
    print(code)
    return 0


async def _totp_code(db: Path, customer_id: str, box: SecretBox) -> str | None:
    state = await OtpState.open(db)
    try:
        secret = await TotpVerifier(state, box).secret(customer_id)
    finally:
        await state.close()
    return None if secret is None else code_at(secret, time.time())


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


def _declared(config: Path) -> tuple[dict[str, FieldSpec], str]:
    """The fields of config/directory.yaml and the default region of service-lines.yaml."""
    fields = load_fields(config / "directory.yaml")
    region = DEFAULT_REGION
    lines = config / "service-lines.yaml"
    if lines.exists():
        data = yaml.safe_load(lines.read_text(encoding="utf-8")) or {}
        region = str(data.get("default_region") or DEFAULT_REGION)
    return fields, region


def fields_command(args: argparse.Namespace) -> int:
    try:
        fields, _ = _declared(args.config)
    except (FieldError, OSError, yaml.YAMLError) as exc:
        print(f"ivr customers fields: {exc}", file=sys.stderr)
        return 1
    for line in describe(fields):
        print(line)
    return 0


def key_status_command(args: argparse.Namespace) -> int:
    db: Path = args.db
    if not db.is_file():
        print(f"{db}: no such directory file", file=sys.stderr)
        return 1
    try:
        usage, ring = asyncio.run(_key_usage(db))
    except DirectoryError as exc:
        print(f"{db}: {exc}", file=sys.stderr)
        return 1
    for position, key in enumerate(ring.keys):
        role = "current" if position == 0 else "older"
        print(f"key {key.id} ({role}): {usage.pop(key.id, 0)} answer(s)")
    for key_id, count in sorted(usage.items()):
        print(f"key {key_id} (NOT CONFIGURED): {count} answer(s) cannot be verified")
    return 0


async def _key_usage(db: Path) -> tuple[dict[str, int], KeyRing]:
    keys = KeyRing.from_settings(settings_or_exit("ivr customers key-status"))
    directory = await SqliteDirectory.open(db, lockout=False, keys=keys)
    try:
        return await directory.key_usage(), directory.keys
    finally:
        await directory.close()


def import_command(args: argparse.Namespace) -> int:
    db: Path = args.db
    try:
        fields, region = _declared(args.config)
    except (FieldError, OSError, yaml.YAMLError) as exc:
        print(f"ivr customers import: {exc}", file=sys.stderr)
        return 1
    if args.region:
        region = args.region
    if not is_region(region):
        print(f"ivr customers import: {region!r} is not a region code (GB, US...)", file=sys.stderr)
        return 2
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        settings = settings_or_exit("ivr customers import")
        keys = KeyRing.from_settings(settings)
        box = otp_box(settings)
        result = asyncio.run(import_file(args.file, db, region, fields, keys=keys, otp_box=box))
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
