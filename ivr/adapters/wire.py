"""Small wire-format helpers shared by the gateway adapters (JSON, Twilio, jambonz).

Kept apart so each adapter file stays translation only and the two render hand-off data
the same way: `customer_id` becomes the SIP header `x-customer-id` on both.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ivr.adapters.base import BadRequest
from ivr.engine.actions import CollectDigits, PromptRef

JSON_TYPE = "application/json; charset=utf-8"
TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def handoff_text(handoff: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Hand-off data as text pairs, the same on every gateway: booleans lower-case, lists
    comma-joined, mappings as JSON, None left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in handoff.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple):
            text = ",".join(map(str, value))
        elif isinstance(value, Mapping):
            text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        else:
            text = str(value)
        pairs.append((key, text))
    return pairs


def handoff_headers(handoff: Mapping[str, Any], *, capitalise: bool = False) -> dict[str, str]:
    """Hand-off data as custom SIP headers: `idv_status` -> `x-idv-status` (or `X-Idv-Status`)."""
    headers: dict[str, str] = {}
    for key, value in handoff_text(handoff):
        words = key.replace("_", "-").split("-")
        if capitalise:
            name = "X-" + "-".join(word.capitalize() for word in words)
        else:
            name = "x-" + "-".join(word.lower() for word in words)
        headers[name] = value
    return headers


def with_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    """`url` with `params` appended to its query (existing ones kept, same names replaced)."""
    new = list(params)
    if "?" not in url and "#" not in url:  # the usual action URL: nothing to merge
        return f"{url}?{urlencode(new)}" if new else url
    parts = urlsplit(url)
    names = {name for name, _ in new}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept + new)))


def collect_query(action: CollectDigits) -> list[tuple[str, str]]:
    """What an action URL carries so the answer can be matched to its step and attempt, and
    whether the keys are card digits (the simulator's recordings then write silence)."""
    query = [
        ("step", action.step),
        ("attempt", str(action.attempt)),
        ("max", str(action.max_digits)),
    ]
    if action.secure:
        query.append(("secure", "1"))
    return query


def played_query() -> list[tuple[str, str]]:
    """Marks a callback that only says "the prompts finished" (no collect was pending)."""
    return [("event", "played")]


def loads_json(body: bytes) -> Any:
    """The body as JSON, or BadRequest: not UTF-8, not JSON, or nested too deep to parse."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None


def digest(*parts: object) -> str:
    """A short stable hash of a message's content, for delivery keys (redeliveries match)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def parse_form(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True)` for a gateway's form or query, hand-written.

    Why not the standard library's: `parse_qsl` runs `unquote` on every name and value, most
    of which have nothing to decode; for a Twilio webhook's twenty fields that alone would put
    the server's CPU per event past issue 11's bound (`python -m bench.forms` and
    `python -m bench.webhooks` print the figures). Same result as parse_qsl: only `&`
    separates fields, `+` is a space, %XX is decoded as UTF-8 with replacement (the tests
    compare the two on generated text).
    """
    fields: list[tuple[str, str]] = []
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "+" in pair:
            name, value = name.replace("+", " "), value.replace("+", " ")
        if "%" in name:
            name = _unquote(name)
        if "%" in value:
            value = _unquote(value)
        fields.append((name, value))
    return fields


@functools.lru_cache(maxsize=4096)
def _unquote(text: str) -> str:
    """`unquote`, remembered: a call's numbers (From, To, Called, Caller: `%2B44...`) come
    four times in each of its webhooks, and unquote is Python code with a regex split."""
    return unquote(text)


def positive_int(value: str | None) -> int | None:
    """A query value such as `attempt=2` as an int, or None when absent or malformed."""
    if value is None or not value.isdigit():
        return None
    return int(value)


def spoken_text(prompts: Iterable[PromptRef]) -> str:
    """Several prompts spoken as one text-to-speech string."""
    return " ".join(prompt.text.strip() for prompt in prompts if prompt.text.strip())
