"""The call pipeline: one gateway delivery in, one document out, whatever the transport.

Order of work for each delivery: let the adapter verify and parse it (400/403 change nothing),
take the call (a per-call lock in this process, the store's lease across processes), answer
a redelivery with the document it first got, run the engine under the response deadline,
journal, render, save the state together with the answer it produced, release. An unknown
call, a lost lease or a store failure answers with the adapter's send-to-agent document: a
caller never gets a 5xx. No web framework here: transports (ivr.web for HTTP) move the bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import operator
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ivr.adapters.base import (
    Adapter,
    BadRequest,
    Document,
    Headers,
    Inbound,
    RenderContext,
    Unauthorized,
)
from ivr.calls import metrics
from ivr.calls.locks import CallLocks
from ivr.engine.actions import Action, PromptRef
from ivr.engine.events import CallStarted
from ivr.engine.operate import within
from ivr.engine.runtime import Engine, Turn
from ivr.engine.secure_session import with_agent
from ivr.engine.state import CallState
from ivr.journal.faults import FAULT_OUTCOMES, fault_cause
from ivr.journal.records import JournalRecord, RecordKind
from ivr.sessions.base import COMMIT_RESERVE_S, ENDED_TTL_S, Lease, SessionError, SessionStore

_log = logging.getLogger("ivr.calls")
T = TypeVar("T")

MAX_ANSWERS = 512  # deliveries remembered per call; far more than any flow's steps


class JournalSink(Protocol):
    def write(self, records: list[JournalRecord]) -> None: ...


class FlowVersions(Protocol):
    """Flow versions this worker may not have loaded (ivr.web.reload.Runtime)."""

    def missing(self, state: CallState) -> list[tuple[str, str]]: ...

    async def fetch(self, keys: list[tuple[str, str]]) -> bool: ...


async def _on_version(
    versions: FlowVersions,
    missing: list[tuple[str, str]],
    work: Coroutine[Any, Any, Turn],
    engine: Engine,
    state: CallState,
) -> Turn:
    """Run `work` once the call's flow versions are loaded; else route the caller on."""
    if await versions.fetch(missing):
        return await work
    work.close()
    return engine.route_to_agent(state, "flow version not published")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One gateway request as a transport received it."""

    kind: str  # which of the adapter's request kinds (the route it came in on)
    base_url: str  # the public scheme://host[/prefix] the gateway calls us by
    url: str  # base_url + the path and query exactly as requested (some gateways sign it)
    headers: Headers
    body: bytes


class EngineSource(Protocol):
    """Where the current engine is (a hot reload swaps it between two deliveries)."""

    engine: Engine


@dataclass(frozen=True, slots=True)
class Amended(Generic[T]):
    """What an amendment of a call gives: its answer, and the state and records to save
    (state None: nothing changed, nothing saved)."""

    answer: T
    state: CallState | None = None
    records: list[JournalRecord] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the transport sends back: a status and the document."""

    status: int
    document: Document


def _error(reason: str) -> Document:
    return Document("application/json; charset=utf-8", b'{"error":"%s"}' % reason.encode())


_REJECTED = {400: "malformed", 403: "unauthorized", 413: "too_large"}


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
    """CallState as plain data for the store, without `asdict`'s deep copy: the store
    serialises it at once, so sharing the nested containers is safe."""
    data = dict(zip(_STATE_FIELDS, _state_values(state), strict=True))
    data["stack"] = [dataclasses.asdict(frame) for frame in state.stack] if state.stack else []
    return data


class CallPipeline:
    """Lock, load, replay or apply, journal, render, store, unlock: one delivery at a time per
    call, exactly once per delivery, across every worker sharing the session store."""

    def __init__(
        self,
        engines: EngineSource,
        store: SessionStore,
        journal: JournalSink | None,
        *,
        response_deadline_s: float,
        lock_wait_s: float,
        session_ttl_s: int,
    ) -> None:
        self._engines = engines
        self.store = store
        self.journal = journal
        self.deadline_s = response_deadline_s
        self.lock_wait_s = lock_wait_s
        self.ttl_s = session_ttl_s
        self.locks = CallLocks()
        # which recordings are served at /prompts/<path>: a prompt is played from a URL only
        # when its audio is there, and spoken from its text otherwise (never a 404 mid-call)
        self.served_audio: Callable[[str], bool] = lambda _path: False
        # the last change to a document on its way out, never stored (callback secrets: the
        # stored document keeps a marker, only the bytes sent carry the secret); it gets the
        # call id too, so what is revealed can be bound to the call it was made for
        self.outgoing: Callable[[Document, str], Awaitable[Document]] | None = None
        self.active: set[str] = set()  # calls started here and not ended (drain waits on them)
        self.in_flight = 0
        self.flow_versions: FlowVersions | None = None  # fetches versions other workers publish
        # told of each secure session that ends, once its call is saved (the agent's webhook)
        self.secure_settled: Callable[[str, dict[str, Any]], None] | None = None
        self._metrics: dict[str, metrics.GatewayMetrics] = {}  # by adapter name
        self._urls: dict[tuple[str, str, str], tuple[str, Callable[[PromptRef], str | None]]] = {}

    # -- entry points ----------------------------------------------------------------------

    async def handle(self, adapter: Adapter, delivery: Delivery) -> Reply:
        """Parse and apply one delivery; the reply is what the gateway gets back."""
        try:
            inbound = adapter.parse(delivery.kind, delivery.url, delivery.headers, delivery.body)
        except BadRequest as error:
            return self.reject(adapter, 400, str(error))
        except Unauthorized as error:
            return self.reject(adapter, 403, str(error))
        except Exception as error:  # a bug in an adapter: the caller still goes somewhere
            _log.error("unexpected error parsing a webhook: %s", type(error).__name__)
            context = self._context(adapter, delivery.base_url, "", "")
            return Reply(200, adapter.render_to_agent(context))
        return await self.apply(adapter, inbound, delivery.base_url)

    async def apply(self, adapter: Adapter, inbound: Inbound, base_url: str) -> Reply:
        """Apply an authenticated, parsed delivery (transports that parse messages themselves
        call this directly); answers are rendered by `adapter` under `base_url`.

        The call is held while it is applied: in this process by its lock (events of one call
        in arrival order), across processes by the session store's lease.
        """
        started = time.perf_counter()
        gateway = self._metrics.get(adapter.name) or self._bind(adapter.name)
        call_id = inbound.event.call_id
        log: dict[str, Any] = {"adapter": adapter.name, "call_id": call_id}
        log["event"] = type(inbound.event).__name__
        # one deadline for the delivery's store work: the engine's deadline plus the commit's
        deadline = asyncio.get_running_loop().time() + self.deadline_s + COMMIT_RESERVE_S
        self.in_flight += 1
        locks = self.locks
        try:
            waiter = locks.take(call_id)
            if waiter is not None:
                try:
                    await waiter
                except BaseException:
                    locks.abandon(call_id, waiter)
                    raise
            try:
                lease = await self.store.acquire(call_id, self.lock_wait_s, deadline=deadline)
                committed = False
                try:
                    document, committed = await self._apply(
                        adapter, gateway, inbound, base_url, lease, log
                    )
                finally:
                    if not committed:
                        await self.store.release(lease)
            except SessionError as error:
                document = self._store_failed(adapter, base_url, call_id, error, log)
            finally:
                locks.release(call_id)
        except Exception as error:  # a bug must still leave the caller with somewhere to go
            _log.error("unexpected error handling a webhook: %s", type(error).__name__)
            log["result"] = "error"
            document = adapter.render_to_agent(self._context(adapter, base_url, "", ""))
        finally:
            self.in_flight -= 1
        if self.outgoing is not None:
            document = await self.outgoing(document, call_id)
        elapsed = time.perf_counter() - started
        gateway.latency.observe(elapsed)
        log["ms"] = round(elapsed * 1000, 2)
        log["status"] = 200
        _log.info("webhook", extra=log)
        return Reply(200, document)

    def reject(self, adapter: Adapter, status: int, reason: str) -> Reply:
        """A delivery refused before touching any call (the client's fault: a warning)."""
        label = _REJECTED[status]
        metrics.child(metrics.REJECTED, adapter.name, label).inc()
        _log.warning(
            "webhook refused", extra={"adapter": adapter.name, "result": label, "status": status}
        )
        return Reply(status, _error(reason))

    def _bind(self, adapter: str) -> metrics.GatewayMetrics:
        bound = self._metrics[adapter] = metrics.GatewayMetrics(adapter)
        return bound

    # -- the call, held --------------------------------------------------------------------

    def _store_failed(
        self,
        adapter: Adapter,
        base_url: str,
        call_id: str,
        error: SessionError,
        log: dict[str, Any],
    ) -> Document:
        _log.error("session store: %s", type(error).__name__, extra={"call_id": call_id})
        log["result"] = "store_unavailable"
        metrics.child(metrics.FALLBACKS, "session_store").inc()
        return adapter.render_to_agent(self._context(adapter, base_url, call_id, ""))

    async def _apply(
        self,
        adapter: Adapter,
        gateway: metrics.GatewayMetrics,
        inbound: Inbound,
        base_url: str,
        lease: Lease,
        log: dict[str, Any],
    ) -> tuple[Document, bool]:
        """The document for the delivery, and whether the lease was committed (released)."""
        event, key = inbound.event, inbound.delivery_key
        engine = self._engines.engine
        state = CallState.from_dict(lease.data) if lease.data is not None else None
        if state is not None:
            log["flow_version"] = state.flow_version
            answered = state.answers.get(key)
            if answered is not None:  # a redelivery, the latest or any earlier: changes nothing
                gateway.duplicates.inc()
                log["result"] = "duplicate"
                return Document.from_stored(answered), False
        if isinstance(event, CallStarted):
            if state is not None:  # the same call started again under another delivery
                log["result"] = "already_started"
                return self._render(adapter, [], base_url, state), False
            work: Awaitable[Turn] = engine.start_call(event)
            fallback: Callable[[], CallState] = lambda: engine.new_call_state(event)  # noqa: E731
        elif state is None:
            gateway.unknown_calls.inc()
            metrics.child(metrics.FALLBACKS, "session_store").inc()  # its state is gone
            log["result"] = "unknown_call"
            _log.warning("event for an unknown or lost call", extra={"call_id": event.call_id})
            context = self._context(adapter, base_url, event.call_id, "")
            return adapter.render_to_agent(context), False
        elif state.ended and not engine.wants_after_end(state, event):
            log["result"] = "after_end"
            return self._render(adapter, [], base_url, state), False
        else:
            before = lease.data
            assert before is not None
            work = engine.handle(state, event)
            versions = self.flow_versions
            if versions is not None and (missing := versions.missing(state)):
                # a version another worker published (a rolling reload): load it, within the
                # deadline, or route the caller on if it cannot be had
                work = _on_version(versions, missing, work, engine, state)
            fallback = lambda: CallState.from_dict(before)  # noqa: E731
        # the engine's deadline, less what waiting for the call's lock already took
        budget = self.deadline_s
        if lease.deadline is not None:
            left = lease.deadline - COMMIT_RESERVE_S - asyncio.get_running_loop().time()
            budget = max(0.0, min(budget, left))
        try:
            turn = await within(budget, work)
        except TimeoutError:
            metrics.OVERRUNS.inc()
            log["result"] = "deadline"
            _log.warning("event overran the response deadline", extra={"call_id": event.call_id})
            turn = engine.route_to_agent(fallback(), "response deadline")
        gateway.events[log["event"]].inc()
        self._account(turn, log)
        if self.journal is not None and turn.records:
            self.journal.write(turn.records)
        document = self._render(adapter, turn.actions, base_url, turn.state)
        answers = turn.state.answers
        answers[key] = document.stored()
        if len(answers) > MAX_ANSWERS:  # a runaway call: forget its oldest delivery
            del answers[next(iter(answers))]
        if not turn.state.gateway:
            turn.state.gateway = adapter.name  # so an agent API knows how to reach the call
        after = turn.state
        # as `_ttl` says, written out: this is every webhook's path
        ttl = self.ttl_s if not after.ended or with_agent(after) else ENDED_TTL_S
        if not await self.store.commit(lease, state_dict(after), ttl):
            log["result"] = "lease_lost"
            metrics.child(metrics.FALLBACKS, "session_store").inc()
            _log.error("lost the call's lease; answer not saved", extra={"call_id": event.call_id})
            context = self._context(adapter, base_url, event.call_id, turn.state.language)
            return adapter.render_to_agent(context), True
        if after.secure is not None and self.secure_settled is not None:
            self._settled(turn)
        return document, True

    def _ttl(self, state: CallState) -> int:
        """An ended call is kept a while for late duplicates; one with an agent as long as a
        live call, so the agent can still send its caller into a secure session."""
        if not state.ended or with_agent(state):
            return self.ttl_s
        return ENDED_TTL_S

    def _settled(self, turn: Turn) -> None:
        """Tell `secure_settled` of a secure session that ended with this turn (once saved)."""
        hook = self.secure_settled
        session = turn.state.secure
        if hook is None or session is None:
            return
        for record in turn.records:
            if record.data.get("operation") == "secure_session.end":
                hook(turn.state.call_id, session)

    async def amend(
        self, call_id: str, change: Callable[[CallState | None], Awaitable[Amended[T]]]
    ) -> Amended[T]:
        """Change a call from outside its gateway's deliveries (an agent's API), held exactly as
        a delivery holds it: its lock here, the store's lease across processes. `change` gets
        the saved state (None: unknown) and says what to save and journal; a refusal it
        raises leaves the call as it was. SessionError when the store fails."""
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
            lease = await self.store.acquire(call_id, self.lock_wait_s, deadline=deadline)
            committed = False
            try:
                state = CallState.from_dict(lease.data) if lease.data is not None else None
                amended = await change(state)
                if amended.state is not None:
                    data = state_dict(amended.state)
                    if not await self.store.commit(lease, data, self._ttl(amended.state)):
                        raise SessionError("lost the call's lease")
                    committed = True
                    if self.journal is not None and amended.records:
                        self.journal.write(amended.records)
            finally:
                if not committed:
                    await self.store.release(lease)
        finally:
            locks.release(call_id)
        return amended

    def _account(self, turn: Turn, log: dict[str, Any]) -> None:
        """Metrics and the log line's step and outcome, from the turn's journal records."""
        state = turn.state
        for record in turn.records:
            if record.outcome in FAULT_OUTCOMES:
                cause = fault_cause(record.kind, record.outcome, record.data)
                if cause is not None:
                    metrics.child(metrics.FALLBACKS, cause).inc()
            if record.kind is RecordKind.STEP_OUTCOME and record.step is not None:
                counter, outcome = metrics.STEP_OUTCOMES[record.step, record.outcome]
                counter.inc()
                log["step"], log["outcome"] = record.step, outcome
            elif record.kind is RecordKind.OPERATION and "language_fallback" in record.data:
                metrics.LANGUAGE_FALLBACKS.labels(record.flow_id).inc()
            elif record.kind is RecordKind.CALL_STARTED or (
                record.kind is RecordKind.OPERATION
                and record.data.get("operation") == "secure_session.start"
            ):  # a call, or one back from an agent for a secure session
                self.active.add(state.call_id)
                metrics.ACTIVE_CALLS.inc()
            elif record.kind is RecordKind.CALL_ENDED:
                if state.secure is None:  # one back from a secure session was counted before
                    metrics.ENDED[state.ended_by or "", state.idv_status or ""].inc()
                metrics.ACTIVE_CALLS.dec()  # per process: sum over workers for the service
                self.active.discard(state.call_id)
                log["ended"] = state.ended_by
        log.setdefault("step", state.step)

    # -- rendering -------------------------------------------------------------------------

    def _render(
        self, adapter: Adapter, actions: list[Action], base_url: str, state: CallState
    ) -> Document:
        context = self._context(adapter, base_url, state.call_id, state.language)
        if adapter.carries_summary:
            context = dataclasses.replace(context, call=call_summary(state))
        return adapter.render(actions, context)

    def _context(
        self, adapter: Adapter, base_url: str, call_id: str, language: str
    ) -> RenderContext:
        urls = self._urls.get((adapter.name, base_url, language))
        if urls is None:
            urls = self._context_urls(adapter, base_url, language)
        return RenderContext(call_id, language, urls[0], urls[1])

    def _context_urls(
        self, adapter: Adapter, base: str, language: str
    ) -> tuple[str, Callable[[PromptRef], str | None]]:
        """An adapter's action URL and prompt URLs for one base URL and language, built once:
        they are the same for every request of that host and language."""

        def prompt_url(ref: PromptRef) -> str | None:
            path = f"{language}/{ref.prompt_id}.wav"
            if ref.audio is None or not self.served_audio(path):
                return None
            return f"{base}/prompts/{path}"

        urls = (f"{base}/{adapter.name}/{adapter.action_kind}", prompt_url)
        if len(self._urls) < 256:  # hosts and languages are few; a bad Host header is not kept
            self._urls[(adapter.name, base, language)] = urls
        return urls
