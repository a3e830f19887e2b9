"""The directory's security questions: which answers it holds and how a caller keys them in.

Declared once in `config/directory.yaml`, so the import knows which CSV columns are secrets,
`ivr validate` can check a flow's `with: {field: ...}` and its digit counts before any call,
and the engine knows which fields are asked in part ("the 2nd and 5th digits").

A **full** field is keyed in whole (date of birth, PIN, last four digits of a card). A
**partial** field is never keyed in whole: each call asks `ask` positions chosen at random,
so a recorded call or an overheard caller gives away only those digits.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FIELD_NAME = r"^[a-z][a-z0-9_]{0,62}$"
# Columns of an import that are not security answers.
CUSTOMER_COLUMNS = ("customer_id", "name", "phones", "account_number")
TOTP_COLUMN = "totp_secret"  # optional: the base32 secret of the customer's authenticator
MAX_COMBINATIONS = 1000  # stored hashes per customer for one partial field


class FieldError(ValueError):
    """config/directory.yaml cannot be used; the message names the file and the field."""


class DigitRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = Field(ge=1, le=32)
    max: int = Field(ge=1, le=32)


class FieldSpec(BaseModel):
    """One security question the directory can check."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=FIELD_NAME)
    label: str = Field(min_length=1, max_length=100)
    digits: DigitRange
    kind: Literal["full", "partial"] = "full"
    ask: int | None = Field(default=None, ge=1, le=8)  # partial: positions asked per call
    format: Literal["ddmmyyyy"] | None = None  # a real date, checked at import

    @model_validator(mode="before")
    @classmethod
    def _digits_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("digits"), int):
            count = data["digits"]
            data = {**data, "digits": {"min": count, "max": count}}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        if self.digits.min > self.digits.max:
            raise ValueError(f"digits.min ({self.digits.min}) is above digits.max")
        if self.kind == "partial":
            if self.digits.min != self.digits.max:
                raise ValueError("a partial field needs an exact length: digits: N")
            if self.ask is None or not 1 <= self.ask < self.digits.max:
                raise ValueError(
                    f"a partial field needs 'ask': how many of its {self.digits.max} digits "
                    "a call asks for (at least 1, fewer than all)"
                )
            if math.comb(self.digits.max, self.ask) > MAX_COMBINATIONS:
                raise ValueError(
                    f"asking {self.ask} of {self.digits.max} digits makes more than "
                    f"{MAX_COMBINATIONS} combinations to store per customer; ask fewer"
                )
        elif self.ask is not None:
            raise ValueError("'ask' is for partial fields only")
        if self.format == "ddmmyyyy" and (self.digits.min, self.digits.max) != (8, 8):
            raise ValueError("a ddmmyyyy field has digits: 8")
        return self

    @property
    def length_text(self) -> str:
        low, high = self.digits.min, self.digits.max
        return f"{low} digits" if low == high else f"{low} to {high} digits"

    def problem(self, value: str, today: date | None = None) -> str | None:
        """Why `value` cannot be stored for this field (never repeating the value)."""
        if not value.isascii() or not value.isdigit():
            return "must be digits only"
        if not self.digits.min <= len(value) <= self.digits.max:
            short = len(value) < self.digits.min
            hint = " (a spreadsheet may have dropped a leading zero)" if short else ""
            return f"must be {self.length_text}{hint}"
        if self.format == "ddmmyyyy":
            try:
                born = datetime.strptime(value, "%d%m%Y").date()
            except ValueError:
                return "not a real date (expected DDMMYYYY)"
            if born > (today or date.today()) or born.year < 1900:
                return "not a plausible date"
        return None

    def combinations(self) -> list[tuple[int, ...]]:
        """Every set of positions a call may ask (1-based), for a partial field."""
        assert self.ask is not None
        return list(itertools.combinations(range(1, self.digits.max + 1), self.ask))

    def to_wire(self) -> dict[str, Any]:
        """The field as the HTTP contract's `GET /fields` describes it."""
        return self.model_dump(exclude_none=True)


BUILTIN_FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec.model_validate(
            {"name": "date_of_birth", "label": "Date of birth", "digits": 8, "format": "ddmmyyyy"}
        ),
        FieldSpec.model_validate({"name": "pin", "label": "PIN", "digits": {"min": 4, "max": 8}}),
    )
}


def parse_fields(data: Any, source: str) -> dict[str, FieldSpec]:
    """`{fields: {name: {...}}}` as FieldSpecs; FieldError names what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
        raise FieldError(f"{source}: expected 'fields:' mapping each field name to its spec")
    unknown = sorted(set(data) - {"fields"})
    if unknown:
        raise FieldError(f"{source}: unknown key(s) {', '.join(unknown)}; only 'fields' is read")
    specs: dict[str, FieldSpec] = {}
    for name, body in data["fields"].items():
        if name in CUSTOMER_COLUMNS:
            raise FieldError(f"{source}: '{name}' is a customer column, not a security field")
        try:
            specs[str(name)] = FieldSpec.model_validate({**(body or {}), "name": name})
        except (ValidationError, TypeError) as error:
            raise FieldError(f"{source}: fields.{name}: {_first(error)}") from None
    if not specs:
        raise FieldError(f"{source}: declare at least one field")
    return specs


def _first(error: Exception) -> str:
    if isinstance(error, ValidationError):
        item = error.errors()[0]
        where = ".".join(str(part) for part in item["loc"])
        return f"{where}: {item['msg']}" if where else item["msg"]
    return str(error)


def load_fields(path: Path) -> dict[str, FieldSpec]:
    """The fields declared in `path` (config/directory.yaml); the built-in ones if it is absent."""
    if not path.exists():
        return dict(BUILTIN_FIELDS)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise FieldError(f"{path}: cannot read: {error}") from None
    return parse_fields(data, str(path))


def position_words(positions: Iterable[int]) -> str:
    """[2, 5] -> '2nd and 5th': what a prompt reads to the caller."""
    words = [_ordinal(p) for p in positions]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def positions_text(positions: Iterable[int]) -> str:
    """The stored key of a combination of positions: [2, 5] -> '2,5'."""
    return ",".join(str(p) for p in sorted(positions))


def parse_positions(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"[1-9][0-9]?(,[1-9][0-9]?)*", text):
        raise ValueError(f"{text!r} is not a list of positions")
    return tuple(int(p) for p in text.split(","))


def describe(fields: Mapping[str, FieldSpec]) -> list[str]:
    """One line per field, for `ivr customers fields` and error hints."""
    lines = []
    for spec in fields.values():
        how = f"{spec.ask} of {spec.digits.max} digits asked" if spec.kind == "partial" else "full"
        lines.append(f"{spec.name}: {spec.label}, {spec.length_text}, {how}")
    return lines
