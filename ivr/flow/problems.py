"""Problems found in a flow file: where, which stable code, what is wrong and how to fix it.

Every check reports through `Problem` so that the CLI, the editor integration and the tests all
see the same file:line:column, the same code and the same hint. Codes are stable: scripts and
documentation depend on them (docs/flow-language.md lists every one).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

# code -> one-line meaning; docs/flow-language.md explains each with an example.
CODES: dict[str, str] = {
    "yaml-syntax": "the file is not valid YAML",
    "unsupported-yaml": "anchors, aliases, merge keys and tags are not allowed",
    "duplicate-key": "the same key appears twice in one mapping",
    "non-string-key": "a mapping key is a number, true/false or null",
    "unquoted-digits": "a digit string was written without quotes",
    "unquoted-symbol": "a # or * was written without quotes",
    "empty-file": "the file holds no flow",
    "unknown-key": "a key the flow language does not know",
    "missing-key": "a required key is missing",
    "bad-value": "a value has the wrong type or form",
    "bad-duration": "a duration is not like 500ms, 5s or 2m",
    "no-step-kind": "a step has no kind key (ask, uses, play, ...)",
    "duplicate-step": "two steps have the same id",
    "reserved-step-id": "a step id is a word of the target grammar",
    "unknown-step": "a target names a step that does not exist",
    "bad-target": "a target leads nowhere",
    "unknown-operation": "`uses` names an operation that does not exist",
    "input-mismatch": "an operation needs caller input but the step asks none, or the reverse",
    "secret-kept": "a secret answer is collected without an operation to check it",
    "missing-param": "a required operation parameter is missing from `with`",
    "unknown-param": "`with` holds a parameter the operation does not take",
    "outcome-not-routed": "an outcome of a step is not routed",
    "unknown-outcome": "an outcome the step never produces is routed",
    "retried-outcome": "an outcome that is retried (asked again) is routed",
    "missing-result": "a `result.X` target has no `results.X` entry",
    "unknown-route": "a route name is not in config/routes.yaml or a service line alias",
    "unknown-prompt": "a prompt id is missing from the catalogue of a flow language",
    "unknown-language": "a flow language has no prompt catalogue",
    "unknown-flow": "`call_flow` names a flow that is not known",
    "duplicate-flow": "two flow files have the same flow id",
    "bad-condition": "a condition or `set` value is not a valid expression",
    "unknown-name": "an expression names a field that does not exist",
    "unknown-setting": "an expression names a setting no service line sets (warning)",
    "unreachable-step": "no path from the start reaches the step",
    "unbounded-loop": "a loop never waits for the caller, so it could spin forever",
    "unused-prompt": "a catalogue prompt no flow uses (warning)",
    "unknown-field": "`with: {field: ...}` names a field the directory does not hold",
    "digits-mismatch": "the digits an ask takes do not fit the answers of its field",
    "prompt-positions": "a partial answer's prompt does not read {positions}, or a full one does",
    "dont-have-digit": "a dont_have_key that is a digit can begin an answer (warning)",
    "bad-currency": "a payment's currency is not an ISO 4217 code in capitals",
    "internal-error": "the validator itself failed; please report it",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def format(self) -> str:
        """`file:line:column: error CODE: message (hint: ...)`, the form editors can jump to."""
        text = f"{self.file}:{self.line}:{self.column}: {self.severity} {self.code}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """'did you mean X?' for the closest option, or None when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(options)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """File order, then position: the order a reader fixes them in."""
    return sorted(problems, key=lambda p: (p.file, p.line, p.column, p.code))
