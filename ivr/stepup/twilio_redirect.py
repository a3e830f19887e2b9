"""Bringing a Twilio call back to the engine: the REST Calls resource's update, through
Twilio's own Python client.

`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` with `Url` and `Method`: Twilio
stops what the call is doing (in a queue, or bridged to an agent) and asks `Url` for TwiML.
The client is synchronous, so it runs in a thread; `api_base` points it at another host
(tests use a loopback server built to Twilio's documented wire format).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ivr.config import ConfigError

TIMEOUT_S = 10.0  # the agent waits on it: a stalled Twilio API must not hold them (or a thread)


class RedirectFailed(Exception):
    """Twilio refused or could not be reached; `reason` is safe to journal and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TwilioRedirect:
    gateway = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, api_base: str, timeout_s: float = TIMEOUT_S
    ) -> None:
        try:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client
        except ImportError:  # depends on the install
            raise ConfigError(
                "redirecting Twilio calls needs its client: pip install 'ivr[twilio]'"
            ) from None
        http = TwilioHttpClient(timeout=timeout_s)
        self._client: Any = Client(account_sid, auth_token, http_client=http)
        self._client.api.base_url = api_base.rstrip("/")

    async def redirect(self, call_sid: str, url: str) -> None:
        await asyncio.to_thread(self._update, call_sid, url)

    def _update(self, call_sid: str, url: str) -> None:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            self._client.calls(call_sid).update(url=url, method="POST")
        except TwilioRestException as error:
            raise RedirectFailed(f"twilio {error.status} {error.code}") from None
        except (TwilioException, OSError) as error:
            raise RedirectFailed(f"twilio unreachable: {type(error).__name__}") from None
