"""Mounting callbacks on `ivr serve`: the app API, queue figures, dial status, the flow
operations, the secret's reveal on the way out, and the dispatch loop.

Callbacks live in the journal database, so they need a journal. The app API is served when
the app's token check and a sealing key are configured; dialling when a gateway is chosen in
config/callbacks.yaml (and --public-url says where gateways reach us); queue figures are
pushed with the reports key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ivr.adapters.base import Document
from ivr.callbacks import settings as callback_settings
from ivr.callbacks.api import CallbackApi, add_routes, authorised
from ivr.callbacks.auth import SECRET_ENV, AppIdentity
from ivr.callbacks.availability import RETRY_AFTER_S, StoreHealth, guarded
from ivr.callbacks.dial_status import status_handler
from ivr.callbacks.dialers.base import Dialer
from ivr.callbacks.history import interactions_handler
from ivr.callbacks.lazy_db import LazyDatabase
from ivr.callbacks.operations import callback_operations
from ivr.callbacks.probe import run_probe
from ivr.callbacks.queue_stats import QUEUE_API, QueueApi, QueueStats, get_wait, push_stats
from ivr.callbacks.reveal import revealer
from ivr.callbacks.scheduler import LEASE, Dispatcher, Lease, holder_name, run
from ivr.callbacks.settings import CallbackSettings
from ivr.callbacks.store import CallbackStore
from ivr.config import ConfigError
from ivr.journal.http import require_key
from ivr.web.health import MORE_PROBES
from ivr.web.keys import CALLS, RUNTIME

if TYPE_CHECKING:
    from ivr.web.settings import ServeSettings

_log = logging.getLogger(__name__)
STORE: web.AppKey[CallbackStore] = web.AppKey("callback_store")
STATS: web.AppKey[QueueStats] = web.AppKey("queue_stats")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("callback_dispatcher")
Context = Callable[[web.Application], AsyncIterator[None]]


def build_dialer(config: CallbackSettings) -> Dialer | None:
    dispatch, secrets = config.dispatch, config.secrets
    if dispatch.gateway == "twilio":
        from ivr.callbacks.dialers.twilio import TwilioDialer

        token = secrets.get(callback_settings.TWILIO_TOKEN_ENV)
        if not (token and dispatch.twilio.account_sid):
            raise ConfigError("dispatch by twilio needs IVR_TWILIO_ACCOUNT_SID and its auth token")
        twilio = dispatch.twilio
        return TwilioDialer(twilio.account_sid, token, twilio.api_base, twilio.machine_detection)
    if dispatch.gateway == "jambonz":
        from ivr.callbacks.dialers.jambonz import JambonzDialer

        key = secrets.get(callback_settings.JAMBONZ_API_KEY_ENV)
        jambonz = dispatch.jambonz
        if not (key and jambonz.account_sid):
            raise ConfigError("dispatch by jambonz needs IVR_JAMBONZ_ACCOUNT_SID and API key")
        if not secrets.get(callback_settings.JAMBONZ_SECRET_ENV):
            raise ConfigError("dispatch by jambonz needs IVR_JAMBONZ_SECRET (it signs call status)")
        return JambonzDialer(jambonz.api_base, jambonz.account_sid, key, jambonz.application_sid)
    if dispatch.gateway == "json":
        from ivr.callbacks.dialers.json_protocol import JsonDialer

        secret = secrets.get(callback_settings.WEBHOOK_SECRET_ENV)
        if not (secret and dispatch.json_.url):
            raise ConfigError("dispatch by json needs IVR_CALLBACK_JSON_URL and the webhook secret")
        return JsonDialer(dispatch.json_.url, secret)
    return None


def _status_secrets(config: CallbackSettings) -> Mapping[str, str]:
    names = {
        "twilio": callback_settings.TWILIO_TOKEN_ENV,
        "jambonz": callback_settings.JAMBONZ_SECRET_ENV,
        "json": callback_settings.WEBHOOK_SECRET_ENV,
    }
    return {gw: config.secrets[env] for gw, env in names.items() if env in config.secrets}


def callback_contexts(app: web.Application, serve: ServeSettings) -> list[Context]:
    """Routes (added now) and the context that opens the store and runs dispatch."""
    if not serve.journal_url:
        _log.info("callbacks off: they are stored in the journal (--journal none)")
        return []
    config = callback_settings.load(
        serve.project.config, serve.env, webhook_secret=serve.webhook_secret
    )
    wake = asyncio.Event()  # a booking wakes the dispatcher (it may be due now)
    health = StoreHealth(RETRY_AFTER_S)

    async def callbacks_state() -> dict[str, Any]:
        return health.state()

    app.setdefault(MORE_PROBES, {})["callbacks"] = callbacks_state
    if config.auth is not None and config.box is not None:
        api = CallbackApi(
            config.auth,
            config.queues,
            lambda: app[STORE],
            booked=wake.set,
            languages=lambda: app[RUNTIME].languages_of(config.dispatch.flow),
        )
        add_routes(app, api, health)

        async def wait(request: web.Request, who: AppIdentity) -> web.StreamResponse:
            return await get_wait(request)

        route = "GET /queues/{name}/wait"
        app.router.add_get("/queues/{name}/wait", guarded(health, route, authorised(wait)))

        async def history(request: web.Request, who: AppIdentity) -> web.StreamResponse:
            return await interactions_handler(request, who, app[STORE])

        route = "GET /customers/{id}/interactions"
        app.router.add_get(
            "/customers/{id}/interactions", guarded(health, route, authorised(history))
        )
    else:
        _log.warning(
            "callback API not served: set %s (or a public key in config/callbacks.yaml)"
            " and IVR_CALLBACK_KEYS",
            SECRET_ENV,
        )
    app[QUEUE_API] = QueueApi(lambda: app[STATS], config.queues)
    if serve.reports_key:
        pushed = guarded(health, "POST /queues/{name}/stats", push_stats)
        app.router.add_post("/queues/{name}/stats", require_key(serve.reports_key, pushed))
    dialer = build_dialer(config) if config.box is not None else None
    if dialer is not None:
        if not serve.public_url:
            raise ConfigError("dialling callbacks needs --public-url (where gateways reach us)")
        handler: Any = status_handler(
            lambda: app[DISPATCHER], _status_secrets(config), serve.public_url
        )
        route = "POST /callbacks/dial-status"
        app.router.add_post("/callbacks/dial-status/{gateway}", guarded(health, route, handler))
    url = serve.journal_url

    async def callbacks(app: web.Application) -> AsyncIterator[None]:
        engine = app[RUNTIME].engine
        unknown = config.queues.unknown_routes(engine.config.routes)
        if unknown:  # a connected callee would otherwise fall back to the default queue
            raise ConfigError(
                f"config/queues.yaml: routes not in config/routes.yaml: {'; '.join(unknown)}"
            )
        db = LazyDatabase(url)  # a database down at startup opens later (503s till then)
        await db.open()
        store = CallbackStore(db, config.box)
        stats = QueueStats(db)
        app[STORE], app[STATS] = store, stats
        for name, operation in callback_operations(store, config.queues, stats).items():
            engine.operations.implement(name, operation)
        reveal = revealer(store)

        async def outgoing(document: Document, call_id: str) -> Document:
            body = await reveal(document.body, document.content_type, call_id)
            return document if body is document.body else Document(document.content_type, body)

        app[CALLS].outgoing = outgoing
        probe = config.probe
        probing = asyncio.create_task(run_probe(db, health, probe.interval_s, probe.timeout_s))
        task = None
        lease = Lease(db, LEASE, holder_name(), ttl_s=max(config.dispatch.interval_s * 3, 15))
        if dialer is not None and serve.public_url:
            dispatch = config.dispatch
            app[DISPATCHER] = Dispatcher(
                store, config.queues, dialer, serve.public_url, dispatch.from_number,
                dispatch.flow, dispatch.ring_timeout_s,
            )  # fmt: skip
            task = asyncio.create_task(run(app[DISPATCHER], lease, dispatch.interval_s, wake))
        yield
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await lease.release()
        if dialer is not None:
            await dialer.close()
        await db.close()

    return [callbacks]
