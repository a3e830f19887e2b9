"""HTTP glue over the call pipeline: one aiohttp handler per adapter request kind.

Everything about the call (parse, lock, duplicates, engine, journal, render, store) is in
`ivr.calls.CallPipeline`; this only reads the body (size-limited: 413), says which public
URL the gateway called, and writes the reply's bytes back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ivr.adapters.base import Adapter
from ivr.calls import CallPipeline, Delivery
from ivr.web.keys import CALLS

Handler = Callable[[web.Request], Awaitable[web.Response]]


def route(adapter: Adapter, kind: str, public_url: str | None) -> Handler:
    """The handler of `/<adapter>/<kind>`: the kind is bound here, never read from the path.

    `public_url` is what gateways call us by behind a proxy (some sign the URL they called).
    """
    base_url = public_url.rstrip("/") if public_url else None

    async def handle(request: web.Request) -> web.Response:
        pipeline = request.app[CALLS]
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            reply = pipeline.reject(adapter, 413, "body too large")
        else:
            base = base_url or f"{request.scheme}://{request.host}"
            delivery = Delivery(kind, base, base + request.raw_path, request.headers, body)
            reply = await pipeline.handle(adapter, delivery)
        document = reply.document
        return web.Response(
            status=reply.status, body=document.body, headers={"Content-Type": document.content_type}
        )

    return handle


def mount(app: web.Application, adapter: Adapter, public_url: str | None) -> None:
    """One POST route per request kind of the adapter, under /<adapter name>/."""
    for kind in adapter.kinds:
        app.router.add_post(f"/{adapter.name}/{kind}", route(adapter, kind, public_url))


__all__ = ["CallPipeline", "mount", "route"]
