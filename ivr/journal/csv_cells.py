"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection, CWE-1236).

A gateway chooses some of what we journal (a Twilio CallSid, a jambonz call id): a value
such as `=HYPERLINK(...)` or `@SUM(...)` would run as a formula when a manager opens an
extract in Excel or LibreOffice. OWASP's advice: a text cell starting with `=`, `+`, `-`,
`@`, a tab or a carriage return gets a leading `'`, which spreadsheets show as text. Only
text is touched: numbers (an int or float, a negative duration included) are written as they
are, so the extract stays machine-readable.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading `'` if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
