"""Rule 4: a collected secret never reaches the journal; numbers are masked."""

from __future__ import annotations

import json

from ivr.journal.records import JournalRecord, RecordKind, mask_number, scrub_record
from ivr.journal.store import JournalStore

SECRET = "19840229"


def test_mask_number_keeps_last_digits_only() -> None:
    assert mask_number("+447700900123") == "*********0123"
    assert mask_number("123") == "***"
    assert mask_number(None) is None
    assert mask_number(mask_number("+447700900123")) == "*********0123"  # idempotent


def test_scrub_drops_secret_keys_and_masks_numbers() -> None:
    r = JournalRecord(
        "c1",
        0,
        1.0,
        RecordKind.INPUT,
        "idv",
        "1",
        "retail",
        step="dob",
        data={
            "kind": "digits",
            "length": 8,
            "digits": SECRET,
            "nested": {"PIN": "1234"},
            "account_number": "12345678",
        },
    )
    clean, dropped = scrub_record(r)
    assert dropped == 2
    assert clean.data == {"kind": "digits", "length": 8, "nested": {}, "account_number": "****5678"}
    assert SECRET not in json.dumps(clean.data)


async def test_store_strips_secrets(store: JournalStore) -> None:
    leaky = [
        JournalRecord(
            "c1",
            0,
            1.0,
            RecordKind.CALL_STARTED,
            "idv",
            "1",
            "retail",
            data={"dnis": "+441134960000", "ani": "+447700900123"},
        ),
        JournalRecord(
            "c1",
            1,
            2.0,
            RecordKind.INPUT,
            "idv",
            "1",
            "retail",
            step="dob",
            data={"kind": "digits", "digits": SECRET, "answer": SECRET, "pin": "4321"},
        ),
    ]
    await store.append(leaky)
    dump = repr(await store.fetch("SELECT * FROM records", {}))
    dump += repr(await store.fetch("SELECT * FROM calls", {}))
    assert SECRET not in dump
    assert "4321" not in dump
    assert "+447700900123" not in dump
    assert "0123" in dump  # masked, last digits kept
    journey = await store.journey("c1")
    assert journey[1].data == {"kind": "digits"}
