"""The customer's own history for the app: GET /customers/{id}/interactions (their JWT).

Their calls (from the journal's `calls` table: when, which line, how they were identified and
verified, where the call went, how long) and their callbacks, newest first, a page at a time
(`before` is the `at` of the last item of the previous page). Another customer's id is 404,
and nothing here can carry a secret: the rows hold none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.store import CallbackStore
from ivr.callbacks.views import problem, when

CALLS = (
    "SELECT call_id, started_at, service_line, idv_status, ani_identified, account_identified,"
    " factors_passed, route_kind, route_name, ended_by, duration_ms FROM calls"
    " WHERE customer_id = :c AND started_at < :before ORDER BY started_at DESC LIMIT :n"
)
CALLBACKS = (
    "SELECT id, created_at, status, queue, scheduled_at, attempts, outcome, call_id, source"
    " FROM callbacks WHERE customer_id = :c AND created_at < :before"
    " ORDER BY created_at DESC LIMIT :n"
)


def _identified_by(row: tuple[Any, ...], outbound: bool) -> str | None:
    if outbound:
        return "app_login"  # the company called a customer who booked in the app
    if row[4]:
        return "calling_number"
    if row[5]:
        return "account_number"
    return None


async def interactions(
    store: CallbackStore, customer_id: str, before: float, limit: int
) -> tuple[list[dict[str, Any]], float | None]:
    """A page of the customer's interactions, and the cursor of the next page (or None)."""
    params = {"c": customer_id, "before": float(before), "n": limit}
    callbacks = await store.db.fetch(CALLBACKS, params)
    by_call = {row[7]: row[0] for row in callbacks if row[7]}
    items: list[tuple[float, dict[str, Any]]] = []
    for row in callbacks:
        items.append(
            (
                float(row[1]),
                {
                    "type": "callback",
                    "id": row[0],
                    "at": when(row[1]),
                    "status": row[2],
                    "queue": row[3],
                    "scheduled_at": when(row[4]),
                    "attempts": row[5],
                    "outcome": row[6],
                    "booked_from": row[8],
                },
            )
        )
    for row in await store.db.fetch(CALLS, params):
        callback_id = by_call.get(row[0])
        items.append(
            (
                float(row[1]),
                {
                    "type": "call",
                    "id": row[0],
                    "at": when(row[1]),
                    "direction": "outbound" if callback_id else "inbound",
                    "callback_id": callback_id,
                    "line": row[2],
                    "idv_status": row[3],
                    "identified_by": _identified_by(row, bool(callback_id)),
                    "factors_passed": row[6] or 0,
                    "went_to": row[8] or row[7] or row[9],
                    "duration_s": None if row[10] is None else round(float(row[10]) / 1000, 1),
                },
            )
        )
    items.sort(key=lambda item: item[0], reverse=True)
    page = items[:limit]
    more = len(items) > limit or len(callbacks) == limit
    cursor = page[-1][0] if page and more else None
    return [item for _, item in page], cursor


async def interactions_handler(
    request: web.Request, who: AppIdentity, store: CallbackStore
) -> web.StreamResponse:
    wanted = request.match_info["id"]
    if wanted not in (who.customer_id, "me"):
        return problem(404, "no such customer")  # never says whether another customer exists
    try:
        limit = min(max(int(request.query.get("limit", "20")), 1), 100)
        before_text = request.query.get("before")
        before = (
            datetime.fromisoformat(before_text.replace("Z", "+00:00")).timestamp()
            if before_text
            else datetime.now(UTC).timestamp() + 1
        )
    except ValueError:
        return problem(400, "limit is a number, before an ISO 8601 time")
    page, cursor = await interactions(store, who.customer_id, before, limit)
    body = {"customer_id": who.customer_id, "interactions": page, "next_before": when(cursor)}
    return web.json_response(body, dumps=_dumps, headers={"Cache-Control": "no-store"})


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
