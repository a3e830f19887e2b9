"""A call driver that speaks to a running server exactly as Twilio would.

Form posts signed like Twilio's (with the official `twilio` validator when it is installed,
else with our own implementation, which the tests hold equal to it), TwiML read back into
the engine's actions, `<Gather>` action URLs followed, empty Digits for a timeout, and the
`completed` status callback for a hang-up. Everything the summary reports comes from what
Twilio itself could see: the hand-off in `<Enqueue><Task>`/`<Sip>` headers, and the attempts
from the step/attempt carried by each Gather action URL. Flow version is not visible.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from xml.etree import ElementTree as ET

import aiohttp

from ivr.adapters.signatures import twilio_signature
from ivr.bootstrap import Project
from ivr.engine.actions import (
    Action,
    CollectDigits,
    Hangup,
    Play,
    PromptRef,
    RouteKind,
    Transfer,
)
from ivr.settings import load_settings
from simulator.driver import CallSummary
from simulator.prompt_match import PromptMatcher, project_files

Signer = Callable[[str, Sequence[tuple[str, str]]], str]
_VERSTAT = {
    "A": "TN-Validation-Passed-A",
    "B": "TN-Validation-Passed-B",
    "C": "TN-Validation-Passed-C",
    "failed": "TN-Validation-Failed",
}


def twilio_signer(token: str) -> Signer:
    """Sign as Twilio does: the official validator if installed (a test-only dependency)."""
    try:
        from twilio.request_validator import RequestValidator
    except ImportError:  # pragma: no cover - twilio is installed wherever tests run
        return lambda url, params: twilio_signature(token, url, params)
    validator = RequestValidator(token)

    def sign(url: str, params: Sequence[tuple[str, str]]) -> str:
        signature: str = validator.compute_signature(url, dict(params))
        return signature

    return sign


def keys_as_twilio_sends(keys: str, num_digits: int | None, finish_on_key: str) -> str:
    """The Digits Twilio posts for `keys`: stop at the finish key (dropped) or at numDigits."""
    digits = ""
    for key in keys:
        if finish_on_key and key == finish_on_key:
            break
        digits += key
        if num_digits is not None and len(digits) >= num_digits:
            break
    return digits


class RemoteTwilioDriver:
    """One call at a time against `url` (the server's address, e.g. http://127.0.0.1:8080)."""

    def __init__(
        self,
        url: str,
        auth_token: str | None = None,
        *,
        public_url: str | None = None,
        routes: Mapping[str, RouteKind] | None = None,
        project: Project | None = None,
        flow: str = "",
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """`auth_token` defaults to IVR_TWILIO_AUTH_TOKEN (ivr.settings), as the server's.

        `public_url`: what Twilio would call the server by (its --public-url), if any.

        TwiML names neither the route kind nor the prompt ids, nor the flow: they are read
        back from the project's config and prompt catalogue (default: the folders of
        `Project.from_settings()`, as `ivr simulate` uses), when those can be loaded.
        `routes` (target -> kind) overrides the config's.
        """
        self.url = url.rstrip("/")
        self.public_url = (public_url or url).rstrip("/")
        settings = load_settings() if auth_token is None or project is None else None
        if auth_token is None and settings is not None:
            auth_token = settings.reveal(settings.twilio_auth_token) or ""
        self.sign = twilio_signer(auth_token or "")
        if project is None and settings is not None:
            project = Project.from_settings(settings)
        self.config, self.catalog = project_files(project or Project())
        self.prompts = PromptMatcher(self.catalog)
        self.routes: dict[str, RouteKind] = {}
        if self.config is not None:
            self.routes = {route.target: route.kind for route in self.config.routes.values()}
        self.routes.update(routes or {})
        self.flow = flow
        self._session = session
        self._owns_session = session is None
        self._call: dict[str, str] = {}
        self._gather: ET.Element | None = None
        self._pay: ET.Element | None = None
        self._attempts: dict[str, int] = {}
        self._handoff: dict[str, Any] = {}

    # -- CallDriver --------------------------------------------------------------------------

    async def start(
        self, call_id: str, ani: str | None, dnis: str | None, trust: str
    ) -> Sequence[Action]:
        self._call = {
            "CallSid": call_id,
            "AccountSid": "AC" + "0" * 32,
            "From": ani or "",
            "To": dnis or "",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "CallStatus": "ringing",
        }
        if trust in _VERSTAT:
            self._call["StirVerstat"] = _VERSTAT[trust]
        if self.config is not None and not self.flow:
            self.flow = self.config.service_line_for(dnis).flow
        self._attempts, self._handoff, self._gather = {}, {}, None
        actions = await self._post(self.public_url + "/twilio/voice", {})
        self._call["CallStatus"] = "in-progress"
        return actions

    async def press(self, digits: str) -> Sequence[Action]:
        gather = self._pending()
        num = gather.get("numDigits")
        sent = keys_as_twilio_sends(
            digits, int(num) if num else None, gather.get("finishOnKey", "#")
        )
        return await self._post(gather.get("action", ""), {"Digits": sent})

    async def no_input(self) -> Sequence[Action]:
        return await self._post(self._pending().get("action", ""), {"Digits": ""})

    async def hang_up(self) -> Sequence[Action]:
        self._gather = None
        await self._send(self.public_url + "/twilio/status", {"CallStatus": "completed"})
        return []

    async def summary(self) -> CallSummary:
        status, customer = self._handoff.get("idv_status"), self._handoff.get("customer_id")
        return CallSummary(
            flow=self.flow,
            flow_version="",
            idv_status=str(status) if status is not None else None,
            customer_id=str(customer) if customer is not None else None,
            attempts=dict(self._attempts),
            unobservable=frozenset({"flow_version"})
            | (frozenset() if self._handoff else frozenset({"idv_status", "customer_id"})),
        )

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    # -- HTTP --------------------------------------------------------------------------------

    async def pay(self, result: str, **fields: str) -> Sequence[Action]:
        """Play Twilio's part of a pending `<Pay>`: post its action callback as Twilio does
        (Result, PaymentCardNumber masked, PaymentCardType, PaymentConfirmationCode,
        PaymentToken... as `fields`), signed."""
        if self._pay is None:
            raise RuntimeError("no <Pay> is waiting")
        action, self._pay = self._pay.get("action", ""), None
        return await self._post(action, {"Result": result, **fields})

    @property
    def pending_pay(self) -> ET.Element | None:
        """The `<Pay>` the last document asked for, if any."""
        return self._pay

    def _pending(self) -> ET.Element:
        if self._gather is None:
            raise RuntimeError("no <Gather> is waiting for keys")
        return self._gather

    async def _send(self, public: str, extra: Mapping[str, str]) -> str:
        """POST the call's form plus `extra` to `public` (as signed), via the server's address."""
        params = [*self._call.items(), *extra.items()]
        signature = self.sign(public, params)
        parts = urlsplit(public)
        target = self.url + urlunsplit(("", "", parts.path, parts.query, ""))
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(
            target, data=dict(params), headers={"X-Twilio-Signature": signature}
        ) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"server answered {response.status}: {text[:200]}")
            return text

    async def _post(self, public: str, extra: Mapping[str, str]) -> list[Action]:
        """Post, read the TwiML, and follow "prompts played" redirects back to the server."""
        actions: list[Action] = []
        for _ in range(20):
            root = ET.fromstring(await self._send(public, extra))
            self._gather = self._pay = None
            redirect = self._read(root, actions)
            if redirect is None:
                return actions
            public, extra = redirect, {}
        raise RuntimeError("too many redirects")

    # -- TwiML -> actions --------------------------------------------------------------------

    def _read(self, root: ET.Element, actions: list[Action]) -> str | None:
        """Append the document's actions; the URL of an engine redirect to follow, if any."""
        for element in root:
            if element.tag in ("Say", "Play"):
                actions.append(Play((self._prompt(element),), barge_in=False))
            elif element.tag == "Gather":
                actions.append(self._collect(element))
                self._gather = element
            elif element.tag == "Hangup":
                actions.append(Hangup())
            elif element.tag == "Pay":
                self._pay = element
            elif element.tag in ("Enqueue", "Dial"):
                actions.append(self._transfer(element))
            elif element.tag == "Redirect":
                url = (element.text or "").strip()
                if dict(parse_qsl(urlsplit(url).query)).get("event") == "played":
                    return url
                actions.append(self._redirect_transfer(url))
        return None

    def _prompt(self, element: ET.Element) -> PromptRef:
        """A prompt from `<Play>` (id in its URL) or `<Say>` (text matched to the catalogue)."""
        text = (element.text or "").strip()
        if element.tag == "Play":
            return self.prompts.from_audio_url(text)
        return self.prompts.from_text(text, element.get("language", ""))

    def _collect(self, gather: ET.Element) -> CollectDigits:
        query = dict(parse_qsl(urlsplit(gather.get("action", "")).query))
        step, attempt = query.get("step", ""), int(query.get("attempt", "1") or 1)
        self._attempts[step] = max(attempt, self._attempts.get(step, 0))
        prompts = tuple(self._prompt(child) for child in gather if child.tag in ("Say", "Play"))
        timeout = float(gather.get("timeout", "5"))
        num = int(gather.get("numDigits", "0") or 0)
        return CollectDigits(
            prompts=prompts,
            min_digits=1,
            max_digits=num,
            term_key=gather.get("finishOnKey", "#") or None,
            timeout_s=timeout,
            inter_digit_timeout_s=timeout,
            barge_in=bool(prompts),
            step=step,
            attempt=attempt,
            secure=query.get("secure") == "1",
        )

    def _transfer(self, element: ET.Element) -> Transfer:
        if element.tag == "Enqueue":
            task = element.find("Task")
            self._handoff = json.loads(task.text or "{}") if task is not None else {}
            target = element.get("workflowSid") or (element.text or "").strip()
            kind = self.routes.get(target, RouteKind.AGENT)
        else:
            sip = element.find("Sip")
            uri = (sip.text or "").strip() if sip is not None else ""
            target, _, query = uri.partition("?")
            self._handoff = _from_headers(parse_qsl(query))
            bare = target.removeprefix("sip:")
            kind = self.routes.get(target) or self.routes.get(bare) or RouteKind.FLOW
            target = target if target in self.routes else bare
        return Transfer(kind, target, "", dict(self._handoff))

    def _redirect_transfer(self, url: str) -> Transfer:
        parts = urlsplit(url)
        target = urlunsplit(parts._replace(query=""))
        self._handoff = _typed(dict(parse_qsl(parts.query)))
        kind = self.routes.get(target, RouteKind.SELF_SERVICE)
        return Transfer(kind, target, "", dict(self._handoff))


def _from_headers(headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """`x-customer-id=C1` -> {"customer_id": "C1"}: the hand-off from SIP URI headers."""
    values = {
        name.lower().removeprefix("x-").replace("-", "_"): value
        for name, value in headers
        if name.lower().startswith("x-")
    }
    return _typed(values)


def _typed(values: Mapping[str, str]) -> dict[str, Any]:
    """Header text back to hand-off values: true/false and the comma-joined factor list."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if value in ("true", "false"):
            typed[key] = value == "true"
        elif key == "factors_passed":
            typed[key] = [item for item in value.split(",") if item]
        else:
            typed[key] = value
    return typed


TwilioDriver = RemoteTwilioDriver  # the name `ivr simulate --protocol twilio` imports
