from __future__ import annotations

import logging

import pytest

from ivr import settings
from ivr.directory.hashing import DEVELOPMENT_KEY, answer_matches, hash_answer
from ivr.settings import load_settings


def test_hash_is_keyed_hmac_not_the_answer() -> None:
    digest = hash_answer("pin", "C1", "4321")
    assert "4321" not in digest
    assert len(digest) == 64
    assert hash_answer("pin", "C1", "4321", key=b"other") != digest


def test_hash_binds_field_and_customer() -> None:
    base = hash_answer("pin", "C1", "12345678")
    assert hash_answer("pin", "C2", "12345678") != base
    assert hash_answer("date_of_birth", "C1", "12345678") != base
    # The separators keep "C1"+"2..." from colliding with "C12"+"...".
    assert hash_answer("pin", "C1", "21234") != hash_answer("pin", "C12", "1234")


def test_answer_matches_only_the_right_answer() -> None:
    stored = hash_answer("pin", "C1", "4321")
    assert answer_matches("pin", "C1", "4321", stored)
    assert answer_matches("pin", "C1", " 4321 ", stored)
    assert not answer_matches("pin", "C1", "4320", stored)
    assert not answer_matches("pin", "C2", "4321", stored)
    assert not answer_matches("pin", "C1", "4321", "not-a-hash-\u00e9")


def test_key_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_SECRET_KEY", "one")
    first = hash_answer("pin", "C1", "4321", load_settings().answer_key())
    monkeypatch.setenv("IVR_SECRET_KEY", "two")
    assert hash_answer("pin", "C1", "4321", load_settings().answer_key()) != first
    assert hash_answer("pin", "C1", "4321", b"one") == first


def test_missing_key_uses_development_key_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings, "_warned", set())
    with caplog.at_level(logging.WARNING):
        first = hash_answer("pin", "C1", "4321")
        hash_answer("pin", "C1", "4321")
    assert first == hash_answer("pin", "C1", "4321", key=DEVELOPMENT_KEY)
    warnings = [r for r in caplog.records if "IVR_SECRET_KEY" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
