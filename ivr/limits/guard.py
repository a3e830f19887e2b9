"""Rate limits and fair lockout around the directory operations (docs/security.md).

Identification (`directory.lookup_by_account`): attempts are counted per calling number, per
account number keyed in (from any number) and, for failures, per service line. Over a limit
the operation answers `limited` without asking the directory, whatever the account: a limited
caller learns nothing about which accounts exist, and the engine routes `limited` as the
step's `error` outcome (to an agent, never stranded). Below the limits, a number's failed
attempts beyond `delay_after_failures` slow its next answers (progressive delay).

Verification (`verify.answer`): a wrong answer counts against the pair (customer, calling
number); that pair is locked after `verify_failures_per_number`, so a stranger who knows an
account number locks only themselves. Wrong answers from every number together lock the
customer for a short time that grows with each further lock (15 min, 1 h, 4 h, ... up to
24 h): a distributed guesser is stopped, and the owner is not locked out for a day by two
calls. A locked caller gets the existing `locked` outcome (to an agent, flagged).

Each attempt is reserved before the directory is asked and undone when it revealed nothing,
as ivr.directory.lockout does, so parallel calls on several workers cannot get more tries
than the limits allow. Numbers and account numbers are keyed hashes in the counters.
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

Clock = Callable[[], float]
T = TypeVar("T")
_log = logging.getLogger(__name__)


class AbuseGuard:
    def __init__(self, counters: Counters, key: bytes, clock: Clock = time.time) -> None:
        """`key` keys the hashes of numbers and account numbers in the counters (the server
        gives the answers' key, IVR_SECRET_KEY: workers sharing Redis must share it)."""
        self.counters = counters
        self.clock = clock
        self._key = hmac.new(key, b"ivr.limits", hashlib.sha256).digest()
        self._config: AppConfig | None = None
        self._limits: dict[str, Limits] = {}

    def wrap(self, registry: OperationRegistry, config: Callable[[], AppConfig]) -> None:
        """Put the limits around `registry`'s directory operations; `config` gives the
        current configuration (it changes on reload)."""
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

    async def _safely(self, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None if the counters' store failed (Redis down or failing over).
        The attempt then goes on unlimited: the session store routes callers while Redis is
        really down, and the directory's own lockout still caps wrong answers."""
        try:
            async with asyncio.timeout(STORE_TIMEOUT_S):
                return await work
        except Exception as error:
            UNAVAILABLE.inc()
            _log.warning("rate limits unavailable: %s", type(error).__name__)
            return None

    def _hash(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _caller(self, call: OperationCall) -> tuple[str, bool]:
        """The counter key of the calling number, and whether it is withheld (all withheld
        callers of a line share one key)."""
        number = to_e164(call.ani, call.region)
        if number is None:
            return f"withheld:{call.service_line}", True
        return self._hash("number", number), False

    # -- identification -----------------------------------------------------------------------

    def _identify(self, lookup: Operation, config: Callable[[], AppConfig]) -> Operation:
        async def guarded(call: OperationCall) -> OperationResult:
            limits = self.limits(config(), call.service_line)
            now = self.clock()
            caller, withheld = self._caller(call)
            account = self._hash("account", "".join((call.digits or "").split()))
            line_key = f"line:{call.service_line}"
            attempts = [Hit(f"id:{caller}", HOUR_S), Hit(f"acct:{account}", HOUR_S)]
            reads = [Hit(f"idfail:{caller}", HOUR_S, 0), Hit(f"fail:{line_key}", MINUTE_S, 0)]
            counts = await self._safely(self.counters.add(attempts + reads, now))
            if counts is None:
                return await lookup(call)
            by_number, by_account, failures, line_failures = counts
            per_number = (
                limits.identify_withheld_per_hour
                if withheld
                else limits.identify_per_number_per_hour
            )
            over = None
            if by_number > per_number:
                over = "identify_withheld" if withheld else "identify_per_number"
            elif by_account > limits.identify_per_account_per_hour:
                over = "identify_per_account"
            elif line_failures >= limits.identify_failures_per_minute:
                over = "identify_line_ceiling"
            if over is not None:  # the same answer whatever the account; not counted
                undo = [Hit(h.key, h.window_s, -1) for h in attempts]
                await self._safely(self.counters.add(undo, now))
                LIMITED.labels("directory.lookup_by_account", over).inc()
                return OperationResult(LIMITED_OUTCOME, detail=over)
            delay = limits.delay_for(failures)
            if delay:
                DELAYED.inc(delay)
                await asyncio.sleep(delay)
            result = await lookup(call)
            if result.outcome == "not_found":
                fails = [Hit(f"idfail:{caller}", HOUR_S), Hit(f"fail:{line_key}", MINUTE_S)]
                await self._safely(self.counters.add(fails, self.clock()))
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
