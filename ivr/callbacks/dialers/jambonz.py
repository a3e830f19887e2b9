"""jambonz: the REST createCall, `POST /v1/Accounts/{account_sid}/Calls` with a bearer API key.

The body names the application (or a call_hook) to run once answered, the status hook, from,
to (`{"type": "phone", "number": ...}`), the ring timeout and a `tag` that jambonz hands back
on the call's webhooks as customerData. The answer is 201 with the new call's `sid`.
"""

from __future__ import annotations

import aiohttp

from ivr.callbacks.dialers.base import DialFailed, DialRequest


class JambonzDialer:
    gateway = "jambonz"

    def __init__(
        self, api_base: str, account_sid: str, api_key: str, application_sid: str = ""
    ) -> None:
        self.url = f"{api_base.rstrip('/')}/v1/Accounts/{account_sid}/Calls"
        self.api_key = api_key
        self.application_sid = application_sid
        self._session: aiohttp.ClientSession | None = None

    async def dial(self, request: DialRequest) -> str:
        body: dict[str, object] = {
            "call_hook": {"url": request.answer_url, "method": "POST"},
            "call_status_hook": {"url": request.status_url, "method": "POST"},
            "from": request.from_,
            "to": {"type": "phone", "number": request.to},
            "timeout": request.ring_timeout_s,
            "tag": request.context,
            "amd": {"actionHook": request.status_url},
        }
        if self.application_sid:
            body["application_sid"] = self.application_sid
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            async with self._session.post(self.url, json=body, headers=headers) as response:
                if response.status != 201:
                    retry = response.status >= 500 or response.status == 429
                    raise DialFailed(f"jambonz {response.status}", retry=retry)
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DialFailed(f"jambonz unreachable: {type(error).__name__}") from None
        sid = answer.get("sid") if isinstance(answer, dict) else None
        if not isinstance(sid, str) or not sid:
            raise DialFailed("jambonz answer has no sid")
        return sid

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
