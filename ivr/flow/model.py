"""The flow file schema (v1): what business users may write, as pydantic models.

The models check shapes and value formats only. Cross references (targets, prompts, routes,
operations) and graph properties (reachability, loops) are checked by `ivr.flow.checks`, which
reports every problem with its YAML position. `ivr schema` exports these models as JSON Schema
so that editors check flow files as people type.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

STEP_ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
PROMPT_ID_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
KEY_PATTERN = r"^[0-9*#A-D]$"
DURATION_PATTERN = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m)$")
SECTIONS = ("steps", "identify", "verify")
IDV_STATUSES = ("identified_and_verified", "identified_only", "not_identified")
HANDOFF_FIELDS = (
    "idv_status",
    "customer_id",
    "customer_name",
    "factors_passed",
    "locked",
    "ani_trust",
    "idv_token",
    "service_line",
    "callback_id",
    "callback_queue",
    "reverse_idv",
    "payment",
)


def parse_duration(text: str) -> float:
    """'5s', '500ms', '2m' -> seconds. Raises ValueError with the accepted forms."""
    match = DURATION_PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: '500ms', '5s' or '2m'"
        )
    value = float(match["value"])
    return {"ms": value / 1000, "s": value, "m": value * 60}[match["unit"]]


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"{value!r} is not a duration; write a number and a unit: '500ms', '5s' or '2m'"
        )
    seconds = parse_duration(value)
    if not 0 < seconds <= 600:
        raise ValueError(f"{value!r} is out of range; a duration must be above 0 and at most 10m")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]
StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN)]
PromptId = Annotated[str, Field(pattern=PROMPT_ID_PATTERN)]
DigitKey = Annotated[str, Field(pattern=KEY_PATTERN)]
Target = Annotated[str, Field(min_length=1)]
Condition = Annotated[str, Field(min_length=1)]
HandoffField = Literal[
    "idv_status",
    "customer_id",
    "customer_name",
    "factors_passed",
    "locked",
    "ani_trust",
    "idv_token",
    "service_line",
    "callback_id",
    "callback_queue",
    "reverse_idv",
    "payment",
]
IdvStatus = Literal["identified_and_verified", "identified_only", "not_identified"]


def _status_only() -> list[HandoffField]:
    return ["idv_status"]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class InputSettings(Strict):
    """VoiceXML-style input timings; set in `defaults.input`, overridable per step."""

    timeout: Duration | None = None
    inter_digit_timeout: Duration | None = None
    term_key: DigitKey | None = None
    barge_in: bool | None = None


class DigitsSpec(Strict):
    min: int = Field(ge=1, le=32)
    max: int = Field(ge=1, le=32)

    @model_validator(mode="after")
    def _min_le_max(self) -> DigitsSpec:
        if self.min > self.max:
            raise ValueError(f"digits.min ({self.min}) is above digits.max ({self.max})")
        return self


RETRY_EVENTS = ("no_input", "invalid", "wrong")  # VoiceXML noinput, nomatch, reject


class AskSpec(InputSettings):
    """Collect digits: the prompt, what to play after each kind of failed try, and the keys.

    After silence (`no_input`), keys that cannot be an answer (`invalid`: wrong length, a key
    that is not a digit) and an answer the operation refused (`wrong`), the caller hears that
    event's prompts, escalating with its count (the last repeats); without them, `retry_prompts`
    (any failure), else the flow's default for the event followed by `prompt` again.
    """

    prompt: PromptId
    retry_prompts: list[PromptId] = Field(default_factory=list)
    no_input: list[PromptId] = Field(default_factory=list)
    invalid: list[PromptId] = Field(default_factory=list)
    wrong: list[PromptId] = Field(default_factory=list)
    digits: DigitsSpec
    dont_have_key: DigitKey | None = None
    secret: bool = False


class MenuSpec(InputSettings):
    """A DTMF choice: each key names where the caller goes."""

    prompt: PromptId
    retry_prompts: list[PromptId] = Field(default_factory=list)
    no_input: list[PromptId] = Field(default_factory=list)
    invalid: list[PromptId] = Field(default_factory=list)
    choices: dict[DigitKey, Target] = Field(min_length=1)


class StepBase(Strict):
    step: StepId
    description: str | None = None
    skip_if: Condition | None = None


class AskStep(StepBase):
    """Collect digits, then optionally pass them to an operation (`uses`)."""

    ask: AskSpec
    uses: str | None = None
    with_: dict[str, str | int | bool] = Field(default_factory=dict, alias="with")
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    outcomes: dict[str, Target] = Field(default_factory=dict)


class OperationStep(StepBase):
    """Run a developer-registered operation (a lookup, a check) and route on its outcome."""

    uses: str
    with_: dict[str, str | int | bool] = Field(default_factory=dict, alias="with")
    outcomes: dict[str, Target] = Field(default_factory=dict)


class PlayStep(StepBase):
    play: list[PromptId] = Field(min_length=1)
    next: Target = "next"

    @field_validator("play", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MenuStep(StepBase):
    menu: MenuSpec
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    outcomes: dict[str, Target] = Field(default_factory=dict)


class DecideBranch(Strict):
    if_: Condition = Field(alias="if")
    then: Target


class DecideStep(StepBase):
    """The first branch whose condition holds wins; `else` is required so no call is stuck."""

    decide: list[DecideBranch] = Field(min_length=1)
    else_: Target = Field(alias="else")


class SetStep(StepBase):
    """Assign call variables (`vars.NAME`) from expressions."""

    set: dict[Annotated[str, Field(pattern=STEP_ID_PATTERN)], str | int | bool]
    next: Target = "next"


class RouteStep(StepBase):
    """Hand the call on by a route name from config/routes.yaml (or a service-line alias)."""

    route: str = Field(min_length=1)
    say: PromptId | None = None
    handoff: list[HandoffField] = Field(default_factory=_status_only)


PAYMENT_OUTCOMES = ("paid", "declined", "cancelled", "error")
# what a payment step leaves in `vars` (prompts say "{card_last4}"; conditions read them)
PAYMENT_VARIABLES = (
    "payment_outcome",
    "payment_reference",
    "card_brand",
    "card_last4",
    "card_masked",
    "payment_amount",
    "payment_currency",
)
CURRENCY_PATTERN = r"^[A-Z]{3}$"


class PaymentSpec(InputSettings):
    """Take a card payment: card number, expiry (MMYY), CVV, optionally the postcode digits.

    `amount` and `currency` are values or expressions (`vars.amount_due`); each field has its
    prompt; after a refused entry (a bad check digit, a past expiry) or silence the caller
    hears the event's prompts, then the field's prompt again. `*` cancels at any field.
    """

    amount: str | int | float
    currency: str = Field(min_length=1)
    description: str | None = Field(default=None, max_length=120)
    card_number_prompt: PromptId
    expiry_prompt: PromptId
    cvv_prompt: PromptId
    postcode_prompt: PromptId | None = None
    no_input: list[PromptId] = Field(default_factory=list)
    invalid: list[PromptId] = Field(default_factory=list)

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: str | int | float) -> str | int | float:
        if isinstance(value, bool):
            raise ValueError("amount is a number or an expression, not true/false")
        if isinstance(value, int | float) and value <= 0:
            raise ValueError(f"amount must be above 0 (got {value})")
        return value


class PaymentStep(StepBase):
    """Take a card payment; outcomes `paid`, `declined`, `cancelled` and `error`."""

    payment: PaymentSpec
    max_attempts: int | None = Field(default=None, ge=1, le=10)  # per field
    outcomes: dict[str, Target] = Field(default_factory=dict)


class CallFlowStep(StepBase):
    """Run another flow and come back: its `return` values are this step's outcomes."""

    call_flow: str = Field(pattern=STEP_ID_PATTERN)
    outcomes: dict[str, Target] = Field(default_factory=dict)


class ReturnStep(StepBase):
    return_: str = Field(alias="return", pattern=STEP_ID_PATTERN)


class HangupSpec(Strict):
    say: PromptId | None = None


class HangupStep(StepBase):
    hangup: HangupSpec


STEP_KINDS: dict[str, str] = {
    # kind key in the YAML mapping -> step kind tag; checked in this order
    "menu": "menu",
    "ask": "ask",
    "uses": "operation",
    "play": "play",
    "decide": "decide",
    "set": "set",
    "route": "route",
    "call_flow": "call_flow",
    "return": "return",
    "hangup": "hangup",
    "payment": "payment",
}


def step_kind(value: Any) -> str | None:
    """Which step type a mapping is, from the kind key it carries."""
    if isinstance(value, BaseModel):
        return _MODEL_KINDS.get(type(value))
    if not isinstance(value, dict):
        return None
    for key, kind in STEP_KINDS.items():
        if key in value:
            return kind
    return None


Step = Annotated[
    Annotated[AskStep, Tag("ask")]
    | Annotated[OperationStep, Tag("operation")]
    | Annotated[PlayStep, Tag("play")]
    | Annotated[MenuStep, Tag("menu")]
    | Annotated[DecideStep, Tag("decide")]
    | Annotated[SetStep, Tag("set")]
    | Annotated[RouteStep, Tag("route")]
    | Annotated[CallFlowStep, Tag("call_flow")]
    | Annotated[ReturnStep, Tag("return")]
    | Annotated[HangupStep, Tag("hangup")]
    | Annotated[PaymentStep, Tag("payment")],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message=(
            "a step needs exactly one kind key: ask, uses, play, menu, decide, set, route, "
            "call_flow, return, hangup or payment"
        ),
    ),
]

_MODEL_KINDS: dict[type[BaseModel], str] = {
    AskStep: "ask",
    OperationStep: "operation",
    PlayStep: "play",
    MenuStep: "menu",
    DecideStep: "decide",
    SetStep: "set",
    RouteStep: "route",
    CallFlowStep: "call_flow",
    ReturnStep: "return",
    HangupStep: "hangup",
    PaymentStep: "payment",
}

AnyStep = (
    AskStep
    | OperationStep
    | PlayStep
    | MenuStep
    | DecideStep
    | SetStep
    | RouteStep
    | CallFlowStep
    | ReturnStep
    | HangupStep
    | PaymentStep
)


class Result(Strict):
    """What happens for one ID&V status: what is said, where the call goes, what is handed over."""

    say: PromptId | None = None
    route: str = Field(min_length=1)
    handoff: list[HandoffField] = Field(default_factory=_status_only)
    token: Literal["visual_ivr"] | None = None


BUILTIN_TIMEOUT_S = 5.0
BUILTIN_INTER_DIGIT_TIMEOUT_S = 3.0
BUILTIN_TERM_KEY = "#"
BUILTIN_BARGE_IN = True


class Defaults(Strict):
    input: InputSettings = Field(default_factory=InputSettings)
    # played before a step's own prompt after a failed try, when the step names none for it
    no_input: list[PromptId] = Field(default_factory=list)
    invalid: list[PromptId] = Field(default_factory=list)
    wrong: list[PromptId] = Field(default_factory=list)
    max_attempts: int = Field(default=3, ge=1, le=10)
    on_error: Target | None = None


class FlowInfo(Strict):
    id: str = Field(pattern=STEP_ID_PATTERN)
    version: str = Field(min_length=1, max_length=64)
    description: str | None = None
    languages: list[str] = Field(min_length=1)
    start: Target | None = None


class FlowFile(Strict):
    schema_version: Literal[1]
    flow: FlowInfo
    defaults: Defaults = Defaults()
    steps: list[Step] = Field(default_factory=list)
    identify: list[Step] = Field(default_factory=list)
    verify: list[Step] = Field(default_factory=list)
    results: dict[IdvStatus, Result] = Field(default_factory=dict)

    def sections(self) -> list[tuple[str, list[AnyStep]]]:
        """The step lists in run order: `steps`, then `identify`, then `verify`."""
        return [
            ("steps", list(self.steps)),
            ("identify", list(self.identify)),
            ("verify", list(self.verify)),
        ]

    def all_steps(self) -> list[tuple[str, int, AnyStep]]:
        """Every step with its section and index in that section."""
        return [
            (section, index, step)
            for section, steps in self.sections()
            for index, step in enumerate(steps)
        ]

    def effective_input(self, spec: InputSettings) -> EffectiveInput:
        """A step's input timings: its own value, else the flow default, else the built-in."""
        base = self.defaults.input

        def pick(name: str, builtin: Any) -> Any:
            own = getattr(spec, name)
            if own is not None:
                return own
            default = getattr(base, name)
            return default if default is not None else builtin

        return EffectiveInput(
            timeout_s=pick("timeout", BUILTIN_TIMEOUT_S),
            inter_digit_timeout_s=pick("inter_digit_timeout", BUILTIN_INTER_DIGIT_TIMEOUT_S),
            term_key=pick("term_key", BUILTIN_TERM_KEY),
            barge_in=pick("barge_in", BUILTIN_BARGE_IN),
        )


class EffectiveInput(BaseModel):
    """Resolved input timings for one step (no Nones left)."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float
    inter_digit_timeout_s: float
    term_key: str | None
    barge_in: bool
