"""The callback database's availability as the app and operators see it.

A database that is down or refuses writes must not answer the app with a 500: requests get
503 with `Retry-After` (the app tries again later, nothing was changed), `/readyz` names the
callback store `down` with the error's kind, and a counter and a gauge show it in /metrics.
Only the error's class name is kept: a driver's message can quote the statement's values.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import Counter, Gauge

from ivr.callbacks.views import problem

_log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # what the app is told to wait before trying again

# what a database that is down, unreachable, read-only or closed raises through our drivers
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)

UNAVAILABLE = Counter(
    "ivr_callback_store_unavailable",
    "Callback API and dial-status requests answered 503 because the callback database failed",
    ["route"],
)
UP = Gauge("ivr_callback_store_up", "1 while the callback database answers, 0 after a failure")


class StoreHealth:
    """The callback database's last known state: `down` from a failed request until a request
    succeeds again (one refused before reaching the database does not count)."""

    def __init__(self, retry_after_s: int, clock: Callable[[], float] = time.time) -> None:
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down_since: float | None = None
        self._error = ""
        UP.set(1)

    def failed(self, error: BaseException) -> None:
        if self._down_since is None:
            self._down_since = self._clock()
            _log.warning("callback database failed: %s", type(error).__name__)
        self._error = type(error).__name__
        UP.set(0)

    def answered(self) -> None:
        if self._down_since is not None:
            _log.warning("callback database answers again")
        self._down_since = None
        UP.set(1)

    def state(self) -> dict[str, Any]:
        """What /readyz shows under `callbacks`."""
        if self._down_since is None:
            return {"state": "ok"}
        return {"state": "down", "error": self._error, "since": round(self._down_since, 3)}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(health: StoreHealth, route: str, handler: Handler) -> Handler:
    """`handler` answering 503 + Retry-After when the database fails under it."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except DATABASE_ERRORS as error:
            health.failed(error)
            UNAVAILABLE.labels(route).inc()
            refused = problem(
                503, "callbacks are unavailable", "the callback store does not answer: try again"
            )
            refused.headers["Retry-After"] = str(health.retry_after_s)
            return refused
        if response.status < 400:  # a refusal (401, 404, 422) may not have reached the database
            health.answered()
        return response

    return wrapped
