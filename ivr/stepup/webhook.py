"""The signed webhook that tells the agent desktop a step-up's result (docs/step-up-api.md).

`POST IVR_STEPUP_WEBHOOK_URL` with the challenge as `GET /step-ups/{id}` shows it (never the
code) and `X-IVR-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`, the JSON
webhook's scheme, so one verifier serves both. Delivery runs in the background with a few
retries; a desktop that never accepts is counted and logged, and can still poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from prometheus_client import Counter

from ivr.adapters.json_webhook import signature
from ivr.retry import Backoff
from ivr.stepup.metrics import STEP_UP_WEBHOOK_FAILURES

_log = logging.getLogger(__name__)
ATTEMPTS = 3
TIMEOUT_S = 3.0
BACKOFF = Backoff(first_s=0.5, cap_s=4.0)


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        secret: str,
        attempts: int = ATTEMPTS,
        event: str = "step_up.settled",
        key: str = "step_up",
        failures: Counter = STEP_UP_WEBHOOK_FAILURES,
    ) -> None:
        """Each body is posted as `{"event": event, key: body}`; `failures` counts the ones
        never accepted."""
        self.url = url
        self._secret = secret
        self.attempts = attempts
        self.event, self.key = event, key
        self.failures = failures
        self._tasks: set[asyncio.Task[bool]] = set()

    def __call__(self, body: dict[str, Any]) -> None:
        """Deliver in the background (the answer to the customer does not wait for it)."""
        task = asyncio.get_running_loop().create_task(self.deliver(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, body: dict[str, Any]) -> bool:
        raw = json.dumps({"event": self.event, self.key: body}).encode()
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        for attempt in range(1, self.attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "X-IVR-Signature": signature(self._secret, raw, int(time.time())),
            }
            try:
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.post(self.url, data=raw, headers=headers) as response,
                ):
                    if 200 <= response.status < 300:
                        return True
                    reason = f"status {response.status}"
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                reason = type(error).__name__
            if attempt < self.attempts:
                await asyncio.sleep(BACKOFF.delay(attempt))
        self.failures.inc()
        _log.warning(
            "%s webhook not accepted after %d attempts (%s)", self.event, self.attempts, reason
        )
        return False

    async def close(self) -> None:
        """Let deliveries in flight finish (or give up) before the server stops."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=TIMEOUT_S * self.attempts + 10)
