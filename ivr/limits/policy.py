"""The limits against guessing, enumeration and lockout abuse, as configured per service line.

`config/service-lines.yaml` sets them under `limits:` for every line, and a line may override
any key under its own `limits:`. docs/security.md says what each limit stops.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

HOUR_S = 3600.0
MINUTE_S = 60.0


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # identification (account numbers keyed in); ANI lookups are not the caller's guesses
    identify_per_number_per_hour: int = Field(12, ge=1)  # failures per number (or withheld call)
    identify_withheld_per_hour: int = Field(120, ge=1)  # failures of all withheld callers of a line
    identify_per_account_per_hour: int = Field(12, ge=1)  # naming one account: per caller a
    # hard limit; from every caller together, answers slow down beyond it (never refused)
    identify_failures_per_minute: int = Field(300, ge=1)  # the line's ceiling, every caller
    delay_after_failures: int = Field(3, ge=0)  # failed identifications before answers slow
    delay_s: float = Field(0.25, ge=0)  # the first delay; doubles with each further failure
    max_delay_s: float = Field(1.5, ge=0, le=1.75)  # within the 2 s operation deadline
    # verification (security answers)
    verify_failures_per_number: int = Field(5, ge=1)  # per (customer, calling number)
    verify_failures_per_customer: int = Field(10, ge=1)  # from every number: a short lock
    lock_s: float = Field(900.0, gt=0)  # the first customer-wide lock; x4 for each next one
    max_lock_s: float = Field(86400.0, gt=0)
    lock_window_s: float = Field(86400.0, gt=0)  # how long a failed answer counts

    @model_validator(mode="after")
    def _consistent(self) -> Limits:
        if self.max_delay_s < self.delay_s:
            raise ValueError("max_delay_s must be at least delay_s")
        if self.max_lock_s < self.lock_s:
            raise ValueError("max_lock_s must be at least lock_s")
        return self

    def delay_for(self, failures: float) -> float:
        """Seconds to wait before answering a caller with `failures` failed identifications."""
        beyond = int(failures) - self.delay_after_failures
        if beyond < 0 or self.delay_s == 0:
            return 0.0
        return float(min(self.max_delay_s, self.delay_s * 2 ** min(beyond, 30)))

    def account_delay_for(self, attempts: float) -> float:
        """Seconds to wait before answering an attempt naming an account that every caller
        together named `attempts` times (this one included): none up to
        `identify_per_account_per_hour`, then delay_s, doubling per further attempt."""
        beyond = int(attempts) - self.identify_per_account_per_hour
        if beyond < 1 or self.delay_s == 0:
            return 0.0
        return float(min(self.max_delay_s, self.delay_s * 2 ** min(beyond - 1, 30)))

    def lock_for(self, customer_failures: float) -> float:
        """Seconds of customer-wide lock once `customer_failures` wrong answers (from every
        number) are counted: none below the threshold, then lock_s, x4 per further multiple."""
        level = int(customer_failures) // self.verify_failures_per_customer
        if level < 1:
            return 0.0
        return float(min(self.max_lock_s, self.lock_s * 4 ** min(level - 1, 30)))

    def merged(self, overrides: dict[str, float | int]) -> Limits:
        """These limits with a service line's own keys over them (validated)."""
        if not overrides:
            return self
        return Limits.model_validate({**self.model_dump(), **overrides})
