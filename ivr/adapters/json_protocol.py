"""The JSON webhook protocol's messages, once: pydantic models that both parse the events the
server takes and describe, in OpenAPI 3.1, the events and the answers (ivr.web.openapi builds
`/openapi.json` and docs/openapi.json from them). The adapter (json_webhook.py) renders its
answers to these shapes; the tests hold every rendered answer to `Answer`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL_VERSION = "1"
SIGNATURE_HEADER = "X-IVR-Signature"

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:@+-]{1,128}$")]
ShortText = Annotated[str, Field(max_length=64)]


class _Event(BaseModel):
    """Every event names its call and itself: a redelivery repeats its `event_id`."""

    model_config = ConfigDict(strict=True, frozen=True)

    event_id: Identifier = Field(description="unique per event; a redelivery repeats it")
    call_id: Identifier


class CallStartedEvent(_Event):
    """A new call. ANI never verifies a caller on its own."""

    type: Literal["call.started"]
    ani: ShortText | None = Field(None, description="calling number, E.164; null when withheld")
    dnis: ShortText | None = Field(None, description="number called: picks the service line")
    caller_id_trust: Literal["A", "B", "C", "failed", "unknown"] = "unknown"
    context: Annotated[
        dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=128)]],
        Field(max_length=8),
    ] = Field(
        default_factory=dict,
        description="a call the company placed (a callback): copy the `context` of the"
        " `call.dial` request here (ivr_callback, ivr_sig, ivr_flow; answered_by if known)",
    )


class DigitsEvent(_Event):
    """Keys collected for the last `collect` action, terminator included if pressed."""

    type: Literal["digits"]
    digits: Annotated[str, Field(pattern=r"^[0-9*#]{0,64}$")]
    terminated_by: Literal["term_key", "max_digits", "inter_digit_timeout"] = "term_key"


class NoInputEvent(_Event):
    """The collect timed out with no key."""

    type: Literal["no_input"]


class HangupEvent(_Event):
    """The caller hung up."""

    type: Literal["hangup"]


class PromptFinishedEvent(_Event):
    """A play-only answer finished playing."""

    type: Literal["prompt_finished"]


class TransferResultEvent(_Event):
    """How a transfer went (answered, busy, failed...)."""

    type: Literal["transfer_result"]
    result: Annotated[str, Field(min_length=1, max_length=64)]


Event = Annotated[
    CallStartedEvent
    | DigitsEvent
    | NoInputEvent
    | HangupEvent
    | PromptFinishedEvent
    | TransferResultEvent,
    Field(discriminator="type"),
]
EVENTS: TypeAdapter[Event] = TypeAdapter(Event)


# -- answers ---------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Prompt(_Out):
    id: str
    text: str = Field(description="speak this when there is no audio")
    audio_url: str | None = Field(description="the recording to play; null: speak `text`")


class PlayAction(_Out):
    type: Literal["play"]
    prompts: list[Prompt]
    barge_in: bool


class CollectAction(_Out):
    """Play the prompts and collect keys; answer with `digits` or `no_input`."""

    type: Literal["collect"]
    prompts: list[Prompt]
    min_digits: int
    max_digits: int
    term_key: str | None
    timeout_s: float
    inter_digit_timeout_s: float
    barge_in: bool
    dont_have_key: str | None
    step: str
    attempt: int
    secure: bool = Field(
        default=False,
        description="card digits: do not record, log or echo these keys (a payment step)",
    )


class TransferAction(_Out):
    type: Literal["transfer"]
    kind: Literal["agent", "self_service", "main_menu", "flow"]
    target: str
    route: str
    handoff: dict[str, Any] = Field(description="data attached for the agent or next system")


class HangupAction(_Out):
    type: Literal["hangup"]
    reason: str


Action = Annotated[
    PlayAction | CollectAction | TransferAction | HangupAction, Field(discriminator="type")
]


class CallSummary(_Out):
    """Where the call stands after this event."""

    idv_status: str | None
    customer_id: str | None
    attempts: dict[str, int]
    flow: str
    flow_version: str
    ended: bool
    route: dict[str, str] | None


class Answer(_Out):
    """Actions to perform, in order, and the call summary (null for an unknown call)."""

    protocol: Literal["1"]
    call_id: str
    actions: list[Action]
    call: CallSummary | None


class Error(_Out):
    """Why a request was refused; no call changed."""

    error: str


ANSWERS: TypeAdapter[Answer] = TypeAdapter(Answer)
