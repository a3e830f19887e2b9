"""Reading digits, amounts and dates back to the caller from recorded fragments.

A readback is a list of `PromptRef`s: a recorded fragment where
`prompts/<language>/fragments/<name>.<ext>` exists, speech otherwise (runs of unrecorded words
are merged into one spoken `PromptRef`, so the gaps sound natural). Fragment names:

- `digit_0` ... `digit_9`: single digits ("zero" ... "nine"), for account digits.
- `number_0` ... `number_19`, `number_20`, `number_30` ... `number_90`: number words.
- `hundred`, `thousand`, `million`, `and`, `minus`, `point`, `oh` (as in "nineteen oh five").
- `pound`, `pounds`, `penny`, `pence`, `dollar`, `dollars`, `euro`, `euros`, `cent`, `cents`.
- `ordinal_1` ... `ordinal_31` ("first" ... "thirty-first"), `month_1` ... `month_12`, `of`.

Number words follow English (British) rules; for other languages digits still use `digit_N`
fragments (speech says the digit in the language's voice), and amounts and dates are spoken
whole by the language's voice until someone adds that language's rules here.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from ivr.engine.actions import PromptRef
from ivr.prompts.catalog import FRAGMENTS_DIR, PromptCatalog
from ivr.prompts.render import PromptAudio, render_prompts

Word = tuple[str, str]  # (fragment name, spoken text)

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty"}
_TENS |= {60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety"}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_ORDINAL_UNITS = [
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
]
# currency code -> (major singular, major plural, minor singular, minor plural)
CURRENCIES = {
    "GBP": ("pound", "pounds", "penny", "pence"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
}


def _english(language: str) -> bool:
    return language.lower().split("-")[0] == "en"


def number_words(n: int) -> list[Word]:
    """0 <= n < 10^9 in British English: 105 -> one hundred and five."""
    if not 0 <= n < 1_000_000_000:
        raise ValueError(f"{n} is outside the range read back (0 to 999,999,999)")
    if n < 20:
        return [(f"number_{n}", _UNITS[n])]
    if n < 100:
        tens, units = divmod(n, 10)
        words = [(f"number_{tens * 10}", _TENS[tens * 10])]
        return words + ([(f"number_{units}", _UNITS[units])] if units else [])
    for size, name in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            high, rest = divmod(n, size)
            words = [*number_words(high), (name, name)]
            if rest:
                words += [("and", "and")] if rest < 100 else []
                words += number_words(rest)
            return words
    raise AssertionError("unreachable")


def _year_words(year: int) -> list[Word]:
    """1985 -> nineteen eighty-five; 1905 -> nineteen oh five; 2007 -> two thousand and seven."""
    high, low = divmod(year, 100)
    if not 1100 <= year <= 2099 or 2000 <= year <= 2009:
        return number_words(year)
    if low == 0:
        return [*number_words(high), ("hundred", "hundred")]
    if low < 10:
        return [*number_words(high), ("oh", "oh"), *number_words(low)]
    return [*number_words(high), *number_words(low)]


def _ordinal_word(day: int) -> Word:
    if day < 20:
        text = _ORDINAL_UNITS[day]
    else:
        tens, units = divmod(day, 10)
        base = _TENS[tens * 10]
        text = f"{base[:-1]}ieth" if units == 0 else f"{base}-{_ORDINAL_UNITS[units]}"
    return (f"ordinal_{day}", text)


def to_refs(words: list[Word], language: str, catalog: PromptCatalog) -> list[PromptRef]:
    """Fragments where recorded, the rest merged into runs of speech."""
    recorded = catalog.fragments(language)
    refs: list[PromptRef] = []
    spoken: list[str] = []
    for name, text in words:
        if name in recorded:
            if spoken:
                refs.append(PromptRef(prompt_id="readback", text=" ".join(spoken)))
                spoken = []
            audio = f"{language}/{FRAGMENTS_DIR}/{recorded[name].name}"
            refs.append(PromptRef(prompt_id=f"{FRAGMENTS_DIR}/{name}", text=text, audio=audio))
        else:
            spoken.append(text)
    if spoken:
        refs.append(PromptRef(prompt_id="readback", text=" ".join(spoken)))
    return refs


def readback_digits(digits: str, language: str, catalog: PromptCatalog) -> list[PromptRef]:
    """Each digit separately, e.g. the last four of an account: "4 0 7 1"."""
    if not digits.isdigit() or not digits.isascii():
        raise ValueError("only the digits 0-9 can be read back one by one")
    if _english(language):
        words = [(f"digit_{d}", _UNITS[int(d)]) for d in digits]
    else:
        words = [(f"digit_{d}", d) for d in digits]
    return to_refs(words, language, catalog)


def readback_amount(
    amount: Decimal, language: str, catalog: PromptCatalog, currency: str = "GBP"
) -> list[PromptRef]:
    """12.50 GBP -> twelve pounds and fifty pence (rounded half up to the minor unit)."""
    if currency not in CURRENCIES:
        raise ValueError(f"no readback words for currency {currency!r}")
    minor_total = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if not _english(language):
        return [PromptRef(prompt_id="readback", text=f"{amount:.2f} {currency}")]
    major, minor = divmod(minor_total, 100)
    one, many, minor_one, minor_many = CURRENCIES[currency]
    words: list[Word] = [("minus", "minus")] if amount < 0 and minor_total else []
    if major or not minor:
        unit = one if major == 1 else many
        words += [*number_words(major), (unit, unit)]
    if minor:
        unit = minor_one if minor == 1 else minor_many
        words += [("and", "and")] if major else []
        words += [*number_words(minor), (unit, unit)]
    return to_refs(words, language, catalog)


def readback_date(date: dt.date, language: str, catalog: PromptCatalog) -> list[PromptRef]:
    """2 March 1985 -> the second of March nineteen eighty-five (without "the")."""
    if not _english(language):
        return [PromptRef(prompt_id="readback", text=date.isoformat())]
    month = _MONTHS[date.month - 1]
    words = [_ordinal_word(date.day), ("of", "of"), (f"month_{date.month}", month)]
    return to_refs(words + _year_words(date.year), language, catalog)


def render_readback(
    refs: list[PromptRef],
    catalog: PromptCatalog,
    language: str,
    out_path: Path,
    *,
    cache_dir: Path | None = None,
) -> int:
    """Write a readback to one 8 kHz mono WAV (for listening and tests); returns its ms."""
    audio = PromptAudio(catalog.root, language, cache_dir=cache_dir)
    return render_prompts(refs, audio, out_path)
