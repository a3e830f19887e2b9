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
from ivr.flow.model import AskStep, FlowFile, MenuStep

KeyKind = Literal["no_input", "choice", "invalid", "dont_have", "digits"]
Prompts = Callable[[Sequence[str]], tuple[PromptRef, ...]]
RetryEvent = Literal["no_input", "invalid", "wrong"]


def retry_prompt_ids(
    flow: FlowFile, step: AskStep | MenuStep, attempt: int, event: str | None, count: int
) -> list[str]:
    """What the caller hears on `attempt`, after the `count`-th failed try of kind `event`.

    VoiceXML's rule: each event has its own escalating prompts (highest count not above the
    event's counter; the last one repeats), so silence is never answered with "that didn't
    match". Without the step's own prompts for the event: its `retry_prompts` (any failure),
    else the flow's default for the event, then the step's prompt again (which keeps its
    options, such as "press star if you don't have it").
    """
    spec = step.ask if isinstance(step, AskStep) else step.menu
    if attempt <= 1 or event is None:
        return [spec.prompt]
    own: list[str] = list(getattr(spec, event, ()))
    if own:
        return [own[min(count, len(own)) - 1]]
    if spec.retry_prompts:
        return [spec.retry_prompts[min(attempt - 2, len(spec.retry_prompts) - 1)]]
    default: list[str] = list(getattr(flow.defaults, event, ()))
    if default:
        return [default[min(count, len(default)) - 1], spec.prompt]
    return [spec.prompt]


def collect_action(
    plan: StepPlan,
    attempt: int,
    prompts: Prompts,
    prompt_ids: Sequence[str] | None = None,
    positions: Sequence[int] = (),
) -> CollectDigits:
    step = plan.model
    assert isinstance(step, AskStep | MenuStep)
    assert plan.input is not None
    spec = step.ask if isinstance(step, AskStep) else step.menu
    if prompt_ids is None:  # escalation by attempt alone (no event known)
        prompt_ids = [spec.prompt]
        if attempt > 1 and spec.retry_prompts:
            prompt_ids = [spec.retry_prompts[min(attempt - 2, len(spec.retry_prompts) - 1)]]
    if isinstance(step, AskStep):
        low, high = step.ask.digits.min, step.ask.digits.max
        dont_have = step.ask.dont_have_key
    else:
        low = high = 1
        dont_have = None
    return CollectDigits(
        prompts=prompts(prompt_ids),
        min_digits=low,
        max_digits=high,
        term_key=plan.input.term_key,
        timeout_s=plan.input.timeout_s,
        inter_digit_timeout_s=plan.input.inter_digit_timeout_s,
        barge_in=plan.input.barge_in,
        dont_have_key=dont_have,
        step=plan.step_id,
        attempt=attempt,
        positions=tuple(positions),
    )


def without_terminator(plan: StepPlan, digits: str) -> str:
    term_key = plan.input.term_key if plan.input is not None else None
    return digits[: -len(term_key)] if term_key and digits.endswith(term_key) else digits


def classify(plan: StepPlan, digits: str) -> tuple[KeyKind, str | None]:
    """What the keys are, and the step outcome they give at once (a menu choice, don't-have).

    A `dont_have_key` that is a digit means "I don't have it" only as the whole entry (the
    key, then `#` or the inter-digit pause): an account number starting with 0 is an account
    number. `*` (or another key no answer contains) counts from the first key.
    """
    step = plan.model
    if not digits:
        return "no_input", None
    if isinstance(step, MenuStep):
        if digits in step.menu.choices:
            return "choice", choice_outcome(digits)
        return "invalid", None
    assert isinstance(step, AskStep)
    ask = step.ask
    key = ask.dont_have_key
    if key is not None and (digits == key if key.isdigit() else digits.startswith(key)):
        return "dont_have", "dont_have"
    if not digits.isdigit() or not ask.digits.min <= len(digits) <= ask.digits.max:
        return "invalid", None
    return "digits", None
