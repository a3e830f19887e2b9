"""Twilio: the REST Calls resource, through Twilio's own Python client.

`POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with To, From, Url, StatusCallback,
StatusCallbackEvent, Timeout and MachineDetection (the answer webhook then carries
AnsweredBy). The client is synchronous, so it runs in a thread; `api_base` points it at
another host (tests use a loopback server built to Twilio's documented wire format).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ivr.callbacks.dialers.base import DialFailed, DialRequest
from ivr.config import ConfigError


class TwilioDialer:
    gateway = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, api_base: str, machine_detection: str = "Enable"
    ) -> None:
        try:
            from twilio.rest import Client
        except ImportError:  # depends on the install
            raise ConfigError(
                "dispatch by Twilio needs its client: pip install 'ivr[twilio]'"
            ) from None
        self._client: Any = Client(account_sid, auth_token)
        self._client.api.base_url = api_base.rstrip("/")
        self.machine_detection = machine_detection

    async def dial(self, request: DialRequest) -> str:
        return await asyncio.to_thread(self._create, request)

    def _create(self, request: DialRequest) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        extra = {"machine_detection": self.machine_detection} if self.machine_detection else {}
        try:
            call = self._client.calls.create(
                to=request.to,
                from_=request.from_,
                url=request.answer_url,
                method="POST",
                status_callback=request.status_url,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                status_callback_method="POST",
                timeout=request.ring_timeout_s,
                **extra,
            )
        except TwilioRestException as error:
            # 4xx: Twilio refused this call (bad number, unverified caller id): retrying won't help
            retry = error.status >= 500 or error.status == 429
            raise DialFailed(f"twilio {error.status} {error.code}", retry=retry) from None
        except (TwilioException, OSError) as error:
            raise DialFailed(f"twilio unreachable: {type(error).__name__}") from None
        return str(call.sid)

    async def close(self) -> None:
        return None
