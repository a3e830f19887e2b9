"""The journal over HTTP: reports, extracts, live calls and the dashboard.

`add_journal_routes(app, store, hub, api_key)` adds the routes to any aiohttp application: the
webhook server serves them at its root (`/reports/{name}`, `/calls/active`, `/dashboard`, ...)
beside webhooks that must stay open, so the key is checked per route, not by an app-wide
middleware. `create_reports_app` wraps the same routes in an application of their own.

Everything here shows customer data, so every route needs the API key: `Authorization: Bearer
KEY`, `X-API-Key: KEY`, or HTTP basic auth with the key as password (so a browser can open the
dashboard). Keys are compared in constant time; an empty configured key refuses everyone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ivr.journal.dashboard_http import DashboardViews, FlowSource, report_filter
from ivr.journal.extracts import EXTRACTS, extract_csv
from ivr.journal.hub import JournalHub
from ivr.journal.records import JournalRecord
from ivr.journal.reports import REPORTS, run_report
from ivr.journal.store import JournalStore
from ivr.journal.table import render_csv
from ivr.web.security_headers import page_policy, protect

_PAGE_POLICIES: dict[str, str] = {}  # the dashboard's text -> its CSP (hashes computed once)
KEEPALIVE_SECONDS = 15.0
PULSE_MAX_SECONDS = 120

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StoreProvider = Callable[[], JournalStore]
"""Gives the store when a request needs it: the server opens its store after adding routes."""


def record_json(r: JournalRecord) -> dict[str, Any]:
    return {
        "call_id": r.call_id,
        "seq": r.seq,
        "at": r.at,
        "kind": str(r.kind),
        "flow": r.flow_id,
        "version": r.flow_version,
        "service_line": r.service_line,
        "step": r.step,
        "outcome": r.outcome,
        "attempt": r.attempt,
        "duration_ms": r.duration_ms,
        "data": r.data,
    }


def sse_event(record: JournalRecord) -> bytes:
    """One `record` event. Every field is one line whatever a gateway put in a call id: the
    data is JSON (ASCII, newlines escaped) and the id is percent-encoded, so a CallSid holding
    a newline cannot end a field early and forge an event of its own."""
    data = json.dumps(record_json(record), separators=(",", ":"), ensure_ascii=True)
    event_id = f"{quote(record.call_id, safe='')}:{record.seq}"
    return f"id: {event_id}\nevent: record\ndata: {data}\n\n".encode()


def presented_key(request: web.Request) -> str | None:
    """The key a request carries, by whichever of the three accepted means."""
    if key := request.headers.get("X-API-Key"):
        return key
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
    return None


def require_key(api_key: str, handler: Handler) -> Handler:
    """`handler`, answering 401 (with a basic-auth challenge) unless the request has the key."""
    expected = api_key.encode()

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        given = (presented_key(request) or "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            raise web.HTTPUnauthorized(
                text="API key required\n",
                headers={"WWW-Authenticate": 'Basic realm="ivr journal", charset="UTF-8"'},
            )
        return await handler(request)

    return guarded


def _pulse_seconds(request: web.Request) -> int:
    text = request.query.get("seconds") or "60"
    try:
        seconds = int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"seconds: not a whole number: {text!r}\n") from None
    return max(1, min(seconds, PULSE_MAX_SECONDS))


class JournalViews:
    """The request handlers, bound to one store, hub and key."""

    def __init__(
        self, store: StoreProvider, hub: JournalHub, api_key: str, flows: FlowSource | None = None
    ) -> None:
        self._store = store
        self.hub = hub
        self.api_key = api_key
        self.dashboard_views = DashboardViews(store, hub, flows)

    @property
    def store(self) -> JournalStore:
        return self._store()

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """GET routes under `prefix` ('' for the root), each behind the key."""
        table: list[tuple[str, Handler]] = [
            ("/reports/{name}", self.report),
            ("/extracts/{name}", self.extract),
            ("/calls/active", self.active_calls),
            ("/calls/stream", self.stream),
            ("/calls/{call_id}", self.call_journey),
            ("/pulse", self.pulse),
            ("/dashboard", self.dashboard),
            *self.dashboard_views.table(),
        ]
        return [web.get(prefix + path, require_key(self.api_key, h)) for path, h in table]

    async def report(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in REPORTS:
            raise web.HTTPNotFound(text=f"no report {name!r}; reports: {', '.join(REPORTS)}\n")
        table = await run_report(self.store, name, report_filter(request))
        if request.query.get("format") == "csv":
            return web.Response(text=render_csv(table), content_type="text/csv")
        return web.json_response(
            {
                "report": table.title,
                "columns": [c.name for c in table.columns],
                "rows": table.records(),
            }
        )

    async def extract(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in EXTRACTS:
            raise web.HTTPNotFound(text=f"no extract {name!r}; extracts: {', '.join(EXTRACTS)}\n")
        flt = report_filter(request)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{name}.csv"',
            }
        )
        await response.prepare(request)
        async for piece in extract_csv(self.store, name, flt):
            await response.write(piece.encode())
        await response.write_eof()
        return response

    async def active_calls(self, request: web.Request) -> web.Response:
        calls = [c.summary() for c in self.hub.active()]
        return web.json_response({"count": len(calls), "calls": calls})

    async def call_journey(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        live = self.hub.journey(call_id)
        records = live if live is not None else await self.store.journey(call_id)
        if not records:
            raise web.HTTPNotFound(text="no such call\n")
        return web.json_response(
            {
                "call_id": call_id,
                "active": live is not None,
                "records": [record_json(r) for r in records],
            }
        )

    async def pulse(self, request: web.Request) -> web.Response:
        hub = self.hub
        return web.json_response(
            {
                "active": len(hub.active()),
                "events": hub.events,
                "errors": hub.errors,
                "per_second": [list(p) for p in hub.pulse(_pulse_seconds(request))],
            }
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: one `record` event per journal record, optionally for one call."""
        only = request.query.get("call_id")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        sub = self.hub.subscribe()
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    record = await asyncio.wait_for(sub.__anext__(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if only and record.call_id != only:
                    continue
                await response.write(sse_event(record))
        except (ConnectionResetError, StopAsyncIteration):
            pass
        finally:
            sub.close()
        return response

    async def dashboard(self, request: web.Request) -> web.Response:
        page = resources.files("ivr.journal").joinpath("dashboard.html").read_text("utf-8")
        policy = _PAGE_POLICIES.get(page)
        if policy is None:
            policy = _PAGE_POLICIES[page] = page_policy(page)
        headers = {"Content-Security-Policy": policy}
        return web.Response(text=page, content_type="text/html", headers=headers)


def add_journal_routes(
    app: web.Application,
    store: StoreProvider,
    hub: JournalHub,
    api_key: str,
    prefix: str = "",
    flows: FlowSource | None = None,
) -> None:
    """Add the journal's routes to `app` under `prefix`, each refusing requests without the key;
    every response of `app` gets the security headers.

    `flows` (the server's published flows and prompt words) lets the dashboard draw flows and
    tell journeys in words; without it those show step names only."""
    protect(app)
    app.router.add_routes(JournalViews(store, hub, api_key, flows).routes(prefix))


def create_reports_app(store: JournalStore, hub: JournalHub, api_key: str) -> web.Application:
    """The journal routes as an application of their own, to run alone or mount as a sub-app."""
    app = web.Application()
    add_journal_routes(app, lambda: store, hub, api_key)
    return app
