"""Which steps and outcomes of a flow the test cases exercised, with the flow's line numbers,
so a business user sees what is untested."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ivr.flow.loader import LoadedFlow
from ivr.flow.machine import CompiledFlow
from ivr.journal.records import JournalRecord, RecordKind


@dataclass(frozen=True, slots=True)
class CoverageRow:
    step: str
    step_line: int
    outcome: str
    outcome_line: int
    count: int


def step_outcomes(compiled: CompiledFlow) -> list[tuple[str, str]]:
    """Every (step, outcome) the flow routes, plus `skipped` for steps with `skip_if`."""
    pairs: list[tuple[str, str]] = []
    for step_id, plan in compiled.plans.items():
        pairs += [(step_id, outcome) for outcome in plan.routes]
        if plan.model.skip_if is not None:
            pairs.append((step_id, "skipped"))
    return pairs


def coverage(
    loaded: LoadedFlow, compiled: CompiledFlow, records: Iterable[JournalRecord]
) -> list[CoverageRow]:
    seen = Counter(
        (record.step, record.outcome)
        for record in records
        if record.kind is RecordKind.STEP_OUTCOME and record.flow_id == compiled.flow_id
    )
    rows: list[CoverageRow] = []
    for step, outcome in step_outcomes(compiled):
        key = outcome.removeprefix("key_")
        line = loaded.outcome_lines.get((step, outcome)) or loaded.outcome_lines.get((step, key))
        step_line = loaded.step_lines.get(step, 0)
        rows.append(CoverageRow(step, step_line, outcome, line or step_line, seen[(step, outcome)]))
    return rows


def format_coverage(path: str, rows: list[CoverageRow]) -> str:
    covered = sum(1 for row in rows if row.count)
    width = max([len(row.step) for row in rows] + [4])
    owidth = max([len(row.outcome) for row in rows] + [7])
    lines = [f"coverage of {path}: {covered}/{len(rows)} step outcomes exercised"]
    lines.append(f"  {'step':<{width}}  {'outcome':<{owidth}}  {'line':>5}  cases")
    for row in rows:
        mark = str(row.count) if row.count else "NOT TESTED"
        lines.append(
            f"  {row.step:<{width}}  {row.outcome:<{owidth}}  {row.outcome_line:>5}  {mark}"
        )
    return "\n".join(lines)
