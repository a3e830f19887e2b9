"""Which remote driver speaks which protocol: `--protocol` of `ivr simulate` and `ivr test`."""

from __future__ import annotations

from ivr.bootstrap import Project
from ivr.settings import Settings
from simulator.driver import CallDriver

PROTOCOLS = ("json", "twilio", "jambonz", "jambonz-ws")


def remote_driver(protocol: str, url: str, project: Project, secrets: Settings) -> CallDriver:
    """A driver for one call against the server at `url` (ws://... for jambonz-ws), signing
    or logging in with the same IVR_* secrets as the server."""
    if protocol == "twilio":
        from simulator.remote_twilio import RemoteTwilioDriver

        token = secrets.reveal(secrets.twilio_auth_token) or ""
        return RemoteTwilioDriver(url, token, project=project)
    if protocol == "jambonz":
        from simulator.remote_jambonz import RemoteJambonzDriver

        jambonz = secrets.jambonz_secrets()
        return RemoteJambonzDriver(url, jambonz[0] if jambonz else "", project=project)
    if protocol == "jambonz-ws":
        from simulator.remote_jambonz_ws import JambonzWsDriver

        username, password = secrets.jambonz_ws_credentials() or ("", "")
        return JambonzWsDriver(url, username, password, project=project)
    from simulator.remote_json import JsonDriver

    return JsonDriver(url, secrets.reveal(secrets.webhook_secret) or "")
