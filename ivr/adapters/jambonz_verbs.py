"""jambonz verb arrays for the engine's actions.

Every verb is written in the `{"verb": "say", ...}` form: the feature-server accepts it and
the JSON schema of @jambonz/schema (and so jambonz-python-sdk's validator) requires it.
Only properties known to `@jambonz/verb-specifications` are emitted, since the feature-server
refuses unknown ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from ivr.adapters.base import RenderContext
from ivr.adapters.wire import (
    collect_query,
    handoff_headers,
    played_query,
    spoken_text,
    with_query,
)
from ivr.engine.actions import Action, CollectDigits, Hangup, Play, PromptRef, RouteKind, Transfer

Verb = dict[str, Any]
Query = list[tuple[str, str]]


class JambonzTransfer(StrEnum):
    """How a Transfer is rendered: `dial` a target with SIP headers, or `enqueue` it."""

    DIAL = "dial"
    ENQUEUE = "enqueue"


DEFAULT_TRANSFERS: Mapping[RouteKind, JambonzTransfer] = dict.fromkeys(
    RouteKind, JambonzTransfer.DIAL
)


def render_verbs(
    actions: Sequence[Action],
    context: RenderContext,
    *,
    transfers: Mapping[RouteKind, JambonzTransfer] = DEFAULT_TRANSFERS,
    by_route: Mapping[str, JambonzTransfer] | None = None,
    tts_vendor: str | None = None,
    sign: Callable[[Query], Query] | None = None,
) -> list[Verb]:
    """The verb array for one turn. No actions: an empty array, which lets the stack go on.

    `sign` adds our own MAC to the query of every action hook: jambonz signs the body it
    posts back, not the URL, so the step and attempt the URL carries are ours to vouch for.
    """

    def hook(query: Query) -> str:
        return with_query(context.action_url, sign(query) if sign is not None else query)

    verbs: list[Verb] = []
    waits = False
    for action in actions:
        if isinstance(action, Play):
            verbs.extend(_prompt_verb(p, context, tts_vendor) for p in action.prompts)
            waits = False
        elif isinstance(action, CollectDigits):
            verbs.extend(_gather(action, context, tts_vendor, hook(collect_query(action))))
            waits = True
        elif isinstance(action, Transfer):
            verbs.extend(transfer_verbs(action, transfers, by_route or {}))
            waits = True
        elif isinstance(action, Hangup):
            verbs.append({"verb": "hangup"})
            waits = True
    if actions and not waits:
        verbs.append({"verb": "redirect", "actionHook": hook(played_query())})
    return verbs


def _say(text: str, context: RenderContext, tts_vendor: str | None) -> Verb:
    verb: Verb = {"verb": "say", "text": text}
    if tts_vendor:
        # verb-specifications requires a vendor in any synthesizer object: none without one
        verb["synthesizer"] = {"vendor": tts_vendor}
        if context.language:
            verb["synthesizer"]["language"] = context.language
    return verb


def _prompt_verb(prompt: PromptRef, context: RenderContext, tts_vendor: str | None) -> Verb:
    url = context.prompt_url(prompt)
    if url is not None:
        return {"verb": "play", "url": url}
    return _say(prompt.text, context, tts_vendor)


def _nested(
    prompts: Sequence[PromptRef], context: RenderContext, tts_vendor: str | None
) -> tuple[str, Verb] | None:
    """The single say or play a gather can hold: every recording, or all prompts spoken.

    A gather nests one `say` or one `play`. `play.url` may list several files played in turn;
    `say.text` given as a list picks ONE entry at random, so several texts are joined instead.
    """
    if not prompts:
        return None
    urls = [context.prompt_url(p) for p in prompts]
    if all(url is not None for url in urls):
        files = [url for url in urls if url is not None]
        return "play", {"url": files[0] if len(files) == 1 else files}
    say = _say(spoken_text(prompts), context, tts_vendor)
    del say["verb"]
    return "say", say


def _gather(
    action: CollectDigits, context: RenderContext, tts_vendor: str | None, action_hook: str
) -> list[Verb]:
    """A digits-only gather; barge-in nests the prompts, otherwise they play before it.

    `minDigits` is always 1 and always sent with `interDigitTimeout`: jambonz arms the
    inter-digit timer only once `minDigits` keys are in, and discards shorter input as a
    `timeout`. With 1, a lone "don't have" key or a short entry reaches the engine as digits,
    as on Twilio, and the engine judges the length itself.
    """
    verbs: list[Verb] = []
    if not action.barge_in:
        verbs.extend(_prompt_verb(p, context, tts_vendor) for p in action.prompts)
    gather: Verb = {
        "verb": "gather",
        "input": ["digits"],
        "actionHook": action_hook,
        "minDigits": 1,
        "maxDigits": action.max_digits,
        "interDigitTimeout": _seconds(action.inter_digit_timeout_s),
        "timeout": _seconds(action.timeout_s),
    }
    if action.term_key:
        gather["finishOnKey"] = action.term_key
    nested = _nested(action.prompts, context, tts_vendor) if action.barge_in else None
    if nested is not None:
        gather["dtmfBargein"] = True
        gather[nested[0]] = nested[1]
    verbs.append(gather)
    return verbs


def _seconds(value: float) -> int:
    """jambonz timeouts are whole seconds; 0 would mean "no timeout", so at least 1."""
    return max(1, math.ceil(value))


def tag_data(action: Transfer) -> dict[str, Any]:
    """The full object `tag` stores as customerData (tag replaces it wholesale)."""
    return {
        "route": action.route_name,
        "route_kind": action.kind.value,
        "handoff": dict(action.handoff),
    }


def dial_target(target: str) -> dict[str, str]:
    """A dial target from a route target: SIP URI, phone number, else a registered user."""
    if target.startswith(("sip:", "sips:")):
        return {"type": "sip", "sipUri": target}
    if target.lstrip("+").isdigit():
        return {"type": "phone", "number": target}
    return {"type": "user", "name": target}


def transfer_verbs(
    action: Transfer,
    transfers: Mapping[RouteKind, JambonzTransfer],
    by_route: Mapping[str, JambonzTransfer] | None = None,
) -> list[Verb]:
    """`tag` with the full hand-off, then `dial` (SIP headers + tag) / `enqueue` / `redirect`.

    The route's own setting (`by_route`, from config/routes.yaml) wins over its kind's.
    """
    mode = (by_route or {}).get(action.route_name) or transfers.get(
        action.kind, JambonzTransfer.DIAL
    )
    data = tag_data(action)
    verbs: list[Verb] = [{"verb": "tag", "data": data}]
    if action.target.startswith(("http://", "https://")):
        verbs.append({"verb": "redirect", "actionHook": action.target})
    elif mode is JambonzTransfer.ENQUEUE:
        verbs.append({"verb": "enqueue", "name": action.target})
    else:
        verbs.append(
            {
                "verb": "dial",
                "target": [dial_target(action.target)],
                "headers": handoff_headers(action.handoff, capitalise=True),
                "tag": data,
            }
        )
    return verbs
