"""Reports `callbacks` and `queues`, on SQLite and PostgreSQL, with their CSV."""

from __future__ import annotations

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.model import Booking, Status, Window
from ivr.callbacks.queue_stats import QueueFigures, QueueStats
from ivr.callbacks.queues import Queues
from ivr.callbacks.service import book
from ivr.callbacks.store import CallbackStore
from ivr.journal.store import ReportFilter, open_store
from ivr.journal.table import Table
from tests.callbacks.conftest import NOW, booking


def _csv(table: Table) -> str:
    from ivr.journal.table import render

    return render(table, "csv")


async def test_callbacks_and_queues_reports(
    callback_store: CallbackStore, queues: Queues, store_url: str
) -> None:
    made = []
    for _ in range(3):
        request = Booking.model_validate(booking())
        callback, _ = await book(callback_store, queues, AppIdentity("C1"), request, NOW)
        made.append(callback)
    dialling = await callback_store.transition(made[0], Status.DIALLING, NOW + 3600, {})
    assert dialling is not None
    connected = await callback_store.transition(
        dialling, Status.CONNECTED, NOW + 3660, {}, connected_at=NOW + 3660
    )
    assert connected is not None
    await callback_store.transition(connected, Status.COMPLETED, NOW + 3900, {})
    await callback_store.cancel(made[1].id, "C1", NOW + 10)
    stats = QueueStats(callback_store.db)
    figures = QueueFigures(
        agents_staffed=4, agents_available=0, calls_waiting=3, average_handle_time_s=200
    )
    await stats.push("general", figures, NOW)
    await stats.push("general", figures, NOW + 30)
    journal = await open_store(store_url)
    try:
        from ivr.journal.reports import run_report

        table = await run_report(journal, "callbacks", ReportFilter())
        assert table.records() == [
            {
                "day": "2026-12-03", "booked": 3, "from_app": 3, "from_ivr": 0, "completed": 1,
                "failed": 0, "cancelled": 1, "expired": 0, "pending": 1,
                "mean_delay_to_connect_s": 60.0,  # scheduled 11:00, connected 11:01
            }
        ]  # fmt: skip
        assert "day,booked,from_app" in _csv(table)
        queue_table = await run_report(journal, "queues", ReportFilter())
        rows = queue_table.records()
        assert rows[0]["queue"] == "general"
        assert rows[0]["pushes"] == 2
        assert rows[0]["unknown"] == 1  # the first push alone was too few
        assert rows[0]["mean_estimate_s"] == 200.0  # 4th in line, 4 agents, 200 s
    finally:
        await journal.close()


async def test_callbacks_now_for_the_dashboard(
    callback_store: CallbackStore, queues: Queues, store_url: str
) -> None:
    import time as clock
    from datetime import UTC, datetime, timedelta

    from ivr.journal.reports import run_report

    now = clock.time()
    start = datetime.fromtimestamp(now, UTC)
    # the `cards` queue is always open: one due now, one later, one dialling, one failed
    for delay_h in (0, 5, 0, 0):
        window = Window(start=start + timedelta(hours=delay_h), end=start + timedelta(hours=8))
        request = Booking(number="+447700900123", queue="cards", window=window)
        await book(callback_store, queues, AppIdentity("C1"), request, now)
    listed = await callback_store.find("C1")
    due = [c for c in listed if c.scheduled_at <= now + 1]  # microsecond rounding
    dialling = await callback_store.transition(due[0], Status.DIALLING, now, {})
    await callback_store.transition(due[1], Status.FAILED, now, {})
    assert dialling is not None
    journal = await open_store(store_url)
    try:
        table = await run_report(journal, "callbacks-now", ReportFilter())
    finally:
        await journal.close()
    values = {r["metric"]: r["value"] for r in table.records()}
    assert values["due now"] == 1
    assert values["scheduled later"] == 1
    assert values["dialling"] == 1
    assert values["failed today"] == 1
    assert values["completed today"] == 0
