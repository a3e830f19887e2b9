"""Mounting callbacks on `ivr serve`: the app API, its store and the dispatch scheduler.

Callbacks live in the journal database, so they need a journal; the API is served when the
app's token check and a sealing key are configured, and says why not otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ivr.callbacks import settings as callback_settings
from ivr.callbacks.api import CallbackApi, add_routes
from ivr.callbacks.auth import SECRET_ENV
from ivr.callbacks.db import open_database
from ivr.callbacks.store import CallbackStore

if TYPE_CHECKING:
    from ivr.web.settings import ServeSettings

_log = logging.getLogger(__name__)
STORE: web.AppKey[CallbackStore] = web.AppKey("callback_store")
Context = Callable[[web.Application], AsyncIterator[None]]


def callback_contexts(app: web.Application, serve: ServeSettings) -> list[Context]:
    """The callback API's routes (added now) and the contexts that open its store."""
    if not serve.journal_url:
        _log.info("callbacks off: they are stored in the journal (--journal none)")
        return []
    config = callback_settings.load(serve.project.config)
    if not config.api_ready:
        _log.warning(
            "callback API not served: set %s (or a public key in config/callbacks.yaml)"
            " and IVR_CALLBACK_KEYS",
            SECRET_ENV,
        )
        return []
    assert config.auth is not None
    add_routes(app, CallbackApi(config.auth, config.queues, lambda: app[STORE]))
    url = serve.journal_url

    async def store(app: web.Application) -> AsyncIterator[None]:
        db = await open_database(url)
        app[STORE] = CallbackStore(db, config.box)
        yield
        await db.close()

    return [store]
