"""The callback API for the company's app (aiohttp handlers); OpenAPI in openapi.py.

Every request carries the customer's bearer JWT; a customer sees and changes only their own
callbacks, and another customer's callback is answered 404 exactly as a missing one is.
Answers never carry the secret, and are marked `Cache-Control: no-store`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ivr.callbacks.auth import AppAuth, AppIdentity, Unauthorised
from ivr.callbacks.availability import Handler as RouteHandler
from ivr.callbacks.availability import StoreHealth, guarded
from ivr.callbacks.capacity import SlotsFull
from ivr.callbacks.model import Booking, CallbackList, Change, Slot, Slots, StandingSecret, Status
from ivr.callbacks.queues import Queues
from ivr.callbacks.service import BookingRefused, book, change
from ivr.callbacks.store import (
    CallbackStore,
    IdempotencyConflict,
    NotChangeable,
    NotFound,
    VersionMismatch,
)
from ivr.callbacks.views import callback_response, invalid, problem, version_of, view
from ivr.engine.language import pick_language

IDEMPOTENCY_KEY_MAX = 128


@dataclass
class CallbackApi:
    """What the handlers need; `store` is opened at startup, so it is asked for per request."""

    auth: AppAuth
    queues: Queues
    store: Callable[[], CallbackStore]
    clock: Callable[[], float] = time.time
    booked: Callable[[], None] = lambda: None  # wakes the dispatcher: a booking may be due now
    # the languages the callback flow speaks (empty: not checked)
    languages: Callable[[], Sequence[str]] = lambda: ()


API: web.AppKey[CallbackApi] = web.AppKey("callback_api")
Handler = Callable[[web.Request, AppIdentity], Awaitable[web.StreamResponse]]


def authorised(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            who = request.app[API].auth.identify(request.headers.get("Authorization"))
        except Unauthorised as error:
            response = problem(401, "unauthorised", str(error))
            response.headers["WWW-Authenticate"] = 'Bearer realm="callbacks"'
            return response
        return await handler(request, who)

    return wrapped


def unspoken_language(asked: str | None, spoken: Sequence[str]) -> str | None:
    """Why a callback cannot be booked in `asked` (the callback flow has no prompts in it, nor
    in another region of that language), or None: refused at booking, not found at call time."""
    if asked is None or not spoken or pick_language(asked, spoken) is not None:
        return None
    return f"language {asked!r} is not spoken on callbacks; choose one of: {', '.join(spoken)}"


async def _json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None


@authorised
async def create(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    api = request.app[API]
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        return problem(400, "bad Idempotency-Key", f"1-{IDEMPOTENCY_KEY_MAX} characters")
    try:
        booking = Booking.model_validate(await _json(request))
    except ValidationError as error:
        return invalid(error)
    unspoken = unspoken_language(booking.language, api.languages())
    if unspoken is not None:
        return problem(422, "booking refused", unspoken)
    try:
        callback, created = await book(
            api.store(), api.queues, who, booking, api.clock(), idempotency_key=key
        )
    except IdempotencyConflict:
        return problem(422, "Idempotency-Key reused", "the key was used with another body")
    except SlotsFull as full:
        return _full(full)
    except BookingRefused as error:
        return problem(422, "booking refused", str(error))
    headers = {"Location": f"/callbacks/{callback.id}"}
    if created:
        api.booked()
    else:
        headers["Idempotent-Replayed"] = "true"
    return callback_response(callback, 201, **headers)


def _full(full: SlotsFull) -> web.Response:
    """409: the window's slots are taken; the next slots with room, to offer instead."""
    return problem(
        409,
        "slots full",
        "every slot of the window is taken: choose one of next_free",
        next_free=[slot.as_json() for slot in full.next_free],
    )


def _instant(text: str, name: str, end: bool = False) -> float:
    """An ISO date (whole day, UTC) or an aware ISO datetime, as unix time."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
            return datetime.combine(day, dtime(0), UTC).timestamp()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        raise web.HTTPBadRequest(text=f"{name} needs a time zone offset")
    return moment.timestamp()


@authorised
async def listing(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    query = request.query
    statuses = [s for s in query.get("status", "").split(",") if s]
    known = {str(s) for s in Status}
    if any(s not in known for s in statuses):
        return problem(400, "unknown status", f"one of {', '.join(sorted(known))}")
    start = _instant(query["from"], "from") if "from" in query else None
    end = _instant(query["to"], "to", end=True) if "to" in query else None
    try:
        limit = min(max(int(query.get("limit", "100")), 1), 500)
    except ValueError:
        return problem(400, "limit must be a number")
    found = await request.app[API].store().find(who.customer_id, statuses, start, end, limit)
    body = CallbackList(callbacks=[view(c) for c in found]).model_dump_json()
    return web.Response(body=body, content_type="application/json", headers=_no_store())


@authorised
async def one(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    try:
        callback = await request.app[API].store().get(request.match_info["id"], who.customer_id)
    except NotFound:
        return problem(404, "no such callback")
    return callback_response(callback)


@authorised
async def patch(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    api = request.app[API]
    callback_id = request.match_info["id"]
    version = version_of(request.headers.get("If-Match"), callback_id)
    if version is None:
        return problem(428, "If-Match required", "send the ETag of the callback you read")
    try:
        body = Change.model_validate(await _json(request))
    except ValidationError as error:
        return invalid(error)
    unspoken = unspoken_language(body.language, api.languages())
    if unspoken is not None:
        return problem(422, "change refused", unspoken)
    try:
        callback = await change(
            api.store(), api.queues, who, callback_id, version, body, api.clock()
        )
    except NotFound:
        return problem(404, "no such callback")
    except VersionMismatch as error:
        response = problem(412, "callback changed", "read it again and retry")
        response.headers["ETag"] = f'"{error.current.id}.v{error.current.version}"'
        return response
    except NotChangeable as error:
        return problem(409, "callback cannot be changed", f"it is {error.current.status}")
    except SlotsFull as full:
        return _full(full)
    except BookingRefused as error:
        return problem(422, "change refused", str(error))
    return callback_response(callback)


@authorised
async def cancel(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    api = request.app[API]
    callback_id = request.match_info["id"]
    try:
        callback = await api.store().cancel(callback_id, who.customer_id, api.clock())
    except NotFound:
        return problem(404, "no such callback")
    except NotChangeable as error:
        return problem(409, "callback cannot be cancelled", f"it is {error.current.status}")
    return callback_response(callback)


@authorised
async def slots(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    api = request.app[API]
    queue = api.queues.get(request.query.get("queue", ""))
    if queue is None:
        return problem(404, "no such queue")
    try:
        day = date.fromisoformat(request.query.get("date", ""))
    except ValueError:
        return problem(400, "date must be YYYY-MM-DD (the queue's local day)")
    now = api.clock()
    store = api.store()
    offered = []
    for start, end in queue.slots(day):
        if end.timestamp() <= now:
            continue
        booked = await store.booked_between(queue.name, start.timestamp(), end.timestamp())
        offered.append(
            Slot(start=start, end=end, available=max(queue.callbacks_per_slot - booked, 0))
        )
    body = Slots(queue=queue.name, date=day.isoformat(), time_zone=queue.time_zone, slots=offered)
    return web.Response(body=body.model_dump_json(), content_type="application/json")


@authorised
async def put_standing_secret(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    api = request.app[API]
    try:
        body = StandingSecret.model_validate(await _json(request))
    except ValidationError as error:
        return invalid(error)
    await api.store().set_standing_secret(who.customer_id, body.secret, api.clock())
    return web.json_response({"has_standing_secret": True}, headers=_no_store())


@authorised
async def get_standing_secret(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    has = await request.app[API].store().has_standing_secret(who.customer_id)
    return web.json_response({"has_standing_secret": has}, headers=_no_store())


@authorised
async def delete_standing_secret(request: web.Request, who: AppIdentity) -> web.StreamResponse:
    await request.app[API].store().delete_standing_secret(who.customer_id)
    return web.json_response({"has_standing_secret": False}, headers=_no_store())


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def add_routes(app: web.Application, api: CallbackApi, health: StoreHealth | None = None) -> None:
    """The app API's routes; with `health`, a failing database answers 503 (availability.py)."""
    from ivr.callbacks.openapi import openapi_handler

    app[API] = api

    def guard(route: str, handler: RouteHandler) -> RouteHandler:
        return handler if health is None else guarded(health, route, handler)

    app.router.add_get("/callbacks/openapi.json", openapi_handler)
    app.router.add_get("/callbacks/slots", guard("GET /callbacks/slots", slots))
    app.router.add_post("/callbacks", guard("POST /callbacks", create))
    app.router.add_get("/callbacks", guard("GET /callbacks", listing))
    app.router.add_get("/callbacks/{id}", guard("GET /callbacks/{id}", one))
    app.router.add_patch("/callbacks/{id}", guard("PATCH /callbacks/{id}", patch))
    app.router.add_post("/callbacks/{id}/cancel", guard("POST /callbacks/{id}/cancel", cancel))
    secret = "/customers/me/secret"
    app.router.add_put(secret, guard(f"PUT {secret}", put_standing_secret))
    app.router.add_get(secret, guard(f"GET {secret}", get_standing_secret))
    app.router.add_delete(secret, guard(f"DELETE {secret}", delete_standing_secret))
