"""A call's journey in plain language, for the manager who asks "what happened on call X?".

Each journal record becomes a line that says who acted (the system, the caller, or a decision),
what the caller heard (the prompt's text, from the flow and the prompt catalogue), what they did
("keyed 8 digits", "pressed the don't-have-it key", "said nothing") and what the system decided
and why, with the time since the call began. Records never hold what a caller keyed, so no line
can show it: a length is all there is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.journal.faults import CAUSES, fault_cause
from ivr.journal.records import JournalRecord, RecordKind


class PromptWords(Protocol):
    """What the caller heard on entering a step, or on its retry `attempt` (None: unknown)."""

    def heard(
        self, flow_id: str, version: str, step: str, attempt: int, language: str
    ) -> str | None: ...


class NoWords:
    """For a journal read without the flows (e.g. `ivr` commands over a copied journal)."""

    def heard(
        self, flow_id: str, version: str, step: str, attempt: int, language: str
    ) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class Line:
    at: float
    offset_s: float  # since the call began
    actor: str  # "system", "caller" or "decision"
    text: str
    step: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "offset_s": round(self.offset_s, 3),
            "actor": self.actor,
            "text": self.text,
            "step": self.step,
        }


OPERATIONS = {
    "directory.lookup_by_ani": "looked the caller up by the number they called from",
    "directory.lookup_by_account": "looked up the account number",
    "verify.answer": "checked the security answer",
    "payment.charge": "took a card payment",
}
OUTCOMES = {
    "paid": "the payment was approved",
    "declined": "the card issuer declined it",
    "cancelled": "the caller stopped it, or ran out of attempts",
    "found": "found one customer",
    "not_found": "found no customer",
    "many": "found several customers",
    "verified": "the answer matched",
    "wrong": "the answer did not match",
    "no_match": "the answer did not match",
    "locked": "the customer is locked after too many failures",
    "not_enrolled": "the customer has no answer on file",
    "error": "it failed (error)",
    "timeout": "it did not answer in time",
}
STATUSES = {
    "identified_and_verified": "identified and verified",
    "identified_only": "identified but not verified",
    "not_identified": "not identified",
}


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f" ({ms:.0f} ms)" if ms < 1000 else f" ({ms / 1000:.1f} s)"


def _seconds(total: float) -> str:
    minutes, seconds = divmod(int(round(total)), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


class Narrator:
    """Turns one call's records, in order, into lines."""

    def __init__(self, words: PromptWords) -> None:
        self.words = words

    def lines(self, records: Sequence[JournalRecord]) -> list[Line]:
        if not records:
            return []
        began = records[0].at
        language = ""
        heard: dict[str, int] = {}  # step -> last attempt whose prompt was told
        out: list[Line] = []

        def add(r: JournalRecord, actor: str, text: str) -> None:
            out.append(Line(r.at, r.at - began, actor, text, r.step))

        for r in records:
            data = r.data or {}
            kind = r.kind
            if kind == RecordKind.CALL_STARTED:
                language = str(data.get("language") or "")
                add(r, "system", self._started(r, data))
            elif kind == RecordKind.STEP_ENTERED and r.step:
                attempt = r.attempt or 1
                heard[r.step] = attempt
                add(r, "system", self._entered(r, r.step, attempt, language))
            elif kind == RecordKind.INPUT and r.step:
                attempt = r.attempt or 1
                if attempt > heard.get(r.step, 0):  # a retry prompt the engine played
                    heard[r.step] = attempt
                    add(r, "system", self._entered(r, r.step, attempt, language))
                add(r, "caller", self._input(data))
            elif kind == RecordKind.OPERATION:
                add(r, "system", self._operation(r, data))
            elif kind == RecordKind.STEP_OUTCOME:
                add(r, "decision", self._outcome(r, data))
            elif kind == RecordKind.IDV_STATUS:
                add(r, "decision", self._status(r, data))
            elif kind == RecordKind.ROUTED:
                route = data.get("route") or r.outcome
                add(r, "decision", f"Routed to {r.outcome or 'a route'} ({route}).")
            elif kind == RecordKind.HANGUP:
                who = data.get("by") or "caller"
                text = "The caller hung up." if who == "caller" else "The system ended the call."
                add(r, "caller" if who == "caller" else "system", text)
            elif kind == RecordKind.CALL_ENDED:
                total = (r.duration_ms or 0.0) / 1000.0 if r.duration_ms else r.at - began
                add(r, "system", f"Call ended ({r.outcome or 'ended'}) after {_seconds(total)}.")
        return out

    def _started(self, r: JournalRecord, data: dict[str, Any]) -> str:
        ani = data.get("ani")
        caller = f"from a number ending {str(ani)[-4:]}" if ani else "from a withheld number"
        trust = data.get("ani_trust")
        trusted = f", caller ID {trust}" if trust and trust != "unknown" else ""
        return (
            f"Call started on the {r.service_line} line {caller}{trusted}; "
            f"flow {r.flow_id} version {r.flow_version}."
        )

    def _entered(self, r: JournalRecord, step: str, attempt: int, language: str) -> str:
        text = self.words.heard(r.flow_id, r.flow_version, step, attempt, language)
        again = f" (attempt {attempt})" if attempt > 1 else ""
        if text:
            return f"Step {step}{again}: the caller heard “{text}”"
        return f"Step {step}{again} began."

    @staticmethod
    def _input(data: dict[str, Any]) -> str:
        what = data.get("kind")
        length = data.get("length")
        if what == "no_input":
            return "Said nothing (no key pressed before the timeout)."
        if what == "dont_have":
            return "Pressed the “don't have it” key."
        if what == "invalid":
            keys = f" {length} keys" if isinstance(length, int) else " keys"
            return f"Keyed{keys} that are not a valid entry."
        if isinstance(length, int):
            return f"Keyed {length} digit{'s' if length != 1 else ''}."
        return "Answered."

    @staticmethod
    def _operation(r: JournalRecord, data: dict[str, Any]) -> str:
        name = str(data.get("operation") or "an operation")
        did = OPERATIONS.get(name, f"ran {name}")
        result = OUTCOMES.get(r.outcome or "", r.outcome or "done")
        return f"The system {did}: {result}{_duration(r.duration_ms)}."

    @staticmethod
    def _outcome(r: JournalRecord, data: dict[str, Any]) -> str:
        cause = fault_cause(r.kind, r.outcome, data)
        if r.outcome == "fallback":
            why = CAUSES.get(cause or "other", "a fault")
            return f"Sent to an agent by the fallback at step {r.step}: {why}."
        return f"Step {r.step} ended: {r.outcome}{_duration(r.duration_ms)}."

    @staticmethod
    def _status(r: JournalRecord, data: dict[str, Any]) -> str:
        status = STATUSES.get(r.outcome or "", r.outcome or "unknown")
        customer = data.get("customer_id")
        who = f" as customer {customer}" if customer else ""
        return f"ID&V status: {status}{who}."
