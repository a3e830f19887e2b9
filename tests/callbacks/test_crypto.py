"""Sealing secrets: AES-GCM round trip, rotation by key id, tampering and moving refused."""

from __future__ import annotations

import pytest

from ivr.callbacks.crypto import CallbackKeyError, Sealed, SecretBox, SecretUnreadable
from tests.callbacks.conftest import KEY_1, KEY_2


def test_seals_with_the_newest_key_and_opens_with_the_one_named() -> None:
    old = SecretBox.from_text(f"k1:{KEY_1}")
    sealed = old.seal("anana", "cb_1")
    assert sealed.key_id == "k1"
    assert b"anana" not in sealed.blob
    rotated = SecretBox.from_text(f"k2:{KEY_2}, k1:{KEY_1}")
    assert rotated.open(sealed, "cb_1") == "anana"
    assert rotated.seal("anana", "cb_1").key_id == "k2"
    retired = SecretBox.from_text(f"k2:{KEY_2}")
    with pytest.raises(SecretUnreadable):
        retired.open(sealed, "cb_1")


def test_same_secret_seals_differently_each_time() -> None:
    box = SecretBox.from_text(f"k1:{KEY_1}")
    assert box.seal("anana", "cb_1").blob != box.seal("anana", "cb_1").blob


def test_tampered_or_moved_ciphertext_does_not_open() -> None:
    box = SecretBox.from_text(f"k1:{KEY_1}")
    sealed = box.seal("anana", "cb_1")
    with pytest.raises(SecretUnreadable):
        box.open(sealed, "cb_2")  # copied onto another callback
    flipped = bytes([sealed.blob[0], *sealed.blob[1:-1], sealed.blob[-1] ^ 1])
    with pytest.raises(SecretUnreadable):
        box.open(Sealed("k1", flipped), "cb_1")


@pytest.mark.parametrize(
    "text",
    ["", "k1", f"k1:{KEY_1},k1:{KEY_2}", "k1:not*base64", "k1:YWJj", f"bad id:{KEY_1}"],
)
def test_bad_key_lists_are_refused_without_showing_keys(text: str) -> None:
    with pytest.raises(CallbackKeyError) as error:
        SecretBox.from_text(text)
    assert KEY_1 not in str(error.value)


def test_keyed_hash_survives_rotation() -> None:
    old = SecretBox.from_text(f"k1:{KEY_1}")
    stored = old.keyed_hash(b"body")
    rotated = SecretBox.from_text(f"k2:{KEY_2},k1:{KEY_1}")
    assert rotated.same_hash(stored, b"body")
    assert not rotated.same_hash(stored, b"other")
    assert not SecretBox.from_text(f"k2:{KEY_2}").same_hash(stored, b"body")
