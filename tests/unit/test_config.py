import re
from pathlib import Path

import pytest

from ukscp.config import ConfigError, Settings, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "config.example.yaml"


def test_no_config_file_gives_working_defaults():
    settings = load_config(None)
    assert settings.web.host == "127.0.0.1"
    assert settings.evse_manager.uk_smartcharging_random_delay_enable is True
    assert settings.evse_manager.uk_smartcharging_random_delay_max_duration == 600
    assert settings.hardware.board == "sim"


def test_the_documented_example_is_valid_and_matches_the_defaults():
    assert load_config(EXAMPLE) == Settings()


def test_an_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"evse_manager\.uk_random_delay: unknown key"):
        parse_config({"evse_manager": {"uk_random_delay": True}})


def test_a_bad_value_names_the_key_and_the_value():
    with pytest.raises(ConfigError) as info:
        parse_config({"evse_manager": {"uk_smartcharging_random_delay_max_duration": 1801}})
    message = str(info.value)
    assert "evse_manager.uk_smartcharging_random_delay_max_duration" in message
    assert "1801" in message


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config({"supply": {"phases": 2, "voltage_v": "mains"}})
    assert "supply.phases" in str(info.value)
    assert "supply.voltage_v" in str(info.value)


def test_the_delay_policy_accepts_only_known_policies():
    with pytest.raises(ConfigError, match="uk_smartcharging_random_delay_policy"):
        parse_config({"evse_manager": {"uk_smartcharging_random_delay_policy": "never"}})


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_invalid_yaml_is_reported_with_the_file_name(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("web: {host: [\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML"):
        load_config(path)


def test_a_missing_file_is_reported(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_an_empty_file_gives_the_defaults(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == Settings()


@pytest.mark.parametrize("proxy", ["*", "proxy.local", "10.0.0.300"])
def test_trusted_proxies_must_be_addresses(proxy: str):
    # "*" would believe X-Forwarded-For from anyone: the spoofing it is there to stop.
    words = rf"web.trusted_proxies: .*'{re.escape(proxy)}' is not an IP"
    with pytest.raises(ConfigError, match=words):
        parse_config({"web": {"trusted_proxies": [proxy]}})


def test_trusted_proxies_take_addresses_and_networks():
    web = parse_config({"web": {"trusted_proxies": ["192.168.1.2", "fd00::/8"]}}).web
    assert web.trusted_proxies == ["192.168.1.2", "fd00::/8"]
    assert Settings().web.trusted_proxies == []
