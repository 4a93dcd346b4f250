"""The JSON API in-process, over the real charger on the virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
from ukscp.history import EventHistory


async def test_status_of_an_idle_charger(api: httpx.AsyncClient):
    status = (await api.get("/api/v1/status")).json()
    assert status["state"] == "A"
    assert status["ev_connected"] is False
    assert status["session"] is None
    assert status["limit"]["source"] == "hardware"


async def test_plugging_in_starts_charging_at_the_arbitrated_limit(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await api.post("/api/v1/sim/plug")
    await clock.advance(2)
    status = (await api.get("/api/v1/status")).json()
    assert status["state"] == "C"
    assert status["offered_current_a"] == 32
    assert status["power_w"] == pytest.approx(7360)


async def test_session_energy_follows_the_meter_on_virtual_time(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await api.post("/api/v1/sim/plug")
    await clock.advance(3600)
    session = (await api.get("/api/v1/status")).json()["session"]
    # one hour at 7.36 kW, less the first poll interval before the EV reaches state C
    assert session["energy_wh"] == pytest.approx(7360, rel=0.001)


async def test_ems_limit_binds_and_is_reported_as_the_source(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await api.post("/api/v1/sim/plug")
    response = await api.post("/api/v1/limits/ems", json={"amps": 12.5})
    assert response.json() == {
        "amps": 12.5,
        "phases": 1,
        "source": "ems",
        "reason": "local energy manager",
    }
    await clock.advance(1)
    status = (await api.get("/api/v1/status")).json()
    assert status["measured_current_a"] == pytest.approx(12.5)


async def test_ems_limit_below_6_amps_pauses_charging(api: httpx.AsyncClient, clock: VirtualClock):
    await api.post("/api/v1/sim/plug")
    await clock.advance(1)
    await api.post("/api/v1/limits/ems", json={"amps": 4, "cause": "local"})
    await clock.advance(1)
    status = (await api.get("/api/v1/status")).json()
    assert status["offered_current_a"] == 0
    assert status["power_w"] == 0
    assert status["contactor_closed"] is False


async def test_deleting_the_ems_limit_restores_the_caps(api: httpx.AsyncClient):
    await api.post("/api/v1/limits/ems", json={"amps": 8})
    response = await api.delete("/api/v1/limits/ems")
    assert response.json()["source"] == "hardware"
    assert response.json()["amps"] == 32


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amps": -1}, "amps"),
        ({"amps": 101}, "amps"),
        ({"amps": "ten"}, "amps"),
        ({"amps": True}, "amps"),  # not 1 A
        ({"amps": "7.5"}, "amps"),  # a number is a JSON number, not text
        ({"amps": "7"}, "amps"),
        ({"amps": None}, "amps"),
        ({}, "amps"),
        ({"amps": 10, "colour": "red"}, "colour"),
    ],
)
async def test_an_invalid_ems_body_is_refused_with_the_field_named(
    api: httpx.AsyncClient, body: dict[str, object], field: str
):
    response = await api.post("/api/v1/limits/ems", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid request"
    assert field in [problem["field"] for problem in response.json()["detail"]]
    status = (await api.get("/api/v1/status")).json()
    assert status["limit"]["source"] == "hardware"


@pytest.mark.parametrize("amps", [7, 7.5, 0])
async def test_an_ems_limit_is_a_json_number_whole_or_not(api: httpx.AsyncClient, amps: float):
    response = await api.post("/api/v1/limits/ems", json={"amps": amps})
    assert response.status_code == 200, response.text
    assert response.json()["amps"] == amps


async def test_a_body_that_is_not_json_is_refused_in_words(api: httpx.AsyncClient):
    response = await api.post(
        "/api/v1/limits/ems", content=b"amps=10", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "error" in response.json()


async def test_unknown_paths_get_a_json_404(api: httpx.AsyncClient):
    response = await api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "detail": None}


async def test_sim_pause_toggles_an_ev_initiated_pause(api: httpx.AsyncClient, clock: VirtualClock):
    await api.post("/api/v1/sim/plug")
    await clock.advance(1)
    assert (await api.post("/api/v1/sim/pause")).json()["paused"] is True
    await clock.advance(1)
    assert (await api.get("/api/v1/status")).json()["state"] == "B"
    assert (await api.post("/api/v1/sim/pause")).json()["paused"] is False
    await clock.advance(1)
    assert (await api.get("/api/v1/status")).json()["state"] == "C"


async def test_sim_unplug_ends_the_session(api: httpx.AsyncClient, clock: VirtualClock, app: App):
    await api.post("/api/v1/sim/plug")
    await clock.advance(60)
    await api.post("/api/v1/sim/unplug")
    await clock.advance(1)
    assert (await api.get("/api/v1/status")).json()["session"] is None
    kinds = [record.kind for record in app.history.recent(10)]
    assert "SessionEnded" in kinds


async def test_openapi_publishes_every_route(api: httpx.AsyncClient):
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/status",
        "/api/v1/limits/ems",
        "/api/v1/sim/plug",
        "/api/v1/sim/unplug",
        "/api/v1/sim/pause",
    ):
        assert path in paths


def test_a_start_at_a_weekday_peak_records_the_start_before_the_default_hours_limit(
    tmp_path: Path,
):
    # Monday 2026-01-05 08:30 London: inside the 08-11 peak, so default hours block at once.
    clock = VirtualClock(datetime(2026, 1, 5, 8, 30, tzinfo=UTC))
    built = build_app(Settings(data_dir=tmp_path / "data"), clock)
    built.start()
    built.shutdown("test finished")
    built.close()
    records = list(EventHistory(tmp_path / "data" / "history.sqlite3").all())
    assert [r.kind for r in records[:2]] == ["ChargerStarted", "LimitChanged"]
    assert records[1].source == "default_mode"
