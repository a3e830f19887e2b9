"""Why the Twilio adapter parses its forms by hand: `parse_qsl` against `parse_form`, timed.

    python -m bench.forms

For one Twilio `gather` webhook's form (the fields bench.webhooks sends): the standard
library's `parse_qsl` against `ivr.adapters.wire.parse_form` (same result, tested on generated
text). Medians of 7 runs of 20,000 calls, CPU time (`time.process_time`) per call. With
`parse_qsl` the server's CPU per event in `bench.webhooks` was more than 10 % above the
hand-written parse, issue 11's bound. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from bench.machine import describe
from bench.webhooks import FIELDS
from ivr.adapters.wire import parse_form

FORM = urlencode({**FIELDS, "CallSid": "CA" + "1" * 32, "CallStatus": "in-progress", "Digits": "1"})


def per_call(work: Callable[[], object], calls: int = 20_000, runs: int = 7) -> float:
    """Median CPU µs per call."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        for _ in range(calls):
            work()
        times.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    print(describe())
    figures = {
        "parse_qsl (standard library)": per_call(lambda: parse_qsl(FORM, keep_blank_values=True)),
        "parse_form (ivr.adapters.wire)": per_call(lambda: parse_form(FORM)),
    }
    for label, micros in figures.items():
        print(f"  {label:40}: {micros:6.2f} µs per call")


if __name__ == "__main__":
    main()
