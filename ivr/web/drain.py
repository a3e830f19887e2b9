"""Graceful drain on SIGTERM: stop looking ready, finish the calls we hold, then exit.

`/readyz` fails at once so the load balancer stops sending new calls. With in-memory state
a call can only continue here, so the drain waits until those calls end; with a shared
store (Redis) any worker continues them, so only requests in flight are waited for. The
wait is bounded by the drain limit either way.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ivr.calls import CallPipeline

_log = logging.getLogger(__name__)


class Drain:
    def __init__(self, calls: CallPipeline, limit_s: float) -> None:
        self.calls = calls
        self.limit_s = limit_s
        self.draining = False

    def begin(self) -> None:
        if not self.draining:
            self.draining = True
            _log.info("draining", extra={"calls": len(self.calls.active), "limit_s": self.limit_s})

    def busy(self) -> int:
        """Calls (or requests, with a shared store) that still keep this process alive."""
        held = 0 if self.calls.store.shared else len(self.calls.active)
        return held + self.calls.in_flight

    async def wait(self, poll_s: float = 0.05) -> bool:
        """True when everything finished before the limit, False when the limit cut it short."""
        self.begin()
        deadline = time.monotonic() + self.limit_s
        while self.busy():
            if time.monotonic() >= deadline:
                _log.warning("drain limit reached", extra={"calls": len(self.calls.active)})
                return False
            await asyncio.sleep(poll_s)
        _log.info("drained")
        return True
