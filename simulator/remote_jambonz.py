"""Call drivers that speak to a running server exactly as jambonz would, over HTTP here and
over its WebSocket API in simulator.remote_jambonz_ws: both read the same verb documents.

A gather's `actionHook` is followed with `reason: dtmfDetected` and the digits jambonz
would collect (up to the finish key, dropped, or `maxDigits`), or `reason: timeout`; a
`redirect` is followed as jambonz follows it; a hang-up is the `completed` call status.
What the summary reports is what jambonz itself could see: the hand-off from the `tag` verb
(route kind, ID&V status, customer), the attempts from the step/attempt of each actionHook.
The flow version is not visible.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from ivr.adapters.jambonz import SECRET_ENV, SIGNATURE_HEADER
from ivr.adapters.signatures import jambonz_header
from ivr.bootstrap import Project
from ivr.engine.actions import Action, CollectDigits, Hangup, Play, PromptRef, RouteKind, Transfer
from ivr.settings import load_settings
from simulator.driver import CallSummary
from simulator.prompt_match import PromptMatcher, project_files
from simulator.remote_twilio import keys_as_twilio_sends

Verb = Mapping[str, Any]
_VERSTAT = {
    "A": "TN-Validation-Passed-A",
    "B": "TN-Validation-Passed-B",
    "C": "TN-Validation-Passed-C",
    "failed": "TN-Validation-Failed",
}
MAX_REDIRECTS = 20


class JambonzError(Exception):
    """The server refused a request or answered something jambonz would not execute."""


def call_payload(call_id: str, ani: str | None, dnis: str | None, trust: str) -> dict[str, Any]:
    """What jambonz's call hook (or `session:new`) says of a new inbound call."""
    caller = ani or "anonymous"
    headers = {"from": f"<sip:{caller}@carrier.example>", "to": f"<sip:{dnis or ''}@ivr>"}
    if trust in _VERSTAT:
        headers["p-asserted-identity"] = f"<sip:{caller}@carrier.example;verstat={_VERSTAT[trust]}>"
    return {
        "call_sid": call_id,
        "direction": "inbound",
        "from": caller,
        "to": dnis or "",
        "call_id": f"sip-{call_id}",
        "sip_status": 100,
        "call_status": "trying",
        "account_sid": "sim-account",
        "application_sid": "sim-application",
        "caller_name": "",
        "sip": {"headers": headers},
    }


class VerbReader:
    """Turns verb arrays into the engine's actions and keeps what jambonz would know."""

    def __init__(self, project: Project | None) -> None:
        config, catalog = project_files(project or Project.from_settings(load_settings()))
        self.config = config
        self.prompts = PromptMatcher(catalog)
        self.gather: Verb | None = None
        self.attempts: dict[str, int] = {}
        self.handoff: dict[str, Any] | None = None

    def flow_for(self, dnis: str | None) -> str:
        return self.config.service_line_for(dnis).flow if self.config is not None else ""

    def read(self, verbs: Sequence[Verb], actions: list[Action]) -> str | None:
        """Append the verbs' actions; the hook of a `redirect` to follow back to us, if any."""
        if not isinstance(verbs, list):
            raise JambonzError(f"not a verb array: {verbs!r:.200}")
        if verbs:  # an empty array lets jambonz's stack go on: the gather still waits
            self.gather = None
        tag: Mapping[str, Any] = {}
        for verb in verbs:
            name = verb.get("verb")
            if name == "play":
                urls = verb["url"] if isinstance(verb["url"], list) else [verb["url"]]
                prompts = tuple(self.prompts.from_audio_url(url) for url in urls)
                actions.append(Play(prompts, barge_in=False))
            elif name == "say":
                actions.append(Play(self._spoken(verb), barge_in=False))
            elif name == "gather":
                actions.append(self._collect(verb))
                self.gather = verb
            elif name == "hangup":
                actions.append(Hangup())
            elif name == "tag":
                tag = verb.get("data") or {}
                self.handoff = dict(tag.get("handoff") or {})
            elif name in ("dial", "enqueue"):
                actions.append(self._transfer(tag, _target(verb)))
            elif name == "redirect":
                hook = str(verb.get("actionHook", ""))
                if dict(parse_qsl(urlsplit(hook).query)).get("event") == "played":
                    return hook
                actions.append(self._transfer(tag, hook))
            else:
                raise JambonzError(f"unexpected verb {name!r}")
        return None

    def pending(self) -> Verb:
        if self.gather is None:
            raise JambonzError("no gather is waiting for keys")
        return self.gather

    def keys_result(self, keys: str) -> dict[str, Any]:
        """The actionHook payload of the pending gather for `keys` pressed."""
        gather = self.pending()
        digits = keys_as_twilio_sends(
            keys, gather.get("maxDigits"), str(gather.get("finishOnKey", ""))
        )
        if not digits:  # only the finish key: jambonz reports no input
            return {"reason": "timeout"}
        return {"reason": "dtmfDetected", "digits": digits}

    def summary(self, flow: str) -> CallSummary:
        handoff = self.handoff or {}
        status, customer = handoff.get("idv_status"), handoff.get("customer_id")
        hidden = frozenset({"flow_version"})
        if self.handoff is None:
            hidden |= {"idv_status", "customer_id"}
        return CallSummary(
            flow=flow,
            flow_version="",
            idv_status=str(status) if status is not None else None,
            customer_id=str(customer) if customer is not None else None,
            attempts=dict(self.attempts),
            unobservable=hidden,
        )

    def _spoken(self, verb: Verb) -> tuple[PromptRef, ...]:
        synthesizer = verb.get("synthesizer") or {}
        return self.prompts.split_text(str(verb.get("text", "")), synthesizer.get("language", ""))

    def _collect(self, gather: Verb) -> CollectDigits:
        query = dict(parse_qsl(urlsplit(str(gather.get("actionHook", ""))).query))
        step, attempt = query.get("step", ""), int(query.get("attempt", "1") or 1)
        self.attempts[step] = max(attempt, self.attempts.get(step, 0))
        prompts: tuple[PromptRef, ...] = ()
        if "say" in gather:
            prompts = self._spoken(gather["say"])
        elif "play" in gather:
            url = gather["play"]["url"]
            prompts = tuple(
                self.prompts.from_audio_url(u) for u in (url if isinstance(url, list) else [url])
            )
        return CollectDigits(
            prompts=prompts,
            min_digits=int(gather.get("minDigits", 1)),
            max_digits=int(gather.get("maxDigits", 0)),
            term_key=gather.get("finishOnKey") or None,
            timeout_s=float(gather.get("timeout", 15)),
            inter_digit_timeout_s=float(gather.get("interDigitTimeout", 0)),
            barge_in=bool(prompts),
            step=step,
            attempt=attempt,
            secure=query.get("secure") == "1",
        )

    def _transfer(self, tag: Mapping[str, Any], target: str) -> Transfer:
        kind = RouteKind(tag.get("route_kind", RouteKind.AGENT.value))
        return Transfer(kind, target, str(tag.get("route", "")), dict(self.handoff or {}))


def _target(verb: Verb) -> str:
    """The route target a `dial` or `enqueue` was made from (see jambonz_verbs.dial_target)."""
    if verb["verb"] == "enqueue":
        return str(verb["name"])
    target = verb["target"][0]
    return str(target.get("sipUri") or target.get("number") or target.get("name"))


class RemoteJambonzDriver:
    """One call at a time against `url` (e.g. http://127.0.0.1:8080), as jambonz over HTTP."""

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        project: Project | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """`secret` defaults to IVR_JAMBONZ_SECRET (ivr.settings; the first while rotating)."""
        self.url = url.rstrip("/")
        if secret is None:
            secret = next(iter(load_settings().jambonz_secrets()), "")
        self._secret = secret
        if not self._secret:
            raise JambonzError(f"set {SECRET_ENV} to the server's jambonz webhook secret")
        self.reader = VerbReader(project)
        self._session = session
        self._owns_session = session is None
        self._call: dict[str, Any] = {}
        self.flow = ""

    async def start(
        self, call_id: str, ani: str | None, dnis: str | None, trust: str
    ) -> Sequence[Action]:
        self._call = call_payload(call_id, ani, dnis, trust)
        self.flow = self.reader.flow_for(dnis)
        actions = await self._follow(f"{self.url}/jambonz/call", dict(self._call))
        del self._call["sip"]  # only the call hook carries the INVITE's headers
        self._call["call_status"] = "in-progress"
        return actions

    async def press(self, digits: str) -> Sequence[Action]:
        hook = str(self.reader.pending()["actionHook"])
        return await self._follow(hook, {**self._call, **self.reader.keys_result(digits)})

    async def no_input(self) -> Sequence[Action]:
        hook = str(self.reader.pending()["actionHook"])
        return await self._follow(hook, {**self._call, "reason": "timeout"})

    async def hang_up(self) -> Sequence[Action]:
        self.reader.gather = None
        await self._post(f"{self.url}/jambonz/status", {**self._call, "call_status": "completed"})
        return []

    async def summary(self) -> CallSummary:
        return self.reader.summary(self.flow)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _follow(self, hook: str, payload: dict[str, Any]) -> list[Action]:
        actions: list[Action] = []
        for _ in range(MAX_REDIRECTS):
            redirect = self.reader.read(await self._post(hook, payload), actions)
            if redirect is None:
                return actions
            hook, payload = redirect, dict(self._call)
        raise JambonzError("too many redirects")

    async def _post(self, hook: str, payload: Mapping[str, Any]) -> Any:
        """POST as the feature-server does: JSON.stringify-like body, signed."""
        parts = urlsplit(hook)
        target = self.url + parts.path + (f"?{parts.query}" if parts.query else "")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: jambonz_header(self._secret, int(time.time()), body),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(target, data=body, headers=headers) as response:
            text = await response.text()
            if response.status != 200:
                raise JambonzError(f"server answered {response.status}: {text[:200]}")
        return json.loads(text)
