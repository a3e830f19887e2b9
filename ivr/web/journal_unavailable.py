"""503, not 500, when a page or report needs the journal store and it cannot be had.

The store for reads reopens by itself (ivr/journal/reconnecting.py); until then a manager's
page says the journal is unavailable and when to try again, and `/readyz` shows the journal's
state. Calls never wait on it: their records go through the journal worker and its spool.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from ivr.journal.store import JournalError

RETRY_AFTER_S = 5


@web.middleware
async def journal_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except JournalError:
        return web.json_response(
            {"error": "the journal is unavailable; try again shortly"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
