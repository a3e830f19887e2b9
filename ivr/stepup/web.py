"""Mounting one-time codes and step-ups on `ivr serve`: the provider's readiness probe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ivr.settings import Settings
from ivr.stepup.provider import HttpCodeProvider
from ivr.stepup.readiness import ProviderProbe
from ivr.web.health import MORE_PROBES

if TYPE_CHECKING:
    from ivr.web.settings import ServeSettings

Context = Callable[[web.Application], AsyncIterator[None]]


def stepup_contexts(app: web.Application, serve: ServeSettings) -> list[Context]:
    """Probes (added now) and the contexts that open what step-ups need."""
    env = serve.env
    probes = app.setdefault(MORE_PROBES, {})
    if env.otp_provider_url:
        token = Settings.reveal(env.otp_provider_token)
        probes["otp_provider"] = ProviderProbe(HttpCodeProvider(env.otp_provider_url, token))
    return []
