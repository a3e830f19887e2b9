"""The JSON protocol: ask your own gateway to place the call, with a request signed like the
JSON webhook (`X-IVR-Signature: t=<unix time>,v1=<HMAC-SHA256 of "t." + body>`).

`POST <url>` with `{"type": "call.dial", "callback_id", "to", "from", "answer_url",
"status_url", "ring_timeout_s", "context"}`; the gateway answers 2xx with `{"call_id": ...}`
and then starts the call on `answer_url` with a `call.started` event (docs/json-webhook.md).
"""

from __future__ import annotations

import json
import time

import aiohttp

from ivr.adapters.json_protocol import SIGNATURE_HEADER
from ivr.adapters.json_webhook import signature
from ivr.callbacks.dialers.base import DialFailed, DialRequest


class JsonDialer:
    gateway = "json"

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret
        self._session: aiohttp.ClientSession | None = None

    async def dial(self, request: DialRequest) -> str:
        body = json.dumps(
            {
                "type": "call.dial",
                "callback_id": request.callback_id,
                "to": request.to,
                "from": request.from_,
                "answer_url": request.answer_url,
                "status_url": request.status_url,
                "ring_timeout_s": request.ring_timeout_s,
                "context": request.context,
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self.secret, body, int(time.time())),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                if not 200 <= response.status < 300:
                    retry = response.status >= 500 or response.status == 429
                    raise DialFailed(f"gateway {response.status}", retry=retry)
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise DialFailed(f"gateway unreachable: {type(error).__name__}") from None
        call_id = answer.get("call_id") if isinstance(answer, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise DialFailed("gateway answer has no call_id")
        return call_id

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
