"""Queue schedules: opening hours in the queue's zone, closed days, and mistakes refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ivr.callbacks.queues import QueueConfigError, Queues
from ivr.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_opening_hours_follow_the_local_clock() -> None:
    general = Queues.load(ROOT / "config").get("general")
    assert general is not None
    # London is on BST in July: 08:00 local is 07:00 UTC
    assert general.is_open(datetime(2026, 7, 2, 7, 0, tzinfo=UTC))
    assert not general.is_open(datetime(2026, 7, 2, 6, 59, tzinfo=UTC))
    assert not general.is_open(datetime(2026, 12, 25, 12, 0, tzinfo=UTC))  # closed date
    assert not general.is_open(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))  # Sunday
    assert len(general.slots(date(2026, 12, 5))) == 16  # Saturday 09:00-17:00, 30 min
    cards = Queues.load(ROOT / "config").get("cards")
    assert cards is not None
    assert cards.is_open(datetime(2026, 12, 6, 23, 59, tzinfo=UTC))  # 00:00-24:00


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("q: {time_zone: Mars/Olympus}", "time_zone"),
        ("q: {hours: {funday: '08:00-10:00'}}", "funday"),
        ("q: {hours: {mon: '10:00-08:00'}}", "closes before"),
        ("q: {hours: {mon: '8am'}}", "HH:MM"),
        ("q: {slot_minutes: 0}", "slot_minutes"),
        ("q: {colour: red}", "colour"),
        ("q: {closed_dates: [tomorrow]}", "closed_dates"),
        ("q: {route: ''}", "route"),
        ("q: {route: [agent]}", "route"),
    ],
)
def test_mistakes_are_refused_with_the_queue_named(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "queues.yaml").write_text(f"queues:\n  {body}\n")
    with pytest.raises(QueueConfigError) as error:
        Queues.load(tmp_path)
    assert message in str(error.value)
    assert "queue q" in str(error.value)


def test_each_queue_names_the_route_its_callees_reach(tmp_path: Path) -> None:
    queues = Queues.load(ROOT / "config")
    assert {name: q.route for name, q in queues.by_name.items()} == {
        "general": "agent",
        "cards": "cards_agents",
    }
    assert queues.unknown_routes(load_config(ROOT / "config").routes) == []
    (tmp_path / "queues.yaml").write_text("queues:\n  a: {}\n  b: {route: b_team}\n")
    other = Queues.load(tmp_path)
    assert other.by_name["a"].route == "agent"  # unnamed: the default agent route
    assert other.unknown_routes({"agent"}) == ["b: b_team"]  # refused at `ivr serve` start
