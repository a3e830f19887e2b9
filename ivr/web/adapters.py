"""Which gateway adapters a server mounts: every one whose secret is configured.

An adapter without its signing secret would refuse every request, so it is left out (with a
log line) rather than mounted to answer 403 forever.
"""

from __future__ import annotations

import importlib.util
import logging
import os

from ivr.adapters.base import Adapter
from ivr.adapters.json_webhook import JsonWebhookAdapter
from ivr.config import ConfigError, load_config
from ivr.web.settings import WEBHOOK_SECRET_ENV, ServeSettings

_log = logging.getLogger(__name__)


def agent_target(settings: ServeSettings) -> str:
    """Where a caller on an unknown or lost call goes: the `agent` route of the config."""
    try:
        route = load_config(settings.project.config).routes.get("agent")
    except ConfigError:
        return "agent"
    return route.target if route is not None else "agent"


def default_adapters(settings: ServeSettings) -> list[Adapter]:
    adapters: list[Adapter] = []
    to_agent = agent_target(settings)
    if settings.webhook_secret:
        adapters.append(JsonWebhookAdapter(settings.webhook_secret, agent_target=to_agent))
    else:
        _log.warning("%s is not set: the JSON webhook is not mounted", WEBHOOK_SECRET_ENV)
    if os.environ.get("IVR_TWILIO_AUTH_TOKEN") and _present("ivr.adapters.twilio"):
        from ivr.adapters.twilio import TwilioAdapter

        adapters.append(TwilioAdapter(public_url=settings.public_url, agent_target=to_agent))
    if os.environ.get("IVR_JAMBONZ_SECRET") and _present("ivr.adapters.jambonz"):
        from ivr.adapters.jambonz import JambonzAdapter

        adapters.append(JambonzAdapter(agent_target=to_agent))
    return adapters


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
