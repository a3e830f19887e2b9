"""Readbacks: English words, recorded fragments where they exist, speech for the rest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from ivr.engine.actions import PromptRef
from ivr.prompts.audio import read_wav_info
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.readback import (
    number_words,
    readback_amount,
    readback_date,
    readback_digits,
    render_readback,
)
from ivr.prompts.render import PromptAudio
from tests.prompts.conftest import run, write_catalog


@pytest.fixture
def catalog(tmp_path: Path) -> PromptCatalog:
    write_catalog(tmp_path, "en-GB", "welcome:\n  text: Welcome.\n")
    write_catalog(tmp_path, "fr-FR", "welcome:\n  text: Bienvenue.\n")
    return PromptCatalog.load(tmp_path)


def spoken(refs: list[PromptRef]) -> str:
    return " ".join(ref.text for ref in refs)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (15, "fifteen"),
        (40, "forty"),
        (42, "forty two"),
        (105, "one hundred and five"),
        (1001, "one thousand and one"),
        (1234, "one thousand two hundred and thirty four"),
        (2_000_019, "two million and nineteen"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert " ".join(text for _, text in number_words(n)) == words


def test_without_fragments_everything_is_one_spoken_ref(catalog: PromptCatalog) -> None:
    refs = readback_digits("4071", "en-GB", catalog)
    assert refs == [PromptRef(prompt_id="readback", text="four zero seven one")]


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [
        ("12.50", "GBP", "twelve pounds and fifty pence"),
        ("1.01", "GBP", "one pound and one penny"),
        ("0.99", "GBP", "ninety nine pence"),
        ("0", "GBP", "zero pounds"),
        ("-3", "USD", "minus three dollars"),
        ("1000.005", "EUR", "one thousand euros and one cent"),
    ],
)
def test_amounts(catalog: PromptCatalog, amount: str, currency: str, words: str) -> None:
    assert spoken(readback_amount(Decimal(amount), "en-GB", catalog, currency)) == words


@pytest.mark.parametrize(
    ("date", "words"),
    [
        (dt.date(1985, 3, 2), "second of March nineteen eighty five"),
        (dt.date(1905, 1, 30), "thirtieth of January nineteen oh five"),
        (dt.date(2007, 12, 21), "twenty-first of December two thousand and seven"),
        (dt.date(2024, 2, 29), "twenty-ninth of February twenty twenty four"),
    ],
)
def test_dates(catalog: PromptCatalog, date: dt.date, words: str) -> None:
    assert spoken(readback_date(date, "en-GB", catalog)) == words


def test_other_languages_speak_digits_in_their_own_voice(catalog: PromptCatalog) -> None:
    assert spoken(readback_digits("12", "fr-FR", catalog)) == "1 2"
    assert spoken(readback_date(dt.date(1985, 3, 2), "fr-FR", catalog)) == "1985-03-02"


def test_bad_input_is_refused(catalog: PromptCatalog) -> None:
    with pytest.raises(ValueError, match="digits"):
        readback_digits("12a", "en-GB", catalog)
    with pytest.raises(ValueError, match="currency"):
        readback_amount(Decimal(1), "en-GB", catalog, "JPY")


def test_fragments_are_used_where_recorded(catalog: PromptCatalog, tmp_path: Path) -> None:
    fragments = catalog.root / "en-GB" / "fragments"
    fragments.mkdir()
    for digit, word in (("4", "four"), ("7", "seven")):
        raw = tmp_path / f"raw_{digit}.wav"
        run("espeak-ng", "-v", "en-gb", "-w", raw, word)
        run("sox", raw, "-r", "8000", fragments / f"digit_{digit}.wav")

    refs = readback_digits("4071", "en-GB", catalog)
    assert refs == [
        PromptRef("fragments/digit_4", "four", "en-GB/fragments/digit_4.wav"),
        PromptRef("readback", "zero"),
        PromptRef("fragments/digit_7", "seven", "en-GB/fragments/digit_7.wav"),
        PromptRef("readback", "one"),
    ]
    out = tmp_path / "readback.wav"
    duration = render_readback(refs, catalog, "en-GB", out, cache_dir=tmp_path / "cache")
    audio = PromptAudio(catalog.root, "en-GB", cache_dir=tmp_path / "cache")
    assert duration == sum(len(audio.for_ref(ref)) for ref in refs)
    info = read_wav_info(out.read_bytes())
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (8000, 1, 16)
    assert abs(info.duration_ms - duration) <= 1
