"""The callback API over real HTTP on SQLite and PostgreSQL: booking, idempotency, optimistic
concurrency, other customers refused, and no answer ever carrying the secret."""

from __future__ import annotations

import json

import jwt

from ivr.callbacks.store import CallbackStore
from tests.callbacks.conftest import SECRET_WORD, ApiClient, bearer, booking, token


async def test_smallest_booking_is_scheduled_and_hides_the_secret(api: ApiClient) -> None:
    response = await api.post("/callbacks", json=booking(), headers=bearer("C1001"))
    text = await response.text()
    assert response.status == 201, text
    body = json.loads(text)
    assert body["status"] == "scheduled"
    assert body["customer_id"] == "C1001"
    assert body["number"] == "+447700900123"
    assert body["has_secret"] is True
    assert body["secret_source"] == "callback"
    assert body["scheduled_at"].startswith("2026-12-03T11:00:00")
    assert body["max_attempts"] == 3
    assert body["retry_delay_s"] == 300
    assert body["attempts"] == 0
    assert response.headers["Location"] == f"/callbacks/{body['id']}"
    assert response.headers["ETag"] == f'"{body["id"]}.v1"'
    assert response.headers["Cache-Control"] == "no-store"
    assert SECRET_WORD not in text


async def test_no_get_returns_the_secret(api: ApiClient) -> None:
    created = await (await api.post("/callbacks", json=booking(), headers=bearer("C1"))).json()
    await api.put("/customers/me/secret", json={"secret": "blue moon"}, headers=bearer("C1"))
    for path in (
        f"/callbacks/{created['id']}",
        "/callbacks",
        "/callbacks?status=scheduled",
        "/callbacks/slots?queue=general&date=2026-12-03",
        "/customers/me/secret",
        "/callbacks/openapi.json",
    ):
        response = await api.get(path, headers=bearer("C1"))
        text = await response.text()
        assert response.status == 200, path
        assert SECRET_WORD not in text, path
        assert "blue moon" not in text, path


async def test_window_start_in_the_past_is_scheduled_now_and_queue_hours_apply(
    api: ApiClient,
) -> None:
    early = booking(window={"start": "2026-12-03T06:00:00Z", "end": "2026-12-03T21:00:00Z"})
    body = await (await api.post("/callbacks", json=early, headers=bearer("C1"))).json()
    assert body["scheduled_at"].startswith("2026-12-03T10:00:00")  # now, the queue is open
    night = booking(window={"start": "2026-12-03T21:00:00Z", "end": "2026-12-04T07:00:00Z"})
    response = await api.post("/callbacks", json=night, headers=bearer("C1"))
    assert response.status == 422
    assert "not staffed" in (await response.json())["detail"]
    sunday = booking(window={"start": "2026-12-05T16:30:00Z", "end": "2026-12-07T09:00:00Z"})
    body = await (await api.post("/callbacks", json=sunday, headers=bearer("C1"))).json()
    assert body["scheduled_at"].startswith("2026-12-05T16:30:00")  # Saturday until 17:00


async def test_bad_bodies_are_refused_without_echoing_values(api: ApiClient) -> None:
    cases = [
        booking(number="07700900123"),
        booking(number="+1202555012"),
        booking(secret="<say>x</say>"),
        booking(secret="a"),
        booking(queue="nope"),
        booking(window={"start": "2026-12-03T12:00:00Z", "end": "2026-12-03T11:00:00Z"}),
        booking(window={"start": "2026-12-03T11:00:00", "end": "2026-12-03T12:00:00"}),
        booking(colour="red"),
    ]
    for body in cases:
        response = await api.post("/callbacks", json=body, headers=bearer("C1"))
        text = await response.text()
        assert response.status == 422, body
        assert response.content_type == "application/problem+json"
        assert "<say>" not in text
        assert "07700900123" not in text
    listed = await (await api.get("/callbacks", headers=bearer("C1"))).json()
    assert listed["callbacks"] == []


async def test_idempotent_booking(api: ApiClient, callback_store: CallbackStore) -> None:
    headers = {**bearer("C1"), "Idempotency-Key": "book-42"}
    first = await api.post("/callbacks", json=booking(), headers=headers)
    again = await api.post("/callbacks", json=booking(), headers=headers)
    assert first.status == again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["id"] == (await again.json())["id"]
    other = await api.post("/callbacks", json=booking(secret="other word"), headers=headers)
    assert other.status == 422
    # another customer's identical key is their own booking
    theirs = await api.post(
        "/callbacks", json=booking(), headers={**bearer("C2"), "Idempotency-Key": "book-42"}
    )
    assert theirs.status == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert len(await callback_store.find("C1")) == 1


async def test_reschedule_needs_the_current_version(api: ApiClient) -> None:
    created = await api.post("/callbacks", json=booking(), headers=bearer("C1"))
    body = await created.json()
    path, etag = f"/callbacks/{body['id']}", created.headers["ETag"]
    later = {"window": {"start": "2026-12-03T15:00:00Z", "end": "2026-12-03T16:00:00Z"}}
    missing = await api.patch(path, json=later, headers=bearer("C1"))
    assert missing.status == 428
    changed = await api.patch(path, json=later, headers={**bearer("C1"), "If-Match": etag})
    assert changed.status == 200
    moved = await changed.json()
    assert moved["scheduled_at"].startswith("2026-12-03T15:00:00")
    assert moved["version"] == 2
    stale = await api.patch(
        path, json={"number": "+447700900456"}, headers={**bearer("C1"), "If-Match": etag}
    )
    assert stale.status == 412
    assert stale.headers["ETag"] == changed.headers["ETag"]
    fresh = await api.patch(
        path,
        json={"number": "+447700900456", "secret": None},
        headers={**bearer("C1"), "If-Match": changed.headers["ETag"]},
    )
    after = await fresh.json()
    assert after["number"] == "+447700900456"
    assert after["has_secret"] is False


async def test_another_customer_gets_404(api: ApiClient) -> None:
    created = await api.post("/callbacks", json=booking(), headers=bearer("C1"))
    body = await created.json()
    path = f"/callbacks/{body['id']}"
    intruder = bearer("C2")
    assert (await api.get(path, headers=intruder)).status == 404
    patched = await api.patch(
        path,
        json={"number": "+447700900999"},
        headers={**intruder, "If-Match": created.headers["ETag"]},
    )
    assert patched.status == 404
    assert (await api.post(f"{path}/cancel", headers=intruder)).status == 404
    assert (await (await api.get("/callbacks", headers=intruder)).json())["callbacks"] == []
    mine = await (await api.get(path, headers=bearer("C1"))).json()
    assert mine["number"] == "+447700900123"
    assert mine["status"] == "scheduled"


async def test_tokens_are_checked(api: ApiClient) -> None:
    assert (await api.get("/callbacks")).status == 401
    expired = jwt.encode({"sub": "C1", "exp": 1}, "test-app-jwt-secret-of-at-least-32-bytes")
    for header in (
        f"Bearer {expired}",
        f"Bearer {jwt.encode({'sub': 'C1', 'exp': 9999999999}, 'x' * 40)}",
        f"Bearer {jwt.encode({'sub': 'C1'}, 'test-app-jwt-secret-of-at-least-32-bytes')}",
        "Basic abc",
        "Bearer " + token("C1")[:-3] + "AAA",
    ):
        response = await api.get("/callbacks", headers={"Authorization": header})
        assert response.status == 401, header
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_cancel_deletes_the_secret(api: ApiClient, callback_store: CallbackStore) -> None:
    body = await (await api.post("/callbacks", json=booking(), headers=bearer("C1"))).json()
    stored = await callback_store.get(body["id"])
    assert stored.secret_ct is not None
    assert SECRET_WORD.encode() not in stored.secret_ct
    cancelled = await api.post(f"/callbacks/{body['id']}/cancel", headers=bearer("C1"))
    assert (await cancelled.json())["status"] == "cancelled"
    stored = await callback_store.get(body["id"])
    assert stored.secret_ct is None
    assert stored.secret_kid is None
    assert stored.ended_at
    again = await api.post(f"/callbacks/{body['id']}/cancel", headers=bearer("C1"))
    assert again.status == 200
    late = await api.patch(
        f"/callbacks/{body['id']}",
        json={"reason": "x"},
        headers={**bearer("C1"), "If-Match": again.headers["ETag"]},
    )
    assert late.status == 409
    events = [e[2] for e in await callback_store.events(body["id"])]
    assert events == ["requested", "scheduled", "cancelled"]


async def test_list_filters(api: ApiClient) -> None:
    for start in ("2026-12-03T11:00:00Z", "2026-12-04T11:00:00Z"):
        window = {"start": start, "end": start.replace("11:", "12:")}
        await api.post("/callbacks", json=booking(window=window), headers=bearer("C1"))
    one = await (await api.get("/callbacks?from=2026-12-04", headers=bearer("C1"))).json()
    assert [c["window"]["start"][:10] for c in one["callbacks"]] == ["2026-12-04"]
    upto = await (await api.get("/callbacks?to=2026-12-03", headers=bearer("C1"))).json()
    assert [c["window"]["start"][:10] for c in upto["callbacks"]] == ["2026-12-03"]
    both = await (await api.get("/callbacks?status=scheduled", headers=bearer("C1"))).json()
    assert len(both["callbacks"]) == 2
    assert (await api.get("/callbacks?status=bogus", headers=bearer("C1"))).status == 400


async def test_slots_follow_the_schedule(api: ApiClient) -> None:
    await api.post("/callbacks", json=booking(), headers=bearer("C1"))
    thursday = await (
        await api.get("/callbacks/slots?queue=general&date=2026-12-03", headers=bearer("C1"))
    ).json()
    starts = [s["start"][11:16] for s in thursday["slots"]]
    assert starts[0] == "10:00"
    assert starts[-1] == "19:30"
    eleven = next(s for s in thursday["slots"] if s["start"][11:16] == "11:00")
    assert eleven["available"] == 9
    sunday = await (
        await api.get("/callbacks/slots?queue=general&date=2026-12-06", headers=bearer("C1"))
    ).json()
    assert sunday["slots"] == []
    christmas = await (
        await api.get("/callbacks/slots?queue=general&date=2026-12-25", headers=bearer("C1"))
    ).json()
    assert christmas["slots"] == []


async def test_standing_secret(api: ApiClient, callback_store: CallbackStore) -> None:
    without = booking(use_standing_secret=True)
    del without["secret"]
    refused = await api.post("/callbacks", json=without, headers=bearer("C1"))
    assert refused.status == 422
    await api.put("/customers/me/secret", json={"secret": "blue moon"}, headers=bearer("C1"))
    body = await (await api.post("/callbacks", json=without, headers=bearer("C1"))).json()
    assert body["secret_source"] == "standing"
    stored = await callback_store.get(body["id"])
    assert await callback_store.secret(stored) == "blue moon"
    await api.delete("/customers/me/secret", headers=bearer("C1"))
    assert await callback_store.secret(stored) is None
