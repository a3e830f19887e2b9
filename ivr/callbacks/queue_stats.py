"""Queue figures pushed by the contact centre, kept in the journal database, and the wait they
give: POST /queues/{name}/stats (operations key) and GET /queues/{name}/wait (the app's JWT).

Each push is stored with the estimate it gave at that moment, so the `queues` report can set
what the app was told beside what the figures showed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.callbacks.db import Database
from ivr.callbacks.ewt import Estimate, Figures, Policy, estimate
from ivr.callbacks.queues import Queues
from ivr.callbacks.views import invalid, problem


class QueueFigures(BaseModel):
    """What the contact centre pushes for one queue (its real-time statistics)."""

    model_config = ConfigDict(extra="forbid")
    agents_staffed: int = Field(ge=0, le=100_000)
    agents_available: int = Field(ge=0, le=100_000)
    calls_waiting: int = Field(ge=0, le=1_000_000)
    average_handle_time_s: float = Field(gt=0, le=86_400)


class QueueStats:
    def __init__(self, db: Database, policy: Policy | None = None) -> None:
        self.db = db
        self.policy = policy or Policy()

    async def push(self, queue: str, figures: QueueFigures, now: float) -> Estimate:
        sample = Figures(
            now,
            figures.agents_staffed,
            min(figures.agents_available, figures.agents_staffed),
            figures.calls_waiting,
            figures.average_handle_time_s,
        )
        result = estimate([*await self.recent(queue, now), sample], now, self.policy)
        await self.db.execute(
            "INSERT INTO queue_stats (queue, at, agents_staffed, agents_available, calls_waiting,"
            " average_handle_time_s, estimate_s, method) VALUES (:q, :at, :s, :a, :w, :h, :e, :m)"
            " ON CONFLICT (queue, at) DO NOTHING",
            {
                "q": queue,
                "at": float(now),
                "s": sample.agents_staffed,
                "a": sample.agents_available,
                "w": sample.calls_waiting,
                "h": float(sample.average_handle_time_s),
                "e": result.wait_s,
                "m": result.method if result.state == "open" else result.state,
            },
        )
        return result

    async def recent(self, queue: str, now: float) -> list[Figures]:
        rows = await self.db.fetch(
            "SELECT at, agents_staffed, agents_available, calls_waiting, average_handle_time_s"
            " FROM queue_stats WHERE queue = :q AND at >= :since ORDER BY at",
            {"q": queue, "since": float(now - self.policy.look_back_s)},
        )
        return [Figures(float(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]

    async def wait(self, queue: str, now: float) -> Estimate:
        return estimate(await self.recent(queue, now), now, self.policy)


def estimate_json(queue: str, result: Estimate, open_now: bool | None) -> dict[str, object]:
    state = result.state
    if open_now is False:
        state = "closed"  # outside the schedule in config/queues.yaml, whatever was pushed
    minutes = None if result.wait_s is None else round(result.wait_s / 60, 1)
    return {
        "queue": queue,
        "state": state,
        "estimated_wait_s": None if state != "open" else round(result.wait_s or 0.0, 1),
        "estimated_wait_minutes": None if state != "open" else minutes,
        "method": result.method,
        "sample_size": result.sample_size,
        "figures_at": result.figures_at,
        "reason": result.reason or None,
    }


@dataclass
class QueueApi:
    stats: Callable[[], QueueStats]
    queues: Queues
    clock: Callable[[], float] = time.time


QUEUE_API: web.AppKey[QueueApi] = web.AppKey("queue_api")


async def push_stats(request: web.Request) -> web.Response:
    api = request.app[QUEUE_API]
    name = request.match_info["name"]
    if api.queues.get(name) is None:
        return problem(404, "no such queue", "queues are listed in config/queues.yaml")
    try:
        figures = QueueFigures.model_validate_json(await request.read())
    except ValidationError as error:
        return invalid(error)
    result = await api.stats().push(name, figures, api.clock())
    return web.json_response(estimate_json(name, result, None), status=202)


async def get_wait(request: web.Request) -> web.Response:
    api = request.app[QUEUE_API]
    name = request.match_info["name"]
    queue = api.queues.get(name)
    if queue is None:
        return problem(404, "no such queue")
    now = api.clock()
    from datetime import UTC, datetime

    open_now = queue.is_open(datetime.fromtimestamp(now, UTC))
    result = await api.stats().wait(name, now)
    return web.json_response(estimate_json(name, result, open_now))
