"""The real ``ukscp run`` process, driven over its API as an owner would."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import UKSCP, RunningCharger

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def wait_for(charger: RunningCharger, predicate: Callable[[dict], bool], timeout: float = 10):
    """Poll /status until ``predicate`` holds (the real process runs on real time)."""
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        status = charger.client.get("/api/v1/status").json()
        if predicate(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"condition not met; last status {status}")


def history(data_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "history.sqlite3") as db:
        return list(db.execute("SELECT kind, source, detail FROM events ORDER BY id"))


def test_plug_in_charges_at_the_limit_and_sigterm_stops_cleanly(charger_factory: Factory):
    charger = charger_factory()
    idle = charger.client.get("/api/v1/status").json()
    assert idle["state"] == "A"
    assert idle["session"] is None

    assert charger.client.post("/api/v1/sim/plug").json()["plugged_in"] is True
    status = wait_for(charger, lambda s: s["state"] == "C" and s["power_w"] > 0)
    assert status["offered_current_a"] == 32
    assert status["measured_current_a"] == pytest.approx(32)
    assert status["power_w"] == pytest.approx(32 * 230)
    assert status["limit"]["source"] == "hardware"

    # PV surplus, declared local: no randomised delay.
    response = charger.client.post("/api/v1/limits/ems", json={"amps": 10, "cause": "local"})
    assert response.status_code == 200
    status = wait_for(charger, lambda s: s["measured_current_a"] == pytest.approx(10))
    assert status["limit"] == {
        "amps": 10.0, "phases": 1, "source": "ems", "reason": "local energy manager: local"
    }

    assert charger.stop(signal.SIGTERM) == 0
    kinds = [kind for kind, _, _ in history(charger.data_dir)]
    assert kinds[0] == "ChargerStarted"
    assert kinds[-1] == "ChargerStopping"
    assert "SessionStarted" in kinds
    assert ("LimitChanged", "ems") in [(k, s) for k, s, _ in history(charger.data_dir)]


def test_sim_plug_flag_plugs_the_ev_in_at_start(charger_factory: Factory):
    charger = charger_factory("--sim-plug")
    status = wait_for(charger, lambda s: s["state"] == "C")
    assert status["session"] is not None
    assert charger.stop() == 0


def test_unplug_ends_the_session_and_records_its_energy(charger_factory: Factory):
    charger = charger_factory("--sim-plug")
    wait_for(charger, lambda s: s["session"] and s["session"]["energy_wh"] > 0.5)
    charger.client.post("/api/v1/sim/unplug")
    wait_for(charger, lambda s: s["state"] == "A" and s["session"] is None)
    assert charger.stop() == 0
    ended = [detail for kind, _, detail in history(charger.data_dir) if kind == "SessionEnded"]
    assert len(ended) == 1
    assert '"energy_wh": ' in ended[0]


def test_an_invalid_body_gets_422_with_the_reason_and_changes_nothing(charger_factory: Factory):
    charger = charger_factory()
    response = charger.client.post("/api/v1/limits/ems", json={"amps": -3})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid request"
    assert response.json()["detail"][0]["field"] == "amps"
    assert charger.client.get("/api/v1/status").json()["limit"]["source"] == "hardware"
    assert charger.stop() == 0


def test_history_survives_a_restart_on_the_same_data_dir(charger_factory: Factory, tmp_path):
    data_dir = tmp_path / "kept"
    first = charger_factory("--sim-plug", data_dir=data_dir)
    wait_for(first, lambda s: s["state"] == "C")
    assert first.stop() == 0
    before = history(data_dir)
    second = charger_factory(data_dir=data_dir)
    assert second.stop() == 0
    after = history(data_dir)
    assert after[: len(before)] == before
    assert next(k for k, _, _ in after[len(before):]) == "ChargerStarted"
    assert [k for k, _, _ in after].count("ChargerStopping") == 2


def test_an_invalid_config_refuses_to_start_naming_the_key(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("supply: {max_current_a: 500}\nweb: {colour: blue}\n")
    result = subprocess.run(
        [str(UKSCP), "run", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "supply.max_current_a" in result.stderr
    assert "500" in result.stderr
    assert "web.colour: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_reported_in_words(tmp_path: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(UKSCP), "run", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
