"""`ivr callbacks ...`: operator commands for callbacks kept in the journal database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ivr.callbacks.crypto import CallbackKeyError, SecretBox
from ivr.callbacks.db import open_database
from ivr.callbacks.rekey import Rekeyed, rekey
from ivr.cli.environment import settings_or_exit


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("callbacks", help="operate on booked callbacks")
    commands = parser.add_subparsers(dest="callbacks_command", metavar="SUBCOMMAND", required=True)
    rekeyer = commands.add_parser(
        "rekey",
        help="reseal every callback secret under the newest key of IVR_CALLBACK_KEYS",
        description="After putting a new key first in IVR_CALLBACK_KEYS: reseals every callback "
        "and standing secret under it, so the old key can then be removed. Safe to run again "
        "or to stop midway; prints counts, never a secret. Exit 1 if some secret's key is "
        "no longer configured (their rows are named).",
    )
    rekeyer.add_argument("--journal", default=None, help="journal URL (default IVR_JOURNAL_URL)")
    rekeyer.set_defaults(handler=rekey_command)


def rekey_command(args: argparse.Namespace) -> int:
    settings = settings_or_exit("ivr callbacks rekey")
    url = args.journal or settings.journal_url
    keys = settings.reveal(settings.callback_keys)
    if url == "none" or not keys:
        print("ivr callbacks rekey: needs the journal and IVR_CALLBACK_KEYS", file=sys.stderr)
        return 2
    try:
        box = SecretBox.from_text(keys)
    except CallbackKeyError as error:
        print(f"ivr callbacks rekey: {error}", file=sys.stderr)
        return 2
    done = asyncio.run(_run(url, box))
    print(
        f"resealed under {done.key_id}: {done.callbacks} callback secrets,"
        f" {done.standing} standing secrets; {done.already_current} already under it;"
        f" {len(done.unreadable)} unreadable"
    )
    for row in done.unreadable:
        print(f"unreadable (its key is no longer configured): {row}", file=sys.stderr)
    return 1 if done.unreadable else 0


async def _run(url: str, box: SecretBox) -> Rekeyed:
    db = await open_database(url)
    try:
        return await rekey(db, box)
    finally:
        await db.close()
