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
from ivr.web.settings import WEBHOOK_SECRET_ENV, ServeSettings

_log = logging.getLogger(__name__)


def default_adapters(settings: ServeSettings) -> list[Adapter]:
    adapters: list[Adapter] = []
    if settings.webhook_secret:
        adapters.append(JsonWebhookAdapter(settings.webhook_secret))
    else:
        _log.warning("%s is not set: the JSON webhook is not mounted", WEBHOOK_SECRET_ENV)
    if os.environ.get("IVR_TWILIO_AUTH_TOKEN") and _present("ivr.adapters.twilio"):
        from ivr.adapters.twilio import TwilioAdapter

        adapters.append(TwilioAdapter(public_url=settings.public_url))
    if os.environ.get("IVR_JAMBONZ_SECRET") and _present("ivr.adapters.jambonz"):
        from ivr.adapters.jambonz import JambonzAdapter

        adapters.append(JambonzAdapter())
    return adapters


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
