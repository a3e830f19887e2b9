"""Queue schedules from config/queues.yaml: when each queue is staffed, and its callback slots.

A mistake in the file is refused at load with the file, the queue and what is wrong, so a
wrong opening time is never discovered by a customer whose callback does not come.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FILE_NAME = "queues.yaml"
DEFAULT_ROUTE = "agent"


class QueueConfigError(ValueError):
    """config/queues.yaml is wrong; the message names the queue and the field."""


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    zone: ZoneInfo
    hours: dict[int, tuple[tuple[time, time | None], ...]]  # weekday -> (open, close); None: 24:00
    closed_dates: frozenset[date] = frozenset()
    slot_minutes: int = 30
    callbacks_per_slot: int = 10
    max_attempts: int = 3
    retry_delay_s: int = 300
    route: str = DEFAULT_ROUTE  # config/routes.yaml: how a connected callee reaches its agents

    @property
    def time_zone(self) -> str:
        return self.zone.key

    def periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The staffed periods of a local day, as aware datetimes."""
        if day in self.closed_dates:
            return []
        out = []
        for opens, closes in self.hours.get(day.weekday(), ()):
            start = datetime.combine(day, opens, self.zone)
            end = (
                datetime.combine(day + timedelta(days=1), time(0), self.zone)
                if closes is None
                else datetime.combine(day, closes, self.zone)
            )
            out.append((start, end))
        return out

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        return any(start <= local < end for start, end in self.periods(local.date()))

    def first_open(self, start: datetime, end: datetime) -> datetime | None:
        """The first staffed instant in [start, end), or None when the queue is shut throughout."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        while day <= last:
            for opens, closes in self.periods(day):
                begin, finish = max(opens, start), min(closes, end)
                if begin < finish:
                    return begin
            day += timedelta(days=1)
        return None

    def slots(self, day: date) -> list[tuple[datetime, datetime]]:
        step = timedelta(minutes=self.slot_minutes)
        out = []
        for opens, closes in self.periods(day):
            at = opens
            while at + step <= closes:
                out.append((at, at + step))
                at += step
        return out


@dataclass
class Queues:
    by_name: dict[str, Queue] = field(default_factory=dict)

    def get(self, name: str) -> Queue | None:
        return self.by_name.get(name)

    def unknown_routes(self, routes: Collection[str]) -> list[str]:
        """`queue: route` for each queue whose route is not among `routes` (checked at start)."""
        return [f"{q.name}: {q.route}" for q in self.by_name.values() if q.route not in routes]

    @classmethod
    def load(cls, config_dir: Path) -> Queues:
        path = config_dir / FILE_NAME
        if not path.exists():
            return cls()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise QueueConfigError(f"{path}: not YAML: {error}") from None
        queues = data.get("queues") if isinstance(data, dict) else None
        if not isinstance(queues, dict):
            raise QueueConfigError(f"{path}: needs a `queues:` mapping")
        return cls({name: _queue(path, str(name), body) for name, body in queues.items()})


def _queue(path: Path, name: str, body: Any) -> Queue:
    where = f"{path}: queue {name}"
    if not isinstance(body, dict):
        raise QueueConfigError(f"{where}: must be a mapping")
    try:
        zone = ZoneInfo(str(body.get("time_zone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise QueueConfigError(f"{where}: unknown time_zone {body.get('time_zone')!r}") from None
    hours: dict[int, list[tuple[time, time | None]]] = {}
    for days, spans in (body.get("hours") or {}).items():
        for weekday in _days(where, str(days)):
            for span in [spans] if isinstance(spans, str) else list(spans):
                hours.setdefault(weekday, []).append(_span(where, str(span)))
    try:
        closed = frozenset(date.fromisoformat(str(d)) for d in body.get("closed_dates") or ())
    except ValueError:
        raise QueueConfigError(f"{where}: closed_dates must be YYYY-MM-DD") from None
    numbers = {}
    for key, default, low in (
        ("slot_minutes", 30, 5),
        ("callbacks_per_slot", 10, 1),
        ("max_attempts", 3, 1),
        ("retry_delay_s", 300, 10),
    ):
        value = body.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise QueueConfigError(f"{where}: {key} must be a whole number >= {low}")
        numbers[key] = value
    route = body.get("route", DEFAULT_ROUTE)
    if not isinstance(route, str) or not route:
        raise QueueConfigError(f"{where}: route must name a route of config/routes.yaml")
    unknown = set(body) - {"time_zone", "hours", "closed_dates", "route", *numbers}
    if unknown:
        raise QueueConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Queue(
        name=name,
        zone=zone,
        hours={day: tuple(sorted(spans, key=lambda s: s[0])) for day, spans in hours.items()},
        closed_dates=closed,
        route=route,
        **numbers,
    )


def _days(where: str, text: str) -> list[int]:
    first, _, last = text.lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise QueueConfigError(f"{where}: {text!r} is not a day or range such as mon-fri")
    a, b = DAYS.index(first), DAYS.index(last or first)
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


def _span(where: str, text: str) -> tuple[time, time | None]:
    opens, _, closes = text.partition("-")
    try:
        start = time.fromisoformat(opens.strip())
        end = None if closes.strip() == "24:00" else time.fromisoformat(closes.strip())
    except ValueError:
        raise QueueConfigError(f"{where}: {text!r} is not HH:MM-HH:MM") from None
    if end is not None and end <= start:
        raise QueueConfigError(f"{where}: {text!r} closes before it opens")
    return start, end
