"""The randomised delay through the API and the whole charger, on the virtual clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
from ukscp.limits import Limit, LimitSource


def longest(maximum: int) -> int:
    return maximum


@pytest.fixture
def draw():
    return longest  # every delay the full maximum, so tests know its length


async def charging(api: httpx.AsyncClient, clock: VirtualClock) -> dict:
    await api.post("/api/v1/sim/plug")
    await clock.advance(2)
    status = (await api.get("/api/v1/status")).json()
    assert status["state"] == "C"
    return status


async def test_defaults_are_enabled_600_s_by_source(api: httpx.AsyncClient):
    delay = (await api.get("/api/v1/random-delay")).json()
    assert delay["enabled"] is True
    assert delay["max_duration_s"] == 600
    assert delay["at_any_change"] is True
    assert delay["policy"] == "by_source"
    assert delay["running"] is False
    assert delay["remaining_s"] == 0


async def test_an_ocpp_decrease_is_held_for_the_drawn_delay_then_applies(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    app.arbiter.set("ocpp", Limit(10, LimitSource.OCPP, "TxDefault profile 7"))
    delay = (await api.get("/api/v1/random-delay")).json()
    assert delay["running"]
    drawn = delay["duration_s"]
    assert drawn == 600
    assert delay["cause"] == "ocpp"
    assert delay["reason"] == "TxDefault profile 7"
    assert (delay["limit_during_delay_a"], delay["limit_after_delay_a"]) == (32, 10)

    await clock.advance(drawn - 1)
    status = (await api.get("/api/v1/status")).json()
    assert status["offered_current_a"] == 32
    assert status["random_delay"]["remaining_s"] == 1
    await clock.advance(1)
    status = (await api.get("/api/v1/status")).json()
    assert status["offered_current_a"] == 10
    assert status["random_delay"]["running"] is False
    kinds = [record.kind for record in app.history.recent(20)]
    assert "RandomDelayStarted" in kinds
    assert "RandomDelayExpired" in kinds


async def test_the_owner_cancels_a_running_delay_and_the_change_applies_now(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    app.gate.set_max_duration(1800)
    app.arbiter.set("ocpp", Limit(16, LimitSource.OCPP, "profile 3"))
    assert (await api.get("/api/v1/random-delay")).json()["remaining_s"] == 1800
    await clock.advance(60)
    delay = (await api.post("/api/v1/random-delay/cancel")).json()
    assert delay["running"] is False
    status = (await api.get("/api/v1/status")).json()
    assert status["offered_current_a"] == 16
    [cancelled] = app.history.recent(kind="RandomDelayCancelled")
    assert cancelled.source == "owner"


@pytest.mark.parametrize(
    ("cause", "delayed"),
    [("local", False), ("randomised", False), ("dsr", False), ("price", True), (None, True)],
)
async def test_an_energy_manager_change_is_delayed_as_its_cause_says(
    api: httpx.AsyncClient, clock: VirtualClock, cause: str | None, delayed: bool
):
    """local, randomised, dsr: at once; price, or no cause declared: the drawn delay."""
    before = (await charging(api, clock))["offered_current_a"]
    body: dict[str, object] = {"amps": 12}
    if cause is not None:
        body["cause"] = cause
    response = await api.post("/api/v1/limits/ems", json=body)
    assert response.status_code == 200
    assert response.json()["source"] == ("dsr" if cause == "dsr" else "ems")
    status = (await api.get("/api/v1/status")).json()
    assert status["random_delay"]["running"] is delayed
    assert status["offered_current_a"] == (before if delayed else 12)
    if delayed:
        await clock.advance(600)  # the whole maximum (this module's draw)
        assert (await api.get("/api/v1/status")).json()["offered_current_a"] == 12


async def test_an_unknown_energy_manager_cause_is_refused_naming_the_causes(
    api: httpx.AsyncClient, clock: VirtualClock
):
    before = (await charging(api, clock))["limit"]
    response = await api.post("/api/v1/limits/ems", json={"amps": 12, "cause": "solar"})
    assert response.status_code == 422
    text = response.text
    assert all(word in text for word in ("local", "price", "dsr", "randomised"))
    assert (await api.get("/api/v1/status")).json()["limit"] == before  # nothing changed


async def test_disabled_delay_lets_an_ocpp_change_through_at_once(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    assert (await api.post("/api/v1/random-delay/disable")).json()["enabled"] is False
    app.arbiter.set("ocpp", Limit(8, LimitSource.OCPP))
    assert (await api.get("/api/v1/status")).json()["offered_current_a"] == 8
    assert (await api.post("/api/v1/random-delay/enable")).json()["enabled"] is True


async def test_max_duration_is_set_and_recorded(api: httpx.AsyncClient, app: App):
    response = await api.put("/api/v1/random-delay", json={"max_duration_s": 1800})
    assert response.status_code == 200
    assert response.json()["max_duration_s"] == 1800
    [changed] = app.history.recent(kind="RandomDelayMaxDurationChanged")
    assert changed.source == "owner"
    assert (changed.detail["old_s"], changed.detail["new_s"]) == (600, 1800)


@pytest.mark.parametrize(
    "body",
    [
        {"max_duration_s": 1801},
        {"max_duration_s": -1},
        {"max_duration_s": 600.5},
        {"max_duration_s": "600"},
        {"max_duration_s": True},
        {},
        {"max_duration_s": 600, "extra": 1},
    ],
)
async def test_an_invalid_max_duration_is_refused_and_nothing_changes(
    api: httpx.AsyncClient, app: App, body: dict[str, object]
):
    response = await api.put("/api/v1/random-delay", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid request"
    assert response.json()["detail"]
    assert (await api.get("/api/v1/random-delay")).json()["max_duration_s"] == 600
    assert app.history.recent(kind="RandomDelayMaxDurationChanged") == []


async def settle_and_close(app: App) -> None:
    app.shutdown("test")
    await asyncio.sleep(0)
    app.close()


async def test_settings_persist_across_a_restart(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    first = build_app(settings, VirtualClock())
    first.start()
    first.gate.set_max_duration(900, source="ocpp")
    first.gate.disable(source="owner")
    await settle_and_close(first)

    second = build_app(settings, VirtualClock())
    status = second.gate.status()
    assert (status.enabled, status.max_duration_s) == (False, 900)
    second.close()


async def test_power_restoration_with_an_ev_connected_is_delayed(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    clock = VirtualClock()
    first = build_app(settings, clock)
    first.start()
    task = asyncio.create_task(first.controller.run())
    first.sim.plug()
    await clock.advance(2)
    assert first.controller.status().power_w > 0
    # the power goes: no clean stop, nothing more is written
    task.cancel()
    first.close()

    second = build_app(settings, clock, draw=lambda maximum: 300)
    second.start()
    task = asyncio.create_task(second.controller.run())
    await clock.advance(2)
    status = second.gate.status()
    assert status.running
    assert status.cause == "restoration"
    assert status.limit_during_delay_a == 0
    assert second.controller.status().power_w == 0
    await clock.advance(298)
    assert second.controller.status().power_w > 0
    second.shutdown("test")
    await task
    second.close()


async def test_a_first_start_with_sim_plug_is_a_plug_in_not_a_restoration(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    settings = settings.model_copy(
        update={"hardware": settings.hardware.model_copy(update={"sim_plug_at_start": True})}
    )
    clock = VirtualClock()
    app = build_app(settings, clock, draw=lambda maximum: 300)
    app.start()
    task = asyncio.create_task(app.controller.run())
    await clock.advance(2)
    assert not app.gate.status().running
    assert app.controller.status().power_w > 0
    app.shutdown("test")
    await task
    app.close()


async def test_an_unplugged_restart_is_not_a_restoration(tmp_path: Path):
    settings = Settings(data_dir=tmp_path)
    clock = VirtualClock()
    first = build_app(settings, clock)
    first.start()
    task = asyncio.create_task(first.controller.run())
    first.sim.plug()
    await clock.advance(2)
    first.sim.unplug()
    await clock.advance(2)
    first.shutdown("test")
    await task
    first.close()

    second = build_app(settings, clock)
    second.start()
    assert not second.gate.status().running
    second.close()
