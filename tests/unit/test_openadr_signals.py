"""OpenADR signals as limits (docs/dsr.md's mapping), and the settings that enable the VEN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ukscp.config import ConfigError, Settings, load_config
from ukscp.integrations.openadr.signals import Supply, Unsupported, Window, amps_at, windows

SUPPLY = Supply(max_current_a=32.0, voltage_v=230.0, phases=1)
T0 = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)
TEN_MIN = timedelta(minutes=10)


def event(*signals: dict[str, Any]) -> dict[str, Any]:
    return {"event_descriptor": {"event_id": "e1"}, "event_signals": list(signals)}


def signal(name: str, kind: str, *payloads: float, **more: Any) -> dict[str, Any]:
    intervals = [
        {"dtstart": T0 + i * TEN_MIN, "duration": TEN_MIN, "signal_payload": payload}
        for i, payload in enumerate(payloads)
    ]
    return {"signal_name": name, "signal_type": kind, "intervals": intervals, **more}


@pytest.mark.parametrize(("level", "amps"), [(0, None), (1, 16.0), (2, 6.0), (3, 0.0)])
def test_simple_levels_are_no_limit_half_the_least_and_a_pause(level: int, amps: float | None):
    [window] = windows(event(signal("SIMPLE", "level", level)), SUPPLY)
    assert window == Window(T0, T0 + TEN_MIN, amps)


def test_a_moderate_level_never_offers_less_than_6_a():
    small = Supply(max_current_a=8.0, voltage_v=230.0, phases=1)
    [window] = windows(event(signal("SIMPLE", "level", 1)), small)
    assert window.amps == 6.0


@pytest.mark.parametrize(
    ("measurement", "payload", "amps"),
    [
        ({"name": "powerReal", "unit": "W", "scale": "k"}, 2.3, 10.0),
        ({"name": "powerReal", "unit": "W", "scale": "none"}, 4600, 20.0),
        ({"name": "current", "unit": "A", "scale": "none"}, 12, 12.0),
        ({"name": "powerReal", "unit": "W", "scale": "k"}, 50, 32.0),  # at most the maximum
    ],
)
def test_a_dispatch_setpoint_is_that_power_or_current(measurement, payload, amps):
    made = event(signal("LOAD_DISPATCH", "setpoint", payload, measurement=measurement))
    [window] = windows(made, SUPPLY)
    assert window.amps == pytest.approx(amps)


def test_a_load_control_capacity_is_a_fraction_of_the_maximum():
    [window] = windows(event(signal("LOAD_CONTROL", "x-loadControlCapacity", 0.25)), SUPPLY)
    assert window.amps == 8.0


@pytest.mark.parametrize(
    ("made", "words"),
    [
        (event(signal("ELECTRICITY_PRICE", "price", 0.3)), "ELECTRICITY_PRICE"),
        (event(signal("SIMPLE", "level", 7)), "SIMPLE level 7"),
        (event(signal("LOAD_DISPATCH", "setpoint", 3)), "without a measurement"),
        (event(signal("LOAD_CONTROL", "x-loadControlCapacity", 1.5)), "capacity of 1.5"),
        (event(), "no signal"),
    ],
)
def test_what_the_charger_cannot_honour_is_refused_whole_in_words(made, words):
    with pytest.raises(Unsupported, match=words):
        windows(made, SUPPLY)


def test_a_refused_signal_refuses_the_whole_event():
    made = event(signal("SIMPLE", "level", 2), signal("BID_PRICE", "price", 1))
    with pytest.raises(Unsupported):
        windows(made, SUPPLY)  # never half applied


def test_several_signals_give_the_lowest_where_they_overlap():
    made = event(
        signal("SIMPLE", "level", 1, 2),  # 16 A, then 6 A
        signal("LOAD_CONTROL", "x-loadControlCapacity", 0.25),  # 8 A, first ten minutes
    )
    found = windows(made, SUPPLY)
    assert amps_at(found, T0 + timedelta(minutes=5)) == 8.0
    assert amps_at(found, T0 + timedelta(minutes=15)) == 6.0
    assert amps_at(found, T0 + timedelta(minutes=25)) is None  # over


@pytest.mark.parametrize(
    ("openadr", "words"),
    [
        ({"enabled": True, "ven_name": "v"}, "vtn_url and ven_name"),
        ({"enabled": True, "vtn_url": "http://vtn.example/OpenADR2/Simple/2.0b", "ven_name": "v"},
         "must be https://"),
        ({"enabled": True, "vtn_url": "https://vtn.example", "ven_name": "v",
          "cert_file": "c.pem"}, "cert_file and key_file go together"),
    ],
)
def test_unusable_openadr_settings_are_refused_naming_the_problem(
    tmp_path: Path, openadr: dict[str, Any], words: str
):
    config = tmp_path / "config.yaml"
    lines = "\n".join(f"    {key}: {value}" for key, value in openadr.items())
    config.write_text(f"dsr:\n  openadr:\n{lines}\n")
    with pytest.raises(ConfigError, match=words):
        load_config(config)


def test_a_plain_http_vtn_needs_the_lab_flag():
    chosen = Settings.model_validate(
        {"dsr": {"openadr": {"enabled": True, "vtn_url": "http://127.0.0.1:8080/x",
                             "ven_name": "v", "allow_plain_http": True}}}
    )
    assert chosen.dsr.openadr.allow_plain_http is True
