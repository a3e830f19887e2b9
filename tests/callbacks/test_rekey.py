"""`ivr callbacks rekey` after a new key is put first: every secret resealed under it (counts
printed, never a secret), a second run finds nothing to do, a run stopped midway is finished by
the next, and the old key can then be removed; a secret whose key is gone is named, not lost."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime, timedelta

from ivr.callbacks.auth import AppIdentity
from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.db import open_database
from ivr.callbacks.model import Booking, Window
from ivr.callbacks.queues import Queues
from ivr.callbacks.rekey import rekey
from ivr.callbacks.service import book
from ivr.callbacks.store import CallbackStore
from tests.callbacks.conftest import KEY_1, KEY_2
from tests.callbacks.test_simulate import ROOT, _run

OLD = f"k1:{KEY_1}"
BOTH = f"k2:{KEY_2},k1:{KEY_1}"
NEW = f"k2:{KEY_2}"
WORDS = ("anana", "bramble", "cobalt")


async def _store(url: str, keys: str) -> CallbackStore:
    return CallbackStore(await open_database(url), SecretBox.from_text(keys))


async def _book_three(url: str) -> list[str]:
    store = await _store(url, OLD)
    now = time.time()
    start = datetime.fromtimestamp(now, UTC)
    window = Window(start=start, end=start + timedelta(hours=3))
    ids = []
    try:
        for n, word in enumerate(WORDS):
            request = Booking(number="+447700900123", queue="cards", window=window, secret=word)
            callback, _ = await book(store, Queues.load(ROOT / "config"), AppIdentity(f"C{n}"),
                                     request, now)  # fmt: skip
            ids.append(callback.id)
        await store.set_standing_secret("C0", "blue moon", now)
    finally:
        await store.db.close()
    return ids


async def _rekey_cli(url: str, keys: str) -> tuple[int, str, str]:
    env = {**os.environ, "IVR_CALLBACK_KEYS": keys}
    return await _run("callbacks", "rekey", "--journal", url, env=env)


def _no_secret(*texts: str) -> None:
    for text in texts:
        for word in (*WORDS, "blue moon"):
            assert word not in text


async def test_rekey_then_remove_the_old_key(store_url: str) -> None:
    ids = await _book_three(store_url)
    # a run stopped after one row: that row is already under the new key
    store = await _store(store_url, BOTH)
    try:
        first = await store.get(ids[0])
        sealed = store.require_box().seal(WORDS[0], first.id)
        await store.db.execute(
            "UPDATE callbacks SET secret_kid = :k, secret_ct = :b WHERE id = :id",
            {"k": sealed.key_id, "b": sealed.blob, "id": first.id},
        )
    finally:
        await store.db.close()
    code, out, err = await _rekey_cli(store_url, BOTH)
    assert code == 0, err
    assert "resealed under k2: 2 callback secrets, 1 standing secrets; 1 already under it" in out
    _no_secret(out, err)
    code, out, err = await _rekey_cli(store_url, BOTH)  # again: nothing left to do
    assert code == 0, err
    assert "resealed under k2: 0 callback secrets, 0 standing secrets; 4 already under it" in out
    only_new = await _store(store_url, NEW)
    try:
        for callback_id, word in zip(ids, WORDS, strict=True):
            assert await only_new.secret(await only_new.get(callback_id)) == word
        assert await only_new.standing_secret("C0") == "blue moon"
    finally:
        await only_new.db.close()


async def test_a_secret_whose_key_is_gone_is_named_not_lost(store_url: str) -> None:
    ids = await _book_three(store_url)
    other = f"k3:{base64.b64encode(bytes(range(64, 96))).decode()}"
    code, out, err = await _rekey_cli(store_url, other)  # neither k1 nor k2 listed
    assert code == 1
    assert "0 callback secrets" in out
    assert "4 unreadable" in out
    assert ids[0] in err
    assert "standing:C0" in err
    _no_secret(out, err)
    store = await _store(store_url, OLD)
    try:
        assert await store.secret(await store.get(ids[1])) == WORDS[1]  # left as it was
        done = await rekey(store.db, SecretBox.from_text(BOTH))
        assert (done.callbacks, done.standing, done.unreadable) == (3, 1, [])
    finally:
        await store.db.close()
