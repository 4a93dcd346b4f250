"""The randomised delay in the real ``ukscp run`` process, across a power cut."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.e2e.conftest import RunningCharger
from tests.e2e.test_run import wait_for

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def test_power_cut_mid_session_delays_the_restart_until_the_owner_cancels(
    charger_factory: Factory, tmp_path
):
    data_dir = tmp_path / "data"
    first = charger_factory("--sim-plug", data_dir=data_dir)
    wait_for(first, lambda s: s["state"] == "C" and s["power_w"] > 0)
    # 1800 s maximum: the chance of drawing 0 (no hold to observe) is 1 in 1801
    first.client.put("/api/v1/random-delay", json={"max_duration_s": 1800})
    first.stop(signal.SIGKILL)

    second = charger_factory(data_dir=data_dir)
    status = wait_for(second, lambda s: s["state"] in ("B", "C"))
    delay = status["random_delay"]
    if delay["running"]:
        assert delay["cause"] == "restoration"
        assert delay["max_duration_s"] == 1800
        assert delay["limit_during_delay_a"] == 0
        assert status["power_w"] == 0
        cancelled = second.client.post("/api/v1/random-delay/cancel").json()
        assert cancelled["running"] is False
    wait_for(second, lambda s: s["state"] == "C" and s["power_w"] > 0)
    assert second.stop() == 0


def test_delay_settings_survive_a_restart(charger_factory: Factory, tmp_path):
    data_dir = tmp_path / "data"
    first = charger_factory(data_dir=data_dir)
    first.client.put("/api/v1/random-delay", json={"max_duration_s": 120})
    first.client.post("/api/v1/random-delay/disable")
    assert first.stop() == 0
    second = charger_factory(data_dir=data_dir)
    delay = second.client.get("/api/v1/random-delay").json()
    assert (delay["enabled"], delay["max_duration_s"]) == (False, 120)
    assert second.stop() == 0
