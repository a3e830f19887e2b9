"""The caller's keys: what to ask for (a collect action) and what an answer is.

Pure: no I/O and no journal; the runtime decides what happens next. VoiceXML's rules: no
input and invalid input are failed attempts; retry prompts escalate by attempt and the last
one repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from ivr.engine.actions import CollectDigits, PromptRef
from ivr.flow.machine import StepPlan, choice_outcome
from ivr.flow.model import AskStep, MenuStep

KeyKind = Literal["no_input", "choice", "invalid", "dont_have", "digits"]
Prompts = Callable[[Sequence[str]], tuple[PromptRef, ...]]


def collect_action(plan: StepPlan, attempt: int, prompts: Prompts) -> CollectDigits:
    step = plan.model
    assert isinstance(step, AskStep | MenuStep)
    assert plan.input is not None
    spec = step.ask if isinstance(step, AskStep) else step.menu
    prompt_id = spec.prompt
    if attempt > 1 and spec.retry_prompts:
        prompt_id = spec.retry_prompts[min(attempt - 2, len(spec.retry_prompts) - 1)]
    if isinstance(step, AskStep):
        low, high = step.ask.digits.min, step.ask.digits.max
        dont_have = step.ask.dont_have_key
    else:
        low = high = 1
        dont_have = None
    return CollectDigits(
        prompts=prompts([prompt_id]),
        min_digits=low,
        max_digits=high,
        term_key=plan.input.term_key,
        timeout_s=plan.input.timeout_s,
        inter_digit_timeout_s=plan.input.inter_digit_timeout_s,
        barge_in=plan.input.barge_in,
        dont_have_key=dont_have,
        step=plan.step_id,
        attempt=attempt,
    )


def without_terminator(plan: StepPlan, digits: str) -> str:
    term_key = plan.input.term_key if plan.input is not None else None
    return digits[: -len(term_key)] if term_key and digits.endswith(term_key) else digits


def classify(plan: StepPlan, digits: str) -> tuple[KeyKind, str | None]:
    """What the keys are, and the step outcome they give at once (a menu choice, don't-have)."""
    step = plan.model
    if not digits:
        return "no_input", None
    if isinstance(step, MenuStep):
        if digits in step.menu.choices:
            return "choice", choice_outcome(digits)
        return "invalid", None
    assert isinstance(step, AskStep)
    ask = step.ask
    if ask.dont_have_key is not None and digits.startswith(ask.dont_have_key):
        return "dont_have", "dont_have"
    if not digits.isdigit() or not ask.digits.min <= len(digits) <= ask.digits.max:
        return "invalid", None
    return "digits", None
