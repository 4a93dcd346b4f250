"""The measuring system through the API, on the virtual clock."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from ukscp.app import App
from ukscp.clock import VirtualClock

CHARGING_W = 32 * 230


async def charge_for(api: httpx.AsyncClient, clock: VirtualClock, seconds: float) -> None:
    await api.post("/api/v1/sim/plug")
    await clock.advance(seconds)


async def test_hourly_history_adds_up_to_what_was_delivered(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charge_for(api, clock, 2 * 3600 + 30)
    history = (await api.get("/api/v1/meter/history", params={"resolution": "1h"})).json()
    assert history["resolution"] == "1h"
    total = sum(row["import_wh"] for row in history["rows"])
    session = (await api.get("/api/v1/status")).json()["session"]
    # rollups cover completed minutes only: the 30 s under way are not in them yet
    assert total == pytest.approx(session["energy_wh"] - CHARGING_W * 30 / 3600, rel=1e-3)
    assert max(row["max_power_w"] for row in history["rows"]) == pytest.approx(CHARGING_W)


async def test_one_second_history_has_a_row_per_sample(api: httpx.AsyncClient, clock: VirtualClock):
    await charge_for(api, clock, 120)
    start = clock.now().replace(microsecond=0)
    await clock.advance(60)
    params = {"resolution": "1s", "from": start.isoformat(), "to": clock.now().isoformat()}
    rows = (await api.get("/api/v1/meter/history", params=params)).json()["rows"]
    assert 50 <= len(rows) <= 61
    assert all(row["mean_power_w"] == pytest.approx(CHARGING_W) for row in rows)


async def test_csv_export_streams_a_header_and_the_minutes(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charge_for(api, clock, 600)
    response = await api.get("/api/v1/meter/export.csv", params={"resolution": "1m"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    header, body = rows[0], rows[1:]
    assert "import_wh" in ",".join(header)
    assert 8 <= len(body) <= 11


async def test_sessions_record_energy_and_each_rate_change_with_its_cause(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charge_for(api, clock, 600)
    await api.post("/api/v1/limits/ems", json={"amps": 10})
    await clock.advance(600)
    await api.post("/api/v1/sim/unplug")
    await clock.advance(10)
    [session] = (await api.get("/api/v1/sessions")).json()
    assert session["stopped_at"] is not None
    assert session["end_reason"] == "unplugged"
    expected_wh = CHARGING_W * 600 / 3600 + 10 * 230 * 600 / 3600
    assert session["import_wh"] == pytest.approx(expected_wh, rel=0.01)
    assert session["peak_power_w"] == pytest.approx(CHARGING_W)
    ems = [change for change in session["rate_changes"] if change["source"] == "ems"]
    assert ems and ems[0]["amps"] == 10


async def test_deleting_personal_data_removes_the_sessions(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charge_for(api, clock, 60)
    await api.post("/api/v1/sim/unplug")
    await clock.advance(10)
    deleted = (await api.delete("/api/v1/personal-data")).json()
    assert deleted["sessions"] == 1
    assert (await api.get("/api/v1/sessions")).json() == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "2026-01-05T02:00:00Z", "to": "2026-01-05T01:00:00Z"}, "must be before"),
        ({"resolution": "1s", "from": "2026-01-01T00:00:00Z", "to": "2026-01-05T00:00:00Z"},
         "at most"),
    ],
)
async def test_a_nonsense_period_is_refused_in_words(
    api: httpx.AsyncClient, params: dict[str, str], words: str
):
    response = await api.get("/api/v1/meter/history", params=params)
    assert response.status_code == 422
    assert words in response.json()["error"]


async def test_an_unknown_resolution_is_refused(api: httpx.AsyncClient):
    response = await api.get("/api/v1/meter/history", params={"resolution": "2h"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "query.resolution"


async def test_a_bad_time_is_refused(api: httpx.AsyncClient, app: App):
    response = await api.get("/api/v1/meter/history", params={"from": "yesterday"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "query.from"
