"""Records as rows: what the worker receives, scrubs, folds and stores without record objects."""

from __future__ import annotations

import json
from datetime import date

from ivr.journal.fold import fold, fold_rows
from ivr.journal.records import (
    JournalRecord,
    RecordKind,
    as_row,
    data_json,
    scrub_data,
    scrub_if_needed,
    scrub_row,
)
from ivr.journal.store import clean_batch, clean_rows
from ivr.journal.wire import HEADER, decode_batch, decode_records, encode_batch
from tests.journal.test_writer import many_calls


def test_a_frame_carries_rows_that_give_back_the_records() -> None:
    records = [r for call in many_calls(3) for r in call]
    payload = encode_batch(7, records)[HEADER.size :]
    assert decode_batch(payload) == [as_row(r) for r in records]
    assert decode_records(payload) == records


def test_plain_data_is_not_copied_and_sensitive_data_is_scrubbed() -> None:
    plain = {"operation": "directory.lookup_by_ani", "detail": "x"}
    assert scrub_if_needed(plain)[0] is plain
    for data in (
        {"PIN": "1234", "kind": "digits"},  # any case
        {"dnis": "+441134960000"},
        {"operation": "x", "detail": {"otp": "9"}},  # one level down
    ):
        assert scrub_if_needed(data) == scrub_data(data)
        assert scrub_if_needed(data)[0] is not data
    masked = {"ani": "*********0123"}  # already masked: nothing to change, kept as is
    assert scrub_if_needed(masked) == (masked, 0)


def test_clean_rows_matches_clean_batch() -> None:
    r = JournalRecord(
        "c", 0, 1.0, RecordKind.INPUT, "f", "1", "l", data={"digits": "1", "kind": "digits"}
    )
    records = [*many_calls(2)[0], r]
    assert clean_rows([as_row(x) for x in records]) == [as_row(x) for x in clean_batch(records)]
    row = as_row(many_calls(1)[0][1])
    assert scrub_row(row)[0] is row


def test_fold_rows_with_kinds_as_plain_text_matches_fold() -> None:
    records = [r for call in many_calls(5) for r in call]
    rows = [(*as_row(r)[:3], r.kind.value, *as_row(r)[4:]) for r in records]
    assert fold_rows(rows) == fold(records)


def test_data_json_is_the_compact_ascii_json_it_always_was() -> None:
    data = {"a": "é", "n": [1, 2.5, None, True], "d": date(2024, 5, 1), "x": {"y": "z"}}
    expected = json.JSONEncoder(separators=(",", ":"), default=str).encode(data)
    assert data_json(data) == expected
    assert data_json({}) is None
