"""Shared fixtures for flow tests: a small valid flow and the repo's prompts and config."""

from __future__ import annotations

from pathlib import Path

from ivr.config import load_config
from ivr.flow.loader import FlowLoadError, ValidationContext, load_flow_text
from ivr.flow.problems import Problem
from ivr.prompts.catalog import PromptCatalog

ROOT = Path(__file__).resolve().parents[2]

# Line numbers matter: the error-code tests assert positions in this text.
BASE = """\
schema_version: 1
flow: {id: demo, version: "1", languages: [en-GB]}
steps:
  - step: welcome
    play: welcome
    next: identify
identify:
  - step: account
    ask:
      prompt: ask_account_number
      digits: {min: 8, max: 8}
      dont_have_key: "*"
    uses: directory.lookup_by_account
    outcomes:
      found: verify
      dont_have: result.not_identified
      max_attempts: result.not_identified
      error: result.not_identified
verify:
  - step: dob
    ask: {prompt: ask_date_of_birth, digits: {min: 8, max: 8}}
    uses: verify.answer
    with: {field: date_of_birth}
    outcomes:
      verified: next
      max_attempts: result.identified_only
      locked: result.identified_only
      not_enrolled: result.identified_only
      error: result.identified_only
results:
  identified_and_verified: {say: verified_thanks, route: agent}
  identified_only: {route: agent}
  not_identified: {route: agent}
"""


def repo_context() -> ValidationContext:
    return ValidationContext(
        catalog=PromptCatalog.load(ROOT / "prompts"), config=load_config(ROOT / "config")
    )


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, f"{old!r} not in the base flow"
    return text.replace(old, new, 1)


def problems_of(text: str, context: ValidationContext | None = None) -> list[Problem]:
    """Every problem (errors and warnings) of a flow text; [] when it loads clean."""
    try:
        loaded = load_flow_text(text, "flow.yaml", context or repo_context())
    except FlowLoadError as error:
        return error.problems
    return list(loaded.warnings)


def found(text: str, context: ValidationContext | None = None) -> set[tuple[str, int, int]]:
    return {(p.code, p.line, p.column) for p in problems_of(text, context)}
