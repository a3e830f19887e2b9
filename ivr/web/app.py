"""The aiohttp application factory: `create_app(settings)` gives a ready-to-run server.

Resources live in `cleanup_ctx` generators, opened in order at startup and closed in reverse
at shutdown: the running project (engine and directory), the session store, the journal
writer, then the call pipeline that uses them. Every key is typed (ivr.web.keys).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ivr.callbacks.web import callback_contexts
from ivr.calls import CallPipeline, JournalSink
from ivr.limits.counters import MemoryCounters, RedisCounters
from ivr.limits.guard import AbuseGuard
from ivr.sessions import open_session_store
from ivr.stepup.web import stepup_contexts
from ivr.web import admin, tokens
from ivr.web.adapters import default_adapters, jambonz_ws_adapter
from ivr.web.calls import mount
from ivr.web.drain import Drain
from ivr.web.health import (
    DIRECTORY_PROBE,
    JOURNAL_HEALTH,
    PROCESSOR_PROBE,
    DirectoryProbe,
    ProcessorProbe,
    readyz,
)
from ivr.web.keys import ADAPTERS, CALLS, DRAIN, GUARD, RUNTIME, SETTINGS, STORE
from ivr.web.metrics import metrics_handler
from ivr.web.openapi import openapi_handler
from ivr.web.reload import Runtime
from ivr.web.security_headers import protect
from ivr.web.settings import ServeSettings
from ivr.web.shedding import ShedLimits, shed_abuse

if TYPE_CHECKING:
    from ivr.journal.store import JournalStore

_log = logging.getLogger(__name__)
JOURNAL: web.AppKey[JournalSink | None] = web.AppKey("journal")
JOURNAL_STORE: web.AppKey[JournalStore] = web.AppKey("journal_store")
Context = Callable[[web.Application], AsyncIterator[None]]


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # rate limits and fair lockout; its counters move to Redis in _limits when shared
    guard = app[GUARD] = AbuseGuard(MemoryCounters(), settings.env.answer_key())
    runtime = await Runtime.open(
        settings.project,
        settings.directory,
        settings.operation_deadline_s,
        settings.env,
        guard,
    )
    app[RUNTIME] = runtime
    yield
    await runtime.close()


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = await open_session_store(
        settings.redis_url, settings.redis_prefix, client=settings.redis_client
    )
    app[STORE] = store
    yield
    await store.close()


async def _limits(app: web.Application) -> AsyncIterator[None]:
    """Rate-limit counters in Redis when the workers share calls there, whatever its topology
    (standalone, Sentinel, Cluster; opened once the session store has checked the URL), so
    every worker counts the same attempts."""
    settings = app[SETTINGS]
    guard = app[GUARD]
    if settings.redis_url:
        guard.counters = RedisCounters.from_url(
            settings.redis_url, f"{settings.redis_prefix}limits:"
        )
        await guard.warm_up()
    yield
    await guard.counters.close()


async def _calls(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    runtime = app[RUNTIME]
    calls = CallPipeline(
        runtime,
        app[STORE],
        app.get(JOURNAL),
        response_deadline_s=settings.response_deadline_s,
        lock_wait_s=settings.lock_wait_s,
        session_ttl_s=settings.session_ttl_s,
    )
    calls.flow_versions = runtime
    app[CALLS] = calls
    app[DRAIN] = Drain(calls, settings.drain_limit_s)
    yield


async def _flow_versions(app: web.Application) -> AsyncIterator[None]:
    """Where this worker publishes its flow versions and finds the ones others published:
    Redis when calls are shared through it (and redis-py is installed), else the journal
    database; neither with one process and no journal (no other worker to meet)."""
    from ivr.flow_versions import FlowVersionStore, JournalFlowVersions, RedisFlowVersions

    settings = app[SETTINGS]
    store: FlowVersionStore | None = None
    redis_url = settings.redis_url or ""
    if redis_url.startswith(("redis://", "rediss://")) and importlib.util.find_spec("redis"):
        store = RedisFlowVersions.from_url(redis_url, settings.redis_prefix)
    elif JOURNAL_STORE in app:
        store = JournalFlowVersions(app[JOURNAL_STORE])
    if store is not None:
        await app[RUNTIME].share(store)
    yield
    if store is not None:
        await store.close()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: ServeSettings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body)
    protect(app)
    shed_abuse(app, shed_limits(settings), settings.max_body)
    app[SETTINGS] = settings
    app[DIRECTORY_PROBE] = DirectoryProbe()
    app[PROCESSOR_PROBE] = ProcessorProbe()
    adapters = (
        list(settings.adapters) if settings.adapters is not None else default_adapters(settings)
    )
    app[ADAPTERS] = adapters
    contexts: list[Context] = [_runtime, _store, _limits]
    journal = _journal_context(app, settings)
    if journal is not None:
        contexts.append(journal)
    contexts += [_flow_versions, _calls]
    contexts.extend(callback_contexts(app, settings))
    contexts.extend(stepup_contexts(app, settings))
    app.cleanup_ctx.extend(contexts)
    for adapter in adapters:
        mount(app, adapter, settings.public_url)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/openapi.json", openapi_handler)
    app.router.add_post("/admin/reload", admin.reload_handler)
    app.router.add_post("/idv/tokens/verify", tokens.verify_token)
    _mount_prompts(app, settings)
    _mount_jambonz_ws(app, settings)
    return app


def shed_limits(settings: ServeSettings) -> ShedLimits:
    return ShedLimits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        keepalive_s=settings.keepalive_s,
        max_connections=settings.max_connections,
    )


def _mount_jambonz_ws(app: web.Application, settings: ServeSettings) -> None:
    """jambonz's WebSocket API at /jambonz/ws, only with the application's credentials."""
    credentials = settings.env.jambonz_ws_credentials()
    if credentials is None:
        _log.info("jambonz WebSocket API not served: its user name and password are not set")
        return
    from ivr.web import jambonz_ws

    username, password = credentials
    jambonz_ws.mount(app, jambonz_ws_adapter(settings), username, password, settings.public_url)


def journal_views_served(settings: ServeSettings) -> bool:
    """Whether the server answers /reports, /calls and /dashboard: a journal and a key are set."""
    return bool(settings.journal_url and settings.reports_key)


def _journal_context(app: web.Application, settings: ServeSettings) -> Context | None:
    """The journal writer, and its reports, live calls and dashboard when a reports key is set."""
    if not settings.journal_url:
        app[JOURNAL] = None
        return None
    from ivr.journal.hub import JournalHub
    from ivr.journal.process_writer import ProcessJournalWriter
    from ivr.journal.reconnecting import ReconnectingStore
    from ivr.web.journal_unavailable import journal_unavailable

    app.middlewares.append(journal_unavailable)
    hub = JournalHub()
    if settings.reports_key:
        from ivr.journal.http import add_journal_routes
        from ivr.web.flow_source import RuntimeFlows

        # Routes are added now, the store opens at startup: handlers ask for it per request.
        flows = RuntimeFlows(lambda: app[RUNTIME])
        add_journal_routes(app, lambda: app[JOURNAL_STORE], hub, settings.reports_key, flows=flows)
    url = settings.journal_url

    async def context(app: web.Application) -> AsyncIterator[None]:
        # reports read here; opening also creates or migrates the schema. A store that is down
        # does not stop the server: calls are taken, their records spooled by the worker, and
        # the store opens on a later read (docs/journal.md)
        store = ReconnectingStore(url)
        if not await store.open():
            _log.error("starting without the journal store: records are spooled until it is back")
        app[JOURNAL_STORE] = store
        # Writes go through a worker process: folding and inserts stay off the engine's GIL.
        writer = ProcessJournalWriter(
            url,
            hub,
            spool_dir=str(settings.env.journal_spool_dir),
            spool_max_bytes=settings.env.journal_spool_max_bytes,
        )
        writer.start()
        app[JOURNAL] = writer
        app[JOURNAL_HEALTH] = writer.health
        bus = None
        if settings.redis_url:  # workers share calls: share the live view too (every call whole)
            from ivr.journal.live_bus import LiveBus

            channel = f"{settings.redis_prefix}journal:live"
            # Every worker publishes; only one that serves the live views needs the others'.
            bus = LiveBus(settings.redis_url, hub, channel, listen=bool(settings.reports_key))
            await bus.start()
        yield
        if bus is not None:
            await bus.close()
        await writer.close()
        await store.close()

    return context


def _mount_prompts(app: web.Application, settings: ServeSettings) -> None:
    if importlib.util.find_spec("ivr.prompts.serve") is None:
        return
    from ivr.prompts.serve import PromptFiles, create_prompt_routes

    try:
        files = PromptFiles(settings.prompts_build)
    except (OSError, ValueError) as error:
        _log.warning("prompt audio not served: %s", type(error).__name__)
        return
    app.router.add_routes(create_prompt_routes(settings.prompts_build, files=files))

    async def reload_with_flows(app: web.Application) -> AsyncIterator[None]:
        app[RUNTIME].hooks.append(lambda: asyncio.to_thread(files.reload))
        app[CALLS].served_audio = lambda path: files.get(path) is not None
        yield

    app.cleanup_ctx.append(reload_with_flows)
