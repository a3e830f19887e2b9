"""Actions as the engine produces them, for rendering tests."""

from __future__ import annotations

from typing import Any

from ivr.engine.actions import CollectDigits, Hangup, Play, PromptRef, RouteKind, Transfer

WELCOME = PromptRef("welcome", "Welcome to Example Bank.", audio="en-GB/welcome.wav")
ASK_ID = PromptRef("ask_id", "Please key in your 8 digit customer number, then press hash.")
TRICKY = PromptRef("tricky", 'Press <1> & "2" for A&B')
RECORDED_ASK = PromptRef("ask_pin", "Enter your PIN.", audio="en-GB/ask_pin.wav")

HANDOFF: dict[str, Any] = {
    "idv_status": "identified_and_verified",
    "customer_id": "10000001",
    "customer_name": "Zoë O'Brien & Co",
    "factors_passed": ["dob", "pin"],
    "locked": False,
    "ani_trust": "A",
    "idv_token": None,
}


def collect(**overrides: Any) -> CollectDigits:
    values: dict[str, Any] = {
        "prompts": (ASK_ID,),
        "min_digits": 8,
        "max_digits": 8,
        "term_key": "#",
        "timeout_s": 7.5,
        "inter_digit_timeout_s": 3.0,
        "barge_in": True,
        "dont_have_key": "*",
        "step": "identify",
        "attempt": 2,
    }
    values.update(overrides)
    return CollectDigits(**values)


def play(*prompts: PromptRef, barge_in: bool = True) -> Play:
    return Play(prompts, barge_in)


def transfer(kind: RouteKind = RouteKind.AGENT, target: str = "general") -> Transfer:
    return Transfer(kind, target, kind.value, dict(HANDOFF))


HANGUP = Hangup()
