"""`/readyz`: the state of each dependency, and whether the server can serve calls.

- `ready` (200): every dependency is ok.
- `degraded` (200, still serving): calls are served but something is wrong that an operator must
  see: the journal spools records the store refuses (nothing is lost while the spool lasts) or
  is down, the customer directory does not answer (callers are routed on without it), the rate
  limits' counters fail (attempts go on unlimited).
- `unavailable` (503): calls cannot be served at all: the session store is down or refuses writes.
- `draining` (503): the server is stopping and takes no new calls.

The JSON names each dependency with its own `state`: `session_store` (and its role, from its
`health()`), `directory`, `journal` (ok / spooling / down / no_spool, with the records pending,
spooled and what the store had lost and the migrations recreated), `payment_processor` (ok /
down), `limits` (ok, or down while the rate limits' counters fail and attempts go on unlimited:
degraded, still serving), and what features add (`MORE_PROBES`: `otp_provider`, `step_ups`,
the callback store `callbacks`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ivr.directory.port import CustomerDirectory
from ivr.payments.processor import PaymentProcessor
from ivr.web.keys import DRAIN, GUARD, RUNTIME, STORE

_log = logging.getLogger(__name__)

JournalHealth = Callable[[], dict[str, Any]]
JOURNAL_HEALTH: web.AppKey[JournalHealth] = web.AppKey("journal_health")
# More dependencies a feature mounts (the one-time code provider, the step-up store): name ->
# an async probe answering {"state": "ok" | "down", ...}; "down" degrades the server.
Probe = Callable[[], Awaitable[dict[str, Any]]]
MORE_PROBES: web.AppKey[dict[str, Probe]] = web.AppKey("more_probes")
DIRECTORY_PROBE_S = 1.0  # a directory that takes longer than this to answer is "down" here
DIRECTORY_CACHE_S = 2.0  # readiness probes every few seconds: ask the directory at most this often
PROBE_ACCOUNT = "0"  # an account number no customer has: a lookup that changes nothing


class DirectoryProbe:
    """Asks the directory a harmless question, at most every DIRECTORY_CACHE_S, under a
    deadline; logs a change of state once (not once per probe)."""

    def __init__(self) -> None:
        self._at = 0.0
        self._state: dict[str, Any] = {"state": "ok"}

    async def state(self, directory: CustomerDirectory) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._at < DIRECTORY_CACHE_S:
            return self._state
        self._at = now
        try:
            await asyncio.wait_for(directory.lookup_by_account(PROBE_ACCOUNT), DIRECTORY_PROBE_S)
            state: dict[str, Any] = {"state": "ok"}
        except TimeoutError:
            state = {"state": "down", "detail": "no answer within the probe's deadline"}
        except Exception as error:  # whatever the directory raises, readiness answers
            state = {"state": "down", "detail": type(error).__name__}
        if state["state"] != self._state["state"]:
            _log.warning("customer directory: %s -> %s", self._state["state"], state["state"])
        self._state = state
        return state


DIRECTORY_PROBE: web.AppKey[DirectoryProbe] = web.AppKey("directory_probe")


class ProcessorProbe:
    """Asks the payment processor whether it answers, at most every DIRECTORY_CACHE_S; a
    processor that is down degrades the server (payment steps route callers on)."""

    def __init__(self) -> None:
        self._at = 0.0
        self._state: dict[str, Any] = {"state": "ok"}

    async def state(self, processor: PaymentProcessor) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._at < DIRECTORY_CACHE_S:
            return self._state
        self._at = now
        try:
            up = await asyncio.wait_for(processor.ready(), DIRECTORY_PROBE_S)
            state: dict[str, Any] = {"state": "ok" if up else "down", "processor": processor.name}
        except TimeoutError:
            state = {"state": "down", "detail": "no answer within the probe's deadline"}
        except Exception as error:
            state = {"state": "down", "detail": type(error).__name__}
        if state["state"] != self._state["state"]:
            _log.warning("payment processor: %s -> %s", self._state["state"], state["state"])
        self._state = state
        return state


PROCESSOR_PROBE: web.AppKey[ProcessorProbe] = web.AppKey("processor_probe")


async def session_store_state(app: web.Application) -> dict[str, Any]:
    """The session store's own health (state, kind, role) where it reports one, else a ping."""
    store = app[STORE]
    health = getattr(store, "health", None)
    if health is not None:
        report = await health()
        as_dict: dict[str, Any] = report.as_dict()
        return as_dict
    return {"state": "ok" if await store.ping() else "down"}


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    drain = app[DRAIN]
    if drain.draining:
        return web.json_response({"status": "draining", "calls": drain.busy()}, status=503)
    probe = app[DIRECTORY_PROBE]
    runtime = app[RUNTIME]
    dependencies: dict[str, dict[str, Any]] = {
        "session_store": await session_store_state(app),
        "directory": await probe.state(runtime.directory),
    }
    payments = runtime.engine.payments
    if payments is not None:
        dependencies["payment_processor"] = await app[PROCESSOR_PROBE].state(
            payments.settings.processor
        )
    journal = app.get(JOURNAL_HEALTH)
    dependencies["journal"] = journal() if journal is not None else {"state": "off"}
    guard = app.get(GUARD)
    dependencies["limits"] = await guard.health() if guard is not None else {"state": "off"}
    for name, more in app.get(MORE_PROBES, {}).items():
        dependencies[name] = await more()
    if dependencies["session_store"]["state"] != "ok":
        status, code = "unavailable", 503
    elif any(dep["state"] not in ("ok", "off") for dep in dependencies.values()):
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    body = {"status": status, "dependencies": dependencies, "flows": runtime.versions()}
    return web.json_response(body, status=code)
