"""The limits' arithmetic and their configuration in config/service-lines.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ivr.config import ConfigError, load_config
from ivr.limits.policy import Limits

ROOT = Path(__file__).resolve().parents[2]


def test_progressive_delay_doubles_up_to_its_cap() -> None:
    limits = Limits(delay_after_failures=3, delay_s=0.25, max_delay_s=1.5)
    assert [limits.delay_for(n) for n in range(8)] == [0, 0, 0, 0.25, 0.5, 1.0, 1.5, 1.5]
    assert Limits(delay_s=0).delay_for(100) == 0


def test_customer_lock_escalates_per_threshold_up_to_a_day() -> None:
    limits = Limits(verify_failures_per_customer=10, lock_s=900, max_lock_s=86400)
    assert limits.lock_for(9) == 0
    assert limits.lock_for(10) == 900
    assert limits.lock_for(19.5) == 900
    assert limits.lock_for(20) == 3600
    assert limits.lock_for(30) == 14400
    assert limits.lock_for(40) == 57600
    assert limits.lock_for(50) == 86400
    assert limits.lock_for(10_000) == 86400


def test_the_delay_fits_in_the_operation_deadline() -> None:
    with pytest.raises(ValueError, match="less than or equal to 1.75"):
        Limits(max_delay_s=3)
    with pytest.raises(ValueError, match="max_delay_s must be at least delay_s"):
        Limits(delay_s=1.0, max_delay_s=0.5)


def test_repository_config_has_the_documented_defaults() -> None:
    config = load_config(ROOT / "config")
    assert config.limits_for("demo") == Limits()
    assert config.limits_for("cards") == Limits()


def _config_with(tmp_path: Path, line_limits: dict[str, object]) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder, dirs_exist_ok=True)
    path = folder / "service-lines.yaml"
    data = yaml.safe_load(path.read_text())
    data["service_lines"][1]["limits"] = line_limits
    data["limits"]["identify_per_number_per_hour"] = 7
    path.write_text(yaml.safe_dump(data))
    return folder


def test_a_line_overrides_single_keys(tmp_path: Path) -> None:
    config = load_config(_config_with(tmp_path, {"verify_failures_per_number": 3}))
    cards = config.limits_for("cards")
    assert cards.verify_failures_per_number == 3
    assert cards.identify_per_number_per_hour == 7  # the file's value, not the default
    assert config.limits_for("demo").verify_failures_per_number == 5


def test_a_wrong_limit_is_refused_at_load_naming_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"service-lines.yaml: service line 'cards' limits"):
        load_config(_config_with(tmp_path, {"verify_failures_per_number": 0}))
    with pytest.raises(ConfigError, match="identify_per_hour"):
        load_config(_config_with(tmp_path, {"identify_per_hour": 3}))
