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
    # the minute under way counts too, measured up to the request
    assert total == pytest.approx(session["energy_wh"], abs=0.01)
    assert [row["partial"] for row in history["rows"]] == [False, False, True]
    assert max(row["max_power_w"] for row in history["rows"]) == pytest.approx(CHARGING_W)


async def test_fifteen_seconds_of_charging_are_in_the_minute_csv_and_the_newest_second(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charge_for(api, clock, 15)
    await clock.advance(0.5)  # between two samples: the newest second is under way
    response = await api.get("/api/v1/meter/export.csv", params={"resolution": "1m"})
    header, *minutes = list(csv.reader(io.StringIO(response.text)))
    assert header[-1] == "partial"
    assert minutes and minutes[-1][-1] == "true"
    assert sum(float(row[1]) for row in minutes) > 0
    seconds = (
        await api.get("/api/v1/meter/history", params={"resolution": "1s"})
    ).json()["rows"]
    newest = seconds[-1]
    assert newest["partial"] is True
    assert newest["mean_power_w"] == pytest.approx(CHARGING_W)
    assert newest["import_wh"] == pytest.approx(CHARGING_W * 0.5 / 3600)
    assert not any(row["partial"] for row in seconds[:-1])


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
    await api.post("/api/v1/limits/ems", json={"amps": 10, "cause": "local"})  # at once
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


METER_PATHS = ("/api/v1/meter/history", "/api/v1/meter/export.csv")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"to": "0001-01-01T00:00:00"}, "to must be from 1970-01-01 up to 3000-01-01"),
        ({"to": "0001-01-01T00:00:00Z"}, "to must be from 1970-01-01"),
        ({"from": "0001-01-01T00:00:00"}, "from must be from 1970-01-01"),
        ({"to": "9999-12-31T23:59:59.999999"}, "to must be from 1970-01-01 up to 3000-01-01"),
        ({"from": "9999-12-31T23:59:59", "resolution": "1d"}, "from must be from"),
        ({"from": "1969-12-31T23:59:59Z", "resolution": "1s"}, "got 1969-12-31T23:59:59+00:00"),
        ({"from": "3000-01-01T00:00:00Z", "to": "3000-01-02T00:00:00Z"}, "from must be from"),
    ],
)
async def test_times_outside_what_the_meter_can_hold_are_refused_in_words(
    api: httpx.AsyncClient, params: dict[str, str], words: str
):
    for path in METER_PATHS:
        response = await api.get(path, params=params)
        assert response.status_code == 422, path
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"error", "detail"}
        assert words in body["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"to": "1970-01-01T00:00:01Z", "resolution": "1d"},
        {"to": "1970-01-01T00:00:01Z", "resolution": "1s"},
        {"from": "2999-12-31T00:00:00Z", "to": "2999-12-31T23:59:59Z", "resolution": "1m"},
        {"from": "2999-01-01T00:00:00", "to": "2999-12-31T00:00:00", "resolution": "1d"},
    ],
)
async def test_the_edges_of_the_range_are_answered(
    api: httpx.AsyncClient, params: dict[str, str]
):
    history = await api.get(METER_PATHS[0], params=params)
    assert history.status_code == 200, history.text
    assert history.json()["rows"] == []
    export = await api.get(METER_PATHS[1], params=params)
    assert export.status_code == 200, export.text
    assert export.text.count("\r\n") == 1  # the header alone


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"offset": "99999999999999999999"}, "query.offset"),
        ({"offset": "1000001"}, "query.offset"),
        ({"offset": "-1"}, "query.offset"),
        ({"offset": "1.5"}, "query.offset"),
        ({"limit": "99999999999999999999"}, "query.limit"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "501"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
    ],
)
async def test_a_sessions_page_out_of_range_is_refused_in_words(
    api: httpx.AsyncClient, params: dict[str, str], field: str
):
    response = await api.get("/api/v1/sessions", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid request"
    assert [problem["field"] for problem in body["detail"]] == [field]
    assert body["detail"][0]["message"]


async def test_the_last_sessions_page_a_charger_can_hold_answers(api: httpx.AsyncClient):
    response = await api.get("/api/v1/sessions", params={"offset": "1000000", "limit": "500"})
    assert response.status_code == 200
    assert response.json() == []
