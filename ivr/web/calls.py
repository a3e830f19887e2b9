"""The call-handling core shared by every adapter: one webhook in, one document out.

Order of work for each request: read the body (size-limited), let the adapter verify and
parse it (400/403 change nothing), take the call (a per-call asyncio lock in this process,
the store's lease across processes), drop a redelivery by returning the stored answer, run
the engine under the webhook budget, journal, render, save the state together with the
answer it produced, release. An unknown call, a lost lease or a store failure answers with
the adapter's send-to-agent document: a caller never gets a 5xx.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from aiohttp import web

from ivr.adapters.base import Adapter, BadRequest, Inbound, RenderContext, Unauthorized
from ivr.engine.actions import Action, PromptRef
from ivr.engine.events import CallStarted
from ivr.engine.runtime import Engine, Turn
from ivr.engine.state import CallState
from ivr.journal.records import JournalRecord, RecordKind
from ivr.sessions.base import ENDED_TTL_S, Lease, SessionError, SessionStore
from ivr.web import metrics
from ivr.web.fallback import new_state, to_agent
from ivr.web.logs import now_ms

_log = logging.getLogger("ivr.calls")


class JournalSink(Protocol):
    def write(self, records: list[JournalRecord]) -> None: ...


class RendersSummary(Protocol):
    """An adapter whose documents carry the call summary (the JSON protocol does)."""

    def render_call(
        self, actions: Sequence[Action], context: RenderContext, call: Mapping[str, Any] | None
    ) -> web.Response: ...


class CallLocks:
    """One asyncio lock per call id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, call_id: str) -> Any:
        lock, users = self._locks.get(call_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[call_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[call_id]
            if users == 1:
                del self._locks[call_id]
            else:
                self._locks[call_id] = (lock, users - 1)


def call_summary(state: CallState) -> dict[str, Any]:
    return {
        "idv_status": state.idv_status,
        "customer_id": state.customer_id,
        "attempts": dict(state.attempts),
        "flow": state.flow_id,
        "flow_version": state.flow_version,
        "ended": state.ended,
        "route": state.route,
    }


_STATE_FIELDS = tuple(field.name for field in dataclasses.fields(CallState))


def state_dict(state: CallState) -> dict[str, Any]:
    """CallState as plain data for the store, without `asdict`'s deep copy (~10x faster):
    the store serialises it at once, so sharing the nested containers is safe."""
    data = {name: getattr(state, name) for name in _STATE_FIELDS}
    data["stack"] = [dataclasses.asdict(frame) for frame in state.stack]
    return data


def _stored(response: web.Response) -> dict[str, Any]:
    body = response.body
    text = body.decode() if isinstance(body, bytes | bytearray) else ""
    return {"status": response.status, "type": response.content_type, "body": text}


def _replay(stored: Mapping[str, Any]) -> web.Response:
    return web.Response(status=stored["status"], text=stored["body"], content_type=stored["type"])


class CallService:
    def __init__(
        self,
        engine: Callable[[], Engine],
        store: SessionStore,
        journal: JournalSink | None,
        *,
        public_url: str | None,
        response_deadline_s: float,
        lock_wait_s: float,
        session_ttl_s: int,
    ) -> None:
        self._engine = engine
        self.store = store
        self.journal = journal
        self.public_url = public_url.rstrip("/") if public_url else None
        self.deadline_s = response_deadline_s
        self.lock_wait_s = lock_wait_s
        self.ttl_s = session_ttl_s
        self.locks = CallLocks()
        # which recordings are served at /prompts/<path>: a prompt is played from a URL only
        # when its audio is there, and spoken from its text otherwise (never a 404 mid-call)
        self.served_audio: Callable[[str], bool] = lambda _path: False
        self.active: set[str] = set()  # calls started here and not ended (drain waits on them)
        self.in_flight = 0

    def handler(self, adapter: Adapter) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await self.handle(adapter, request)

        return handle

    async def handle(self, adapter: Adapter, request: web.Request) -> web.Response:
        started = time.perf_counter()
        self.in_flight += 1
        try:
            response, log = await self._handle(adapter, request)
        except Exception as error:  # a bug must still leave the caller with somewhere to go
            _log.error("unexpected error handling a webhook: %s", type(error).__name__)
            log = {"adapter": adapter.name, "result": "error"}
            response = adapter.render_to_agent(self._context(adapter, request, "", ""))
        finally:
            self.in_flight -= 1
        elapsed = time.perf_counter() - started
        metrics.child(metrics.LATENCY, adapter.name).observe(elapsed)
        log["ms"] = now_ms(started)
        log["status"] = response.status
        _log.info("webhook", extra=log)
        return response

    async def _handle(
        self, adapter: Adapter, request: web.Request
    ) -> tuple[web.Response, dict[str, Any]]:
        log: dict[str, Any] = {"adapter": adapter.name}
        try:
            body = await request.read()
            inbound = await adapter.parse(request, body)
        except web.HTTPRequestEntityTooLarge:
            return self._reject(adapter, 413, "body too large", log)
        except BadRequest as error:
            return self._reject(adapter, 400, str(error), log)
        except Unauthorized as error:
            return self._reject(adapter, 403, str(error), log)
        kind = type(inbound.event).__name__
        call_id = inbound.event.call_id
        log.update(call_id=call_id, event=kind)
        async with self.locks.hold(call_id):
            try:
                lease = await self.store.acquire(call_id, self.lock_wait_s)
            except SessionError as error:
                return self._store_failed(adapter, request, call_id, error, log), log
            committed = False
            try:
                response, committed = await self._apply(adapter, request, inbound, lease, log)
                return response, log
            except SessionError as error:
                return self._store_failed(adapter, request, call_id, error, log), log
            finally:
                if not committed:
                    await self.store.release(lease)

    def _store_failed(
        self,
        adapter: Adapter,
        request: web.Request,
        call_id: str,
        error: SessionError,
        log: dict[str, Any],
    ) -> web.Response:
        _log.error("session store: %s", type(error).__name__, extra={"call_id": call_id})
        log["result"] = "store_unavailable"
        return adapter.render_to_agent(self._context(adapter, request, call_id, ""))

    async def _apply(
        self,
        adapter: Adapter,
        request: web.Request,
        inbound: Inbound,
        lease: Lease,
        log: dict[str, Any],
    ) -> tuple[web.Response, bool]:
        event, key = inbound.event, inbound.delivery_key
        engine = self._engine()
        state = CallState.from_dict(lease.data) if lease.data is not None else None
        if state is not None:
            log["flow_version"] = state.flow_version
            if state.last_event_key == key and state.last_response is not None:
                metrics.child(metrics.DUPLICATES, adapter.name).inc()
                log["result"] = "duplicate"
                return _replay(state.last_response), False
        if isinstance(event, CallStarted):
            if state is not None:  # the same call started again under another event id
                log["result"] = "already_started"
                context = self._context(adapter, request, event.call_id, state.language)
                return self._render(adapter, [], context, state), False
            work: Awaitable[Turn] = engine.start_call(event)
            fallback: Callable[[], CallState] = lambda: new_state(engine, event)  # noqa: E731
        elif state is None:
            metrics.child(metrics.UNKNOWN_CALLS, adapter.name).inc()
            log["result"] = "unknown_call"
            _log.warning("event for an unknown or lost call", extra={"call_id": event.call_id})
            return adapter.render_to_agent(
                self._context(adapter, request, event.call_id, "")
            ), False
        elif state.ended:
            log["result"] = "after_end"
            context = self._context(adapter, request, event.call_id, state.language)
            return self._render(adapter, [], context, state), False
        else:
            before = lease.data
            assert before is not None
            work = engine.handle(state, event)
            fallback = lambda: CallState.from_dict(before)  # noqa: E731
        try:
            async with asyncio.timeout(self.deadline_s):
                turn = await work
        except TimeoutError:
            metrics.OVERRUNS.inc()
            log["result"] = "deadline"
            _log.warning("event overran the response deadline", extra={"call_id": event.call_id})
            turn = to_agent(engine, fallback(), "response deadline")
        metrics.child(metrics.EVENTS, adapter.name, log["event"]).inc()
        self._account(turn, log)
        if self.journal is not None and turn.records:
            self.journal.write(turn.records)
        context = self._context(adapter, request, event.call_id, turn.state.language)
        response = self._render(adapter, turn.actions, context, turn.state)
        turn.state.last_event_key = key
        turn.state.last_response = _stored(response)
        ttl = ENDED_TTL_S if turn.state.ended else self.ttl_s
        if not await self.store.commit(lease, state_dict(turn.state), ttl):
            log["result"] = "lease_lost"
            _log.error("lost the call's lease; answer not saved", extra={"call_id": event.call_id})
            return adapter.render_to_agent(context), True
        return response, True

    def _account(self, turn: Turn, log: dict[str, Any]) -> None:
        """Metrics and the log line's step and outcome, from the turn's journal records."""
        state = turn.state
        for record in turn.records:
            if record.kind is RecordKind.STEP_OUTCOME and record.step is not None:
                metrics.child(
                    metrics.OUTCOMES, record.step, metrics.outcome_label(record.outcome)
                ).inc()
                log["step"], log["outcome"] = record.step, metrics.outcome_label(record.outcome)
            elif record.kind is RecordKind.CALL_STARTED:
                self.active.add(state.call_id)
                metrics.ACTIVE_CALLS.inc()
            elif record.kind is RecordKind.CALL_ENDED:
                metrics.child(
                    metrics.CALLS_ENDED, state.ended_by or "", state.idv_status or ""
                ).inc()
                metrics.ACTIVE_CALLS.dec()  # per process: sum over workers for the service
                self.active.discard(state.call_id)
                log["ended"] = state.ended_by
        log.setdefault("step", state.step)

    def _render(
        self,
        adapter: Adapter,
        actions: Sequence[Action],
        context: RenderContext,
        state: CallState,
    ) -> web.Response:
        render_call = getattr(adapter, "render_call", None)  # RendersSummary, without the
        if render_call is not None:  # cost of a runtime Protocol check on every request
            response: web.Response = render_call(actions, context, call_summary(state))
            return response
        return adapter.render(actions, context)

    def _context(
        self, adapter: Adapter, request: web.Request, call_id: str, language: str
    ) -> RenderContext:
        base = self.public_url or f"{request.scheme}://{request.host}"
        # gateways post the caller's input back to the second path (twilio gather, jambonz
        # action); a one-path adapter (json) takes everything at its only path
        path = (
            getattr(adapter, "action_path", None) or adapter.paths[min(1, len(adapter.paths) - 1)]
        )

        def prompt_url(ref: PromptRef) -> str | None:
            path = f"{language}/{ref.prompt_id}.wav"
            if ref.audio is None or not self.served_audio(path):
                return None
            return f"{base}/prompts/{path}"

        return RenderContext(call_id, language, f"{base}/{adapter.name}/{path}", prompt_url)

    def _reject(
        self, adapter: Adapter, status: int, reason: str, log: dict[str, Any]
    ) -> tuple[web.Response, dict[str, Any]]:
        label = {400: "malformed", 403: "unauthorized", 413: "too_large"}[status]
        metrics.child(metrics.REJECTED, adapter.name, label).inc()
        log["result"] = label
        return web.json_response({"error": reason}, status=status), log
