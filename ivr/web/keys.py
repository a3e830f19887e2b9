"""Every typed application key in one place (the aiohttp-demos habit)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from ivr.adapters.base import Adapter
from ivr.sessions.base import SessionStore
from ivr.web.settings import ServeSettings

if TYPE_CHECKING:
    from ivr.calls import CallPipeline
    from ivr.limits.guard import AbuseGuard
    from ivr.web.drain import Drain
    from ivr.web.reload import Runtime

SETTINGS = web.AppKey("settings", ServeSettings)
STORE = web.AppKey("session_store", SessionStore)
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
CALLS: web.AppKey[CallPipeline] = web.AppKey("calls")
DRAIN: web.AppKey[Drain] = web.AppKey("drain")
GUARD: web.AppKey[AbuseGuard] = web.AppKey("abuse_guard")  # rate limits and fair lockout
ADAPTERS = web.AppKey("adapters", list[Adapter])
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")  # jambonz WS
