"""The sealed card entry: opens only for its call and step, holds no digit in clear, rotates."""

from __future__ import annotations

import base64
import json

import pytest

from ivr.callbacks.crypto import CallbackKeyError, SecretBox, new_key_text
from ivr.payments.vault import CardEntry, EntryUnreadable, PaymentVault
from ivr.settings import PAYMENT_KEYS_ENV, Settings

PAN, CVV = "4111111111111111", "123"


def _vault(text: str | None = None) -> PaymentVault:
    return PaymentVault(SecretBox.from_text(text or new_key_text("k1"), PAYMENT_KEYS_ENV))


def test_round_trip_and_nothing_in_clear() -> None:
    vault = _vault()
    sealed = vault.seal(CardEntry(PAN, "1229", CVV, ""), "call-1", "pay")
    dumped = json.dumps(sealed)
    assert PAN not in dumped
    assert "1229" not in dumped
    assert PAN.encode() not in base64.b64decode(sealed["b"])
    entry = vault.open(sealed, "call-1", "pay")
    assert (entry.pan, entry.expiry, entry.cvv) == (PAN, "1229", CVV)
    assert PAN not in repr(entry)
    assert CVV not in repr(entry)


@pytest.mark.parametrize(("call", "step"), [("call-2", "pay"), ("call-1", "other")])
def test_an_entry_moved_to_another_call_or_step_does_not_open(call: str, step: str) -> None:
    vault = _vault()
    sealed = vault.seal(CardEntry(PAN, "1229", CVV, ""), "call-1", "pay")
    with pytest.raises(EntryUnreadable) as error:
        vault.open(sealed, call, step)
    assert PAN not in str(error.value)


def test_an_old_key_still_opens_while_listed() -> None:
    old = new_key_text("old")
    sealed = _vault(old).seal(CardEntry(PAN, "1229", CVV, ""), "c", "s")
    rotated = _vault(f"{new_key_text('new')},{old}")
    assert rotated.open(sealed, "c", "s").pan == PAN
    assert rotated.seal(CardEntry(), "c", "s")["k"] == "new"
    with pytest.raises(EntryUnreadable):
        _vault(new_key_text("new")).open(sealed, "c", "s")


def test_tampered_or_garbled_entries_do_not_open() -> None:
    vault = _vault()
    sealed = vault.seal(CardEntry(PAN, "1229", CVV, ""), "c", "s")
    blob = bytearray(base64.b64decode(sealed["b"]))
    blob[-1] ^= 1
    for bad in ({"k": sealed["k"], "b": base64.b64encode(blob).decode()}, {"k": "k1"}, {"x": "1"}):
        with pytest.raises(EntryUnreadable):
            vault.open(bad, "c", "s")
    assert vault.open(None, "c", "s") == CardEntry()


def test_payment_keys_setting_checks_its_value_and_has_a_loud_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("IVR_PAYMENT_KEYS", "k1:notbase64*")
    from ivr.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "IVR_PAYMENT_KEYS" in str(error.value)
    with pytest.raises(CallbackKeyError) as named:
        SecretBox.from_text("", PAYMENT_KEYS_ENV)
    assert "payment key" in str(named.value)
    monkeypatch.delenv("IVR_PAYMENT_KEYS")
    import ivr.settings

    monkeypatch.setattr(ivr.settings, "_warned", set())
    text = Settings.defaults().payment_key_text()
    assert SecretBox.from_text(text, PAYMENT_KEYS_ENV).current == "dev"
    assert "IVR_PAYMENT_KEYS is not set" in caplog.text
