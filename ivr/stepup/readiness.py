"""Readiness of the one-time code provider, for `/readyz` (ivr.web.health.MORE_PROBES)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ivr.stepup.provider import CodeProvider

_log = logging.getLogger(__name__)
CACHE_S = 2.0  # readiness probes every few seconds: ask the provider at most this often
PROBE_S = 1.0


class ProviderProbe:
    """Asks the provider's health endpoint, at most every CACHE_S; logs a change once."""

    def __init__(self, provider: CodeProvider) -> None:
        self.provider = provider
        self._at = 0.0
        self._state: dict[str, Any] = {"state": "ok"}

    async def __call__(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._at and now - self._at < CACHE_S:
            return self._state
        self._at = now
        try:
            up = await asyncio.wait_for(self.provider.ready(), PROBE_S)
            state: dict[str, Any] = {"state": "ok" if up else "down"}
        except TimeoutError:
            state = {"state": "down", "detail": "no answer within the probe's deadline"}
        except Exception as error:
            state = {"state": "down", "detail": type(error).__name__}
        if state["state"] != self._state["state"]:
            _log.warning("one-time code provider: %s -> %s", self._state["state"], state["state"])
        self._state = state
        return state
