"""Small wire-format helpers shared by the gateway adapters (JSON, Twilio, jambonz).

Kept apart so each adapter file stays translation only and the two render hand-off data
the same way: `customer_id` becomes the SIP header `x-customer-id` on both.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote, urlencode, urlsplit, urlunsplit

from ivr.adapters.base import BadRequest
from ivr.engine.actions import CollectDigits, PromptRef

JSON_TYPE = "application/json; charset=utf-8"
TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def header_value(value: Any) -> str | None:
    """A hand-off value as header text: booleans lower-case, lists comma-joined, None dropped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def handoff_headers(handoff: Mapping[str, Any], *, capitalise: bool = False) -> dict[str, str]:
    """Hand-off data as custom SIP headers: `idv_status` -> `x-idv-status` (or `X-Idv-Status`)."""
    headers: dict[str, str] = {}
    for key, raw in handoff.items():
        value = header_value(raw)
        if value is None:
            continue
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
        return f"{url}?{encode_query(new)}" if new else url
    parts = urlsplit(url)
    names = {name for name, _ in new}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept + new)))


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what urlencode leaves as it is


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """`urlencode(params)` for text pairs, without its per-pair type checks: an action URL's
    step ids and numbers are plain, so most pairs need no quoting at all."""
    match = _PLAIN.fullmatch
    return "&".join(
        [
            (name if match(name) else quote_plus(name))
            + "="
            + (value if match(value) else quote_plus(value))
            for name, value in params
        ]
    )


def collect_query(action: CollectDigits) -> list[tuple[str, str]]:
    """What an action URL carries so the answer can be matched to its step and attempt."""
    return [
        ("step", action.step),
        ("attempt", str(action.attempt)),
        ("max", str(action.max_digits)),
    ]


def played_query() -> list[tuple[str, str]]:
    """Marks a callback that only says "the prompts finished" (no collect was pending)."""
    return [("event", "played")]


def digest(*parts: object) -> str:
    """A short stable hash of a request's content, for delivery keys (redeliveries match)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def parse_form(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True)` at half the cost: most fields need no decoding.

    Only `&` separates fields, as in parse_qsl; `+` is a space and %XX is decoded as UTF-8
    with replacement, exactly as parse_qsl does.
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


def loads_json(body: bytes) -> Any:
    """The body as JSON, or BadRequest: not UTF-8, not JSON, or nested too deep to parse."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None


def query_of(url: str) -> dict[str, str]:
    """The query of a callback URL as a dict (the last value of a repeated name wins)."""
    _, _, rest = url.partition("?")
    query = rest.partition("#")[0]
    return dict(parse_qsl(query, keep_blank_values=True)) if query else {}


def positive_int(value: str | None) -> int | None:
    """A query value such as `attempt=2` as an int, or None when absent or malformed."""
    if value is None or not value.isdigit():
        return None
    return int(value)


def spoken_text(prompts: Iterable[PromptRef]) -> str:
    """Several prompts spoken as one text-to-speech string."""
    return " ".join(prompt.text.strip() for prompt in prompts if prompt.text.strip())
