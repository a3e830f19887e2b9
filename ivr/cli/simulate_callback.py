"""`ivr simulate flows/callback.yaml --callback ID`: play a booked callback in the console.

The callback is taken from the journal database and claimed as the dispatcher would; the
console is the customer who answers. The secret is shown where they would hear it, and only
there: the journal, the JSON result and recordings get a placeholder.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ivr.bootstrap import Loaded, build_engine
from ivr.callbacks.console import CannotPlay, play_callback
from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.db import open_database
from ivr.callbacks.queues import Queues
from ivr.callbacks.store import CallbackStore
from ivr.cli.environment import settings_or_exit
from ivr.engine.actions import Action
from ivr.journal.store import open_store
from ivr.journal.writer import JournalWriter
from simulator.local import LocalDriver
from simulator.player import Caller, CallOutcome, play_call


async def simulate_callback(
    args: argparse.Namespace,
    caller: Caller,
    loaded: Loaded,
    flow_id: str | None,
    show: Callable[[Sequence[Action], Callable[[str], str]], None] | None,
) -> CallOutcome | None:
    """Play the callback; None (after saying why on stderr) when it cannot be played."""
    secrets = settings_or_exit("ivr simulate")
    url = args.journal or secrets.journal_url
    if url == "none":
        print("ivr simulate: --callback needs the journal the callback is in", file=sys.stderr)
        return None
    keys = secrets.reveal(secrets.callback_keys)
    if not keys:
        print("ivr simulate: --callback needs IVR_CALLBACK_KEYS", file=sys.stderr)
        return None
    call_id = args.call_id or uuid.uuid4().hex  # the secret's marker is bound to this call
    db = await open_database(url)
    engine, directory = await build_engine(loaded, str(args.db), secrets=secrets)
    writer = JournalWriter(await open_store(url))
    writer.start()
    try:
        store = CallbackStore(db, SecretBox.from_text(keys))
        queues = Queues.load(args.project / "config")
        try:
            console = await play_callback(
                store, queues, engine.operations, args.callback, call_id, flow_id or "callback"
            )
        except CannotPlay as error:
            print(f"ivr simulate: {error}", file=sys.stderr)
            return None
        driver = LocalDriver(engine, flow_id=flow_id, journal=writer, context=console.context)
        on_actions: Any = None
        if show is not None:

            def on_actions(actions: Sequence[Action]) -> None:
                show(actions, console.shown)

        outcome = await play_call(
            driver, caller, ani=None, dnis=console.number, trust="unknown",
            call_id=call_id, on_actions=on_actions,
        )  # fmt: skip
        status = await console.ended()
        print(f"callback {args.callback}: {status}", file=sys.stderr)
        return outcome
    finally:
        await writer.close()
        await writer.store.close()
        await directory.close()
        await db.close()
