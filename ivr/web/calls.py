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
import operator
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from ivr.adapters.base import Adapter, BadRequest, Inbound, RenderContext, Unauthorized
from ivr.engine.actions import Action, PromptRef
from ivr.engine.events import CallStarted
from ivr.engine.operate import within
from ivr.engine.runtime import Engine, Turn
from ivr.engine.state import CallState
from ivr.journal.records import JournalRecord, RecordKind
from ivr.sessions.base import COMMIT_RESERVE_S, ENDED_TTL_S, Lease, SessionError, SessionStore
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
    """Serialises each call's events in this process, in arrival order.

    A call nobody holds is taken at once, with no lock object and no await (the usual case:
    a gateway sends a call's events one after another); a later event waits on a future of
    its own. The entry is dropped when nobody holds or waits for the call. `take` and
    `release` rather than a context manager: an async context manager costs two coroutines
    per event.
    """

    def __init__(self) -> None:
        # call id -> the events waiting for it, present while some event holds the call
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def take(self, call_id: str) -> asyncio.Future[None] | None:
        """None: the call is now held by the caller. A future: await it, then the call is
        held; a caller cancelled while waiting must call `abandon`."""
        queue = self._waiting.get(call_id)
        if queue is None:
            self._waiting[call_id] = deque()
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        return waiter

    def abandon(self, call_id: str, waiter: asyncio.Future[None]) -> None:
        """A waiter gave up (cancelled): if the call was already handed to it, pass it on."""
        if waiter.done() and not waiter.cancelled():
            self.release(call_id)
            return
        waiter.cancel()
        queue = self._waiting.get(call_id)
        if queue is not None and waiter in queue:
            queue.remove(waiter)

    def release(self, call_id: str) -> None:
        """Hand the call to the next waiting event, or forget it when none waits."""
        queue = self._waiting[call_id]
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        del self._waiting[call_id]

    def __len__(self) -> int:
        """Calls held or waited for (tests: nothing is left behind)."""
        return len(self._waiting)


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
_state_values: Callable[[CallState], tuple[Any, ...]] = operator.attrgetter(*_STATE_FIELDS)


def state_dict(state: CallState) -> dict[str, Any]:
    """CallState as plain data for the store, without `asdict`'s deep copy (~10x faster):
    the store serialises it at once, so sharing the nested containers is safe. The fields are
    read by one C attrgetter (~5 -> ~1.5 µs)."""
    data = dict(zip(_STATE_FIELDS, _state_values(state), strict=True))
    if state.stack:
        data["stack"] = [dataclasses.asdict(frame) for frame in state.stack]
    else:
        data["stack"] = []
    return data


_CONTENT_TYPES: dict[str, str] = {}  # Content-Type header -> its media type, parsed once


def _stored(response: web.Response) -> dict[str, Any]:
    body = response.body
    text = body.decode() if isinstance(body, bytes | bytearray) else ""
    header = response.headers.get("Content-Type", "")
    media_type = _CONTENT_TYPES.get(header)
    if media_type is None:
        media_type = response.content_type  # aiohttp's parse, ~1.4 µs: once per header text
        if len(_CONTENT_TYPES) < 64:
            _CONTENT_TYPES[header] = media_type
    return {"status": response.status, "type": media_type, "body": text}


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
        self._urls: dict[tuple[str, str, str], tuple[str, Callable[[PromptRef], str | None]]] = {}
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
        # one deadline for the webhook's store work: the engine's deadline plus the commit's
        deadline = asyncio.get_running_loop().time() + self.deadline_s + COMMIT_RESERVE_S
        locks = self.locks
        waiter = locks.take(call_id)
        if waiter is not None:
            try:
                await waiter
            except BaseException:
                locks.abandon(call_id, waiter)
                raise
        try:
            try:
                lease = await self.store.acquire(call_id, self.lock_wait_s, deadline=deadline)
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
        finally:
            locks.release(call_id)

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
            # the timer is armed only if the engine waits (a directory in memory never does);
            # the deadline counts from here either way
            turn = await within(self._engine_budget(lease), work)
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

    def _engine_budget(self, lease: Lease) -> float:
        """The engine's deadline, less what waiting for the call's lock already took."""
        if lease.deadline is None:
            return self.deadline_s
        left = lease.deadline - COMMIT_RESERVE_S - asyncio.get_running_loop().time()
        return max(0.0, min(self.deadline_s, left))

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
        urls = self._urls.get((adapter.name, base, language))
        if urls is None:
            urls = self._context_urls(adapter, base, language)
        return RenderContext(call_id, language, urls[0], urls[1])

    def _context_urls(
        self, adapter: Adapter, base: str, language: str
    ) -> tuple[str, Callable[[PromptRef], str | None]]:
        """An adapter's action URL and prompt URLs for one base URL and language, built once:
        they are the same for every request of that host and language."""
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

        urls = (f"{base}/{adapter.name}/{path}", prompt_url)
        if len(self._urls) < 256:  # hosts and languages are few; a bad Host header is not kept
            self._urls[(adapter.name, base, language)] = urls
        return urls

    def _reject(
        self, adapter: Adapter, status: int, reason: str, log: dict[str, Any]
    ) -> tuple[web.Response, dict[str, Any]]:
        label = {400: "malformed", 403: "unauthorized", 413: "too_large"}[status]
        metrics.child(metrics.REJECTED, adapter.name, label).inc()
        log["result"] = label
        return web.json_response({"error": reason}, status=status), log
