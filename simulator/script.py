"""The caller's script: `--input "12345678#;timeout;*;hangup"`.

Each step is keys as pressed (digits, `*`, `#`), `timeout` (the caller says nothing) or
`hangup`. When the script runs out while the flow waits for keys, the caller hangs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_KEYS = re.compile(r"^[0-9*#A-D]+$")


class ScriptError(ValueError):
    """A step of the script is not keys, `timeout` or `hangup`."""


@dataclass(frozen=True, slots=True)
class CallerStep:
    kind: Literal["press", "timeout", "hangup"]
    keys: str = ""


def parse_script(text: str) -> list[CallerStep]:
    steps: list[CallerStep] = []
    for position, raw in enumerate(text.split(";"), start=1):
        item = raw.strip()
        if not item:
            continue
        lowered = item.lower()
        if lowered in ("timeout", "t", "silence"):
            steps.append(CallerStep("timeout"))
        elif lowered in ("hangup", "h"):
            steps.append(CallerStep("hangup"))
        elif _KEYS.match(item):
            steps.append(CallerStep("press", item))
        else:
            raise ScriptError(
                f"step {position} ({item!r}) is not keys (0-9 * # A-D), 'timeout' or 'hangup'"
            )
    return steps
