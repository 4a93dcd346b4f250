"""An opened enclosure stops charging until the owner acknowledges it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.security.seclog import SecurityLog
from ukscp.security.tamper import TamperGuard, TamperNotCleared
from ukscp.settings_store import SettingsStore


async def charging(api: httpx.AsyncClient, clock: VirtualClock) -> None:
    await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
    await api.post("/api/v1/sim/plug")
    await clock.advance(2)
    assert (await api.get("/api/v1/status")).json()["power_w"] > 0


async def test_tamper_stops_charging_at_once_and_is_logged_as_critical(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    await api.post("/api/v1/sim/tamper")
    await clock.advance(1.5)
    status = (await api.get("/api/v1/status")).json()
    assert status["tamper_alarm_since"] is not None
    assert status["offered_current_a"] == 0
    assert status["limit"]["source"] == "safety"
    assert status["random_delay"]["running"] is False  # safety: never delayed
    [record] = [r for r in app.seclog.records(50) if r.type == "TamperDetectionActivated"]
    assert record.critical


async def test_the_owners_acknowledgement_lets_charging_resume_at_once(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    await api.post("/api/v1/sim/tamper")
    await clock.advance(1.5)
    status = (await api.post("/api/v1/tamper/acknowledge")).json()
    assert status["tamper_alarm_since"] is None
    assert status["offered_current_a"] == 32
    assert "TamperAcknowledged" in [r.type for r in app.seclog.records(50)]


async def test_the_alarm_survives_a_restart(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    clock = VirtualClock()
    first = build_app(settings, clock)
    first.sim.tamper()
    first.tamper.check()
    first.close()
    second = build_app(settings, clock)
    assert second.arbiter.current.amps == 0
    assert second.arbiter.current.source is LimitSource.SAFETY
    assert second.tamper.alarm_since is not None
    second.close()


class StuckSwitch:
    """A board whose tamper switch cannot be re-armed by software."""

    def tamper_tripped(self) -> bool:
        return True


async def test_an_enclosure_still_open_cannot_be_acknowledged(tmp_path: Path):
    clock = VirtualClock()
    arbiter = Arbiter({"hw": Limit(32, LimitSource.HARDWARE)}, supply_phases=1)
    guard = TamperGuard(
        clock, StuckSwitch(), arbiter, SecurityLog(tmp_path / "s.db", clock),
        SettingsStore(tmp_path / "k.db"),
    )
    guard.check()
    with pytest.raises(TamperNotCleared, match="still reads open"):
        guard.acknowledge()
    assert arbiter.current.amps == 0


async def test_acknowledging_over_the_api_while_open_is_refused_in_words(
    api: httpx.AsyncClient, app: App, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(app.board, "reset_tamper", lambda: None)  # the switch is stuck open
    await api.post("/api/v1/sim/tamper")
    await clock.advance(1.5)
    response = await api.post("/api/v1/tamper/acknowledge")
    assert response.status_code == 409
    assert "close the enclosure" in response.json()["error"]
    assert (await api.get("/api/v1/status")).json()["tamper_alarm_since"] is not None
