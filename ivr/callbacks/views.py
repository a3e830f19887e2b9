"""Stored callbacks as the app sees them (never the secret) and request errors as problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from ivr.callbacks.model import TERMINAL, CallbackView, Status, WindowView
from ivr.callbacks.store import STANDING_SECRET, Callback

PROBLEM_TYPE = "application/problem+json"


def when(at: float | None, zone: str = "UTC") -> datetime | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, ZoneInfo(zone) if zone != "UTC" else UTC)


def view(callback: Callback) -> CallbackView:
    zone = callback.time_zone
    return CallbackView(
        id=callback.id,
        customer_id=callback.customer_id,
        number=callback.number,
        queue=callback.queue,
        reason=callback.reason,
        language=callback.language,
        window=WindowView(
            start=when(callback.window_start, zone),
            end=when(callback.window_end, zone),
            time_zone=zone,
        ),
        scheduled_at=when(callback.scheduled_at, zone),
        status=Status(callback.status),
        attempts=callback.attempts,
        max_attempts=callback.max_attempts,
        retry_delay_s=callback.retry_delay_s,
        next_attempt_at=when(callback.next_attempt_at, zone),
        has_secret=_has_secret(callback),
        secret_source=callback.secret_source if _has_secret(callback) else None,
        idv_status=callback.idv_status,
        source=callback.source,
        outcome=callback.outcome,
        version=callback.version,
        created_at=when(callback.created_at),
        updated_at=when(callback.updated_at),
        connected_at=when(callback.connected_at),
        ended_at=when(callback.ended_at),
    )


def _has_secret(callback: Callback) -> bool:
    """Whether a secret will be read: none is left once the callback has ended."""
    if callback.status in TERMINAL:
        return False
    return callback.read_secret == STANDING_SECRET or callback.secret_ct is not None


def etag(callback: Callback) -> str:
    return f'"{callback.id}.v{callback.version}"'


def version_of(if_match: str | None, callback_id: str) -> int | None:
    """The version an If-Match names for this callback, or None if it names none."""
    if not if_match:
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    prefix = f"{callback_id}.v"
    if not tag.startswith(prefix) or not tag[len(prefix) :].isdigit():
        return -1  # names another callback or is garbage: it cannot match
    return int(tag[len(prefix) :])


def callback_response(callback: Callback, status: int = 200, **headers: str) -> web.Response:
    body = view(callback).model_dump_json()
    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={"ETag": etag(callback), "Cache-Control": "no-store", **headers},
    )


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.json_response(body, status=status, content_type=PROBLEM_TYPE)


def invalid(error: ValidationError) -> web.Response:
    """422 naming each wrong field and why; the submitted values are never echoed."""
    errors = [
        {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return problem(422, "invalid request", errors=errors)
