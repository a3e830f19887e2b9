"""Which remote driver speaks which protocol: `--protocol` of `ivr simulate` and `ivr test`."""

from __future__ import annotations

from ivr.bootstrap import Project
from simulator.driver import CallDriver

PROTOCOLS = ("json", "twilio", "jambonz", "jambonz-ws")


def remote_driver(protocol: str, url: str, project: Project) -> CallDriver:
    """A driver for one call against the server at `url` (ws://... for jambonz-ws)."""
    if protocol == "twilio":
        from simulator.remote_twilio import RemoteTwilioDriver

        return RemoteTwilioDriver(url, project=project)
    if protocol == "jambonz":
        from simulator.remote_jambonz import RemoteJambonzDriver

        return RemoteJambonzDriver(url, project=project)
    if protocol == "jambonz-ws":
        from simulator.remote_jambonz_ws import JambonzWsDriver

        return JambonzWsDriver(url, project=project)
    from simulator.remote_json import JsonDriver

    return JsonDriver(url)
