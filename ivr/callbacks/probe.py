"""The callback database asked at intervals whether it answers, so /readyz and
`ivr_callback_store_up` show it down before a customer's request fails, and show it back.

One short probe at a time, each under a timeout: a database that hangs is as down as one that
refuses, and the probe never piles up work on it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ivr.callbacks.availability import DATABASE_ERRORS, StoreHealth

_log = logging.getLogger(__name__)


class Pingable(Protocol):
    async def ping(self) -> None: ...


async def probe_once(db: Pingable, health: StoreHealth, timeout_s: float) -> bool:
    """Ask once; record the answer in `health`. True when the database answered in time."""
    try:
        async with asyncio.timeout(timeout_s):
            await db.ping()
    except DATABASE_ERRORS as error:
        health.failed(error)
        return False
    health.answered()
    return True


async def run_probe(db: Pingable, health: StoreHealth, interval_s: float, timeout_s: float) -> None:
    """Probe every `interval_s` until cancelled; the first probe at once."""
    while True:
        try:
            await probe_once(db, health, timeout_s)
        except Exception:  # a bug here must not end the probing, nor hide the database state
            _log.exception("callback database probe failed unexpectedly")
        await asyncio.sleep(interval_s)
