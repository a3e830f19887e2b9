"""Each route in config/routes.yaml may say how Twilio and jambonz hand the call on; a route's
own setting wins over its kind's default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.adapters.jambonz import JambonzAdapter
from ivr.adapters.jambonz_verbs import JambonzTransfer, render_verbs
from ivr.adapters.twilio import TwilioAdapter
from ivr.adapters.twiml import TwilioTransfer, render_twiml
from ivr.bootstrap import Project
from ivr.config import ConfigError, load_config
from ivr.settings import load_settings
from ivr.web.adapters import default_adapters
from ivr.web.settings import ServeSettings

from .conftest import ROOT, context
from .factories import transfer


def test_twilio_route_setting_wins_over_the_kind_default() -> None:
    agent = transfer()  # kind agent, route "agent": Enqueue by default
    assert "<Enqueue" in render_twiml([agent], context())
    dialled = render_twiml([agent], context(), by_route={"agent": TwilioTransfer.SIP})
    assert "<Dial><Sip>sip:general?" in dialled
    assert "<Enqueue" not in dialled


def test_jambonz_route_setting_wins_over_the_kind_default() -> None:
    agent = transfer()
    assert [v["verb"] for v in render_verbs([agent], context())] == ["tag", "dial"]
    queued = render_verbs([agent], context(), by_route={"agent": JambonzTransfer.ENQUEUE})
    assert [v["verb"] for v in queued] == ["tag", "enqueue"]


def test_routes_yaml_carries_each_gateways_hand_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    routes = (config / "routes.yaml").read_text(encoding="utf-8")
    (config / "routes.yaml").write_text(
        routes.replace(
            "    target: ${IVR_QUEUE_GENERAL:-general}\n",
            "    target: ${IVR_QUEUE_GENERAL:-general}\n    twilio: sip\n    jambonz: enqueue\n",
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("IVR_TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("IVR_JAMBONZ_SECRET", "secret")
    settings = ServeSettings(
        project=Project(ROOT / "flows", config, ROOT / "prompts"),
        webhook_secret=None,
        env=load_settings(),
    )
    adapters = {adapter.name: adapter for adapter in default_adapters(settings)}
    twilio, jambonz = adapters["twilio"], adapters["jambonz"]
    assert isinstance(twilio, TwilioAdapter)
    assert isinstance(jambonz, JambonzAdapter)
    rendered = twilio.render([transfer()], context()).body.decode()
    assert "<Dial><Sip>sip:general?" in rendered
    assert '"verb":"enqueue"' in (jambonz.render([transfer()], context()).body.decode()).replace(
        " ", ""
    )


def test_an_unknown_hand_off_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    routes = (config / "routes.yaml").read_text(encoding="utf-8")
    (config / "routes.yaml").write_text(
        routes.replace("    kind: agent\n", "    kind: agent\n    twilio: queue\n", 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="twilio"):
        load_config(config)
