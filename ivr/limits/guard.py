"""Rate limits and fair lockout around the directory operations (docs/security.md).

Identification (`directory.lookup_by_account`) is limited so that it stops enumeration without
letting anyone lock another caller out:

- Failed identifications (an account number that is not found) count against the caller: its
  calling number, or, when the number is withheld, the call itself (withheld callers cannot be
  told apart, and one key for all of them let one withheld abuser shut out every other). A
  sweep of account numbers is made of failures; a customer keying their own number never fails,
  so only the guesser reaches the limit. Withheld callers' failures also count together per line
  (`identify_withheld_per_hour`): a sweep spread over withheld calls is stopped there, and a
  withheld customer who keys a right number does not spend that allowance.
- Attempts naming an account count per (account, caller): the hard limit, which only ever stops
  that caller. Attempts naming it from every caller together are a soft throttle: over the same
  limit, answers for that account slow down (progressive delay) but are never refused, so a
  stranger keying someone's account number from many numbers cannot lock its owner out.
- Failures of every caller of the line together have a ceiling per minute: the emergency brake
  for a distributed sweep.

Over a hard limit the operation answers `limited` without asking the directory, whatever the
account: a limited caller learns nothing about which accounts exist, and the engine routes
`limited` as the step's `error` outcome (to an agent, never stranded). Below the limits, a
caller's failures beyond `delay_after_failures` slow its next answers; any delay is clamped to
half of what is left of the operation's deadline, so the directory still has time to answer and
a caller is never held past the webhook's deadline.

Verification (`verify.answer`): a wrong answer counts against the pair (customer, caller);
that pair is locked after `verify_failures_per_number`, so a stranger who knows an account
number locks only themselves. Wrong answers from every caller together lock the customer for a
short time that grows with each further lock (up to a day): a distributed guesser is stopped,
and the owner is not locked out for a day by two calls. A locked caller gets the existing
`locked` outcome (to an agent, flagged).

Each failure is reserved before the directory is asked and undone when the attempt revealed
nothing, as ivr.directory.lockout does, so parallel calls on several workers cannot get more
tries than the limits allow. Numbers, calls and account numbers are keyed hashes in the
counters. When the counters' store fails the attempt goes on unlimited; that shows in /readyz
(`limits`), in `ivr_limits_unavailable_total` and in the log (once per change of state).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter

from ivr.config import AppConfig
from ivr.directory.lockout import LockoutPolicy
from ivr.engine.operations import (
    LIMITED_OUTCOME,
    Operation,
    OperationCall,
    OperationRegistry,
    OperationResult,
)
from ivr.limits.counters import Counters, Hit
from ivr.limits.policy import HOUR_S, MINUTE_S, Limits
from ivr.numbers import to_e164

LIMITED = Counter(
    "ivr_limited_total", "Attempts refused by a rate limit or lock", ["operation", "limit"]
)
UNAVAILABLE = Counter(
    "ivr_limits_unavailable_total",
    "Attempts let through without rate limits because the counters' store failed",
)
DELAYED = Counter(
    "ivr_limit_delay_seconds_total", "Seconds answers were held back (progressive delay)"
)
# The directory's own lockout, under these limits: an absolute cap per customer that survives
# restarts (it lives in the directory's database), far above what the fair policy allows.
BACKSTOP = LockoutPolicy(max_failures=50, window_s=86400.0)
# At most three counter round trips per operation: each given this long, all within the
# operation's 2 s deadline, so a failing-over Redis never turns an attempt into an error.
STORE_TIMEOUT_S = 0.3
DEFAULT_DEADLINE_S = 2.0  # the engine's operation deadline unless `wrap` is told another
DELAY_SHARE = 0.5  # of what is left of the deadline, at most, held back as delay
PROBE_EVERY_S = 2.0  # /readyz asks the counters' store at most this often
WARM_UP_S = 5.0  # at startup, for the first answer of the counters' store

Clock = Callable[[], float]
T = TypeVar("T")
_log = logging.getLogger(__name__)


class AbuseGuard:
    def __init__(self, counters: Counters, key: bytes, clock: Clock = time.time) -> None:
        """`key` keys the hashes of numbers and account numbers in the counters (the server
        gives the answers' key, IVR_SECRET_KEY: workers sharing Redis must share it)."""
        self.counters = counters
        self.clock = clock
        self.deadline_s = DEFAULT_DEADLINE_S  # the operations' deadline (set by `wrap`)
        self._key = hmac.new(key, b"ivr.limits", hashlib.sha256).digest()
        self._config: AppConfig | None = None
        self._limits: dict[str, Limits] = {}
        self._failing: str | None = None  # the counters' last error while they fail
        self.probe_every_s = PROBE_EVERY_S
        self._probed_at: float | None = None
        self._undoing: set[asyncio.Task[object]] = set()

    def wrap(
        self,
        registry: OperationRegistry,
        config: Callable[[], AppConfig],
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        """Put the limits around `registry`'s directory operations; `config` gives the
        current configuration (it changes on reload), `deadline_s` the operations' deadline
        (delays are clamped inside it)."""
        self.deadline_s = deadline_s
        implementations = registry.implementations
        if "directory.lookup_by_account" in implementations:
            lookup = implementations["directory.lookup_by_account"]
            implementations["directory.lookup_by_account"] = self._identify(lookup, config)
        for name in ("verify.answer", "verify.otp"):  # wrong codes lock like wrong answers
            if name in implementations:
                implementations[name] = self._verify(implementations[name], config, name)

    def limits(self, config: AppConfig, line: str) -> Limits:
        if config is not self._config:  # reloaded: resolve the lines again
            self._config, self._limits = config, {}
        limits = self._limits.get(line)
        if limits is None:
            limits = self._limits[line] = config.limits_for(line)
        return limits

    # -- the counters' store failing ----------------------------------------------------------

    async def _safely(self, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None if the counters' store failed (Redis down or failing over).
        The attempt then goes on unlimited: the session store routes callers while Redis is
        really down, and the directory's own lockout still caps wrong answers."""
        try:
            if self.counters.remote:
                async with asyncio.timeout(STORE_TIMEOUT_S):
                    result = await work
            else:  # counters in this process answer at once: no timer to arm and cancel
                result = await work
        except Exception as error:
            UNAVAILABLE.inc()
            if self._failing is None:
                _log.warning("rate limits unavailable (failing open): %s", type(error).__name__)
            self._failing = type(error).__name__
            return None
        if self._failing is not None:
            _log.warning("rate limits available again")
            self._failing = None
        return result

    async def warm_up(self, timeout_s: float = WARM_UP_S) -> None:
        """Reach the counters' store once at startup, with more time than an attempt has: a
        Redis Cluster client reads the slot map on first use, and the first callers would
        otherwise find the limits failing open while it does."""
        if not self.counters.remote:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self.counters.locked_until("probe")
        except Exception as error:  # the worker still starts: attempts then fail open
            _log.warning("rate limits: counters' store not reached at startup: %s",
                         type(error).__name__)  # fmt: skip

    async def health(self) -> dict[str, object]:
        """For /readyz: "ok", or "down" while the counters' store fails (attempts then go on
        unlimited: degraded, not unavailable). Probed at most every `probe_every_s`."""
        now = time.monotonic()
        if self._probed_at is None or now - self._probed_at >= self.probe_every_s:
            self._probed_at = now
            await self._safely(self.counters.locked_until("probe"))
        if self._failing is None:
            return {"state": "ok"}
        return {"state": "down", "detail": f"failing open: {self._failing}"}

    def _later(self, hits: list[Hit], now: float) -> None:
        """Apply `hits` without waiting (an undo while the operation is being cancelled)."""
        task = asyncio.ensure_future(self._safely(self.counters.add(hits, now)))
        self._undoing.add(task)
        task.add_done_callback(self._undoing.discard)

    # -- keys ---------------------------------------------------------------------------------

    def _hash(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _caller(self, call: OperationCall) -> tuple[str, bool]:
        """The counter key of the caller, and whether its number is withheld: the calling
        number, or the call itself when the number is withheld (withheld callers cannot be
        told apart, and sharing one key let any of them lock the others out)."""
        number = to_e164(call.ani, call.region)
        if number is None:
            return self._hash("call", call.call_id), True
        return self._hash("number", number), False

    def _clamped(self, delay: float, started: float) -> float:
        """`delay`, at most half of what is left of the operation's deadline: the directory
        keeps time to answer, and the caller is never held past the webhook's deadline."""
        left = self.deadline_s - (time.monotonic() - started)
        return max(0.0, min(delay, left * DELAY_SHARE))

    # -- identification -----------------------------------------------------------------------

    def _identify(self, lookup: Operation, config: Callable[[], AppConfig]) -> Operation:
        async def guarded(call: OperationCall) -> OperationResult:
            started = time.monotonic()
            limits = self.limits(config(), call.service_line)
            now = self.clock()
            caller, withheld = self._caller(call)
            account = self._hash("account", "".join((call.digits or "").split()))
            line = f"line:{call.service_line}"
            # reserved as failures, undone unless the account is not found
            failures = [Hit(f"idfail:{caller}", HOUR_S)]
            if withheld:
                failures.append(Hit(f"idfail:withheld:{line}", HOUR_S))
            attempts = [Hit(f"acct:{account}:{caller}", HOUR_S), Hit(f"acct:{account}", HOUR_S)]
            ceiling = Hit(f"fail:{line}", MINUTE_S, 0)
            counts = await self._safely(self.counters.add([*failures, *attempts, ceiling], now))
            if counts is None:
                return await lookup(call)
            by_caller = counts[0]
            pair, shared, line_failures = counts[-3:]
            over = None
            if by_caller > limits.identify_per_number_per_hour:
                over = "identify_per_number"
            elif withheld and counts[1] > limits.identify_withheld_per_hour:
                over = "identify_withheld"
            elif pair > limits.identify_per_account_per_hour:
                over = "identify_per_account"
            elif line_failures >= limits.identify_failures_per_minute:
                over = "identify_line_ceiling"
            if over is not None:  # the same answer whatever the account; not counted
                undo = [Hit(h.key, h.window_s, -1) for h in (*failures, *attempts)]
                await self._safely(self.counters.add(undo, now))
                LIMITED.labels("directory.lookup_by_account", over).inc()
                return OperationResult(LIMITED_OUTCOME, detail=over)
            delay = max(
                limits.delay_for(by_caller - 1),  # this caller's failures before this attempt
                limits.account_delay_for(shared),  # an account named from many callers
            )
            undo = [Hit(h.key, h.window_s, -1) for h in failures]
            try:
                delay = self._clamped(delay, started)
                if delay:
                    DELAYED.inc(delay)
                    await asyncio.sleep(delay)
                result = await lookup(call)
            except BaseException:  # cancelled by the deadline, or failed: revealed nothing
                self._later(undo, self.clock())
                raise
            if result.outcome == "not_found":
                await self._safely(self.counters.add([Hit(ceiling.key, MINUTE_S)], self.clock()))
            else:
                await self._safely(self.counters.add(undo, self.clock()))
            return result

        return guarded

    # -- verification -------------------------------------------------------------------------

    def _verify(
        self, verify: Operation, config: Callable[[], AppConfig], name: str = "verify.answer"
    ) -> Operation:
        async def guarded(call: OperationCall) -> OperationResult:
            if call.customer_id is None:
                return await verify(call)
            limits = self.limits(config(), call.service_line)
            window = limits.lock_window_s
            now = self.clock()
            customer = self._hash("customer", call.customer_id)
            caller, _ = self._caller(call)
            locked_until = await self._safely(self.counters.locked_until(f"customer:{customer}"))
            if locked_until is None:
                return await verify(call)
            if locked_until > now:
                LIMITED.labels(name, "verify_customer_lock").inc()
                return OperationResult("locked", detail="customer locked for a while")
            pair = Hit(f"vfail:{customer}:{caller}", window)
            reserved = await self._safely(self.counters.add([pair], now))  # as a failure
            if reserved is None:
                return await verify(call)
            if reserved[0] > limits.verify_failures_per_number:
                await self._safely(self.counters.add([Hit(pair.key, window, -1)], now))
                LIMITED.labels(name, "verify_per_number").inc()
                return OperationResult("locked", detail="locked for this calling number")
            try:
                result = await verify(call)
            except BaseException:
                await self._safely(self.counters.add([Hit(pair.key, window, -1)], self.clock()))
                raise
            await self._safely(self._settle(result, pair, customer, limits))
            return result

        return guarded

    async def _settle(
        self, result: OperationResult, pair: Hit, customer: str, limits: Limits
    ) -> None:
        now = self.clock()
        window = limits.lock_window_s
        if result.outcome == "verified":
            await self.counters.clear([(pair.key, window)], now)
        elif result.outcome != "wrong":  # revealed nothing about the answer
            await self.counters.add([Hit(pair.key, window, -1)], now)
        else:
            (total,) = await self.counters.add([Hit(f"cfail:{customer}", window)], now)
            lock_s = limits.lock_for(total)  # past the threshold each wrong answer locks again
            if lock_s:
                key = f"customer:{customer}"
                until = max(now + lock_s, await self.counters.locked_until(key))
                await self.counters.lock(key, until, now)
