"""Which gateway adapters a server mounts: every one whose secret is configured.

An adapter without its signing secret would refuse every request, so it is left out (with a
log line) rather than mounted to answer 403 forever.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping

from ivr.adapters.base import Adapter
from ivr.adapters.jambonz_verbs import JambonzTransfer
from ivr.adapters.jambonz_ws import JambonzWsAdapter
from ivr.adapters.json_webhook import JsonWebhookAdapter
from ivr.adapters.twiml import TwilioTransfer
from ivr.config import ConfigError, RouteConfig, load_config
from ivr.web.settings import WEBHOOK_SECRET_ENV, ServeSettings

_log = logging.getLogger(__name__)


def _routes(settings: ServeSettings) -> dict[str, RouteConfig]:
    try:
        return dict(load_config(settings.project.config).routes)
    except ConfigError:
        return {}  # the engine refuses to start on a broken config and says why


def agent_target(settings: ServeSettings) -> str:
    """Where a caller on an unknown or lost call goes: the `agent` route of the config."""
    route = _routes(settings).get("agent")
    return route.target if route is not None else "agent"


def twilio_transfers(routes: Mapping[str, RouteConfig]) -> dict[str, TwilioTransfer]:
    """Each route's `twilio:` hand-off from config/routes.yaml, by route name."""
    return {name: TwilioTransfer(r.twilio) for name, r in routes.items() if r.twilio}


def jambonz_transfers(routes: Mapping[str, RouteConfig]) -> dict[str, JambonzTransfer]:
    return {name: JambonzTransfer(r.jambonz) for name, r in routes.items() if r.jambonz}


def default_adapters(settings: ServeSettings) -> list[Adapter]:
    adapters: list[Adapter] = []
    to_agent = agent_target(settings)
    routes = _routes(settings)
    if settings.webhook_secret:
        adapters.append(JsonWebhookAdapter(settings.webhook_secret, agent_target=to_agent))
    else:
        _log.warning("%s is not set: the JSON webhook is not mounted", WEBHOOK_SECRET_ENV)
    twilio_token = settings.env.reveal(settings.env.twilio_auth_token)
    if twilio_token and _present("ivr.adapters.twilio"):
        from ivr.adapters.twilio import TwilioAdapter

        adapters.append(
            TwilioAdapter(
                twilio_token,
                agent_target=to_agent,
                route_transfers=twilio_transfers(routes),
            )
        )
    if settings.env.jambonz_secrets() and _present("ivr.adapters.jambonz"):
        from ivr.adapters.jambonz import JambonzAdapter

        adapters.append(
            JambonzAdapter(
                settings.env.jambonz_secrets(),
                agent_target=to_agent,
                route_transfers=jambonz_transfers(routes),
            )
        )
    return adapters


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def jambonz_ws_adapter(settings: ServeSettings) -> JambonzWsAdapter:
    """The WebSocket adapter, with the same hand-off settings as jambonz over HTTP."""
    return JambonzWsAdapter(
        agent_target=agent_target(settings), route_transfers=jambonz_transfers(_routes(settings))
    )
