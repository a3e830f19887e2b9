"""`POST /admin/reload`: reload flows, prompts and config, authenticated by `IVR_ADMIN_KEY`.

The key is sent as `Authorization: Bearer KEY` and compared in constant time. With no key
configured the endpoint refuses everyone (SIGHUP still reloads).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from ivr.web.keys import RUNTIME, SETTINGS


def authorised(request: web.Request, key: str | None) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not key or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), key.encode())


async def reload_handler(request: web.Request) -> web.Response:
    if not authorised(request, request.app[SETTINGS].admin_key):
        return web.json_response({"error": "admin key required"}, status=403)
    result = await request.app[RUNTIME].reload()
    return web.json_response(result.to_json(), status=200 if result.ok else 422)
