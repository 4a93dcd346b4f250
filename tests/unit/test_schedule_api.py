"""Default charging hours, first use and boost through the API, on the virtual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings

MONDAY_0759 = datetime(2026, 1, 5, 7, 59, tzinfo=UTC)  # London is on GMT in January


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(MONDAY_0759)


@pytest.fixture
def draw():
    return lambda maximum: 120  # every delay 120 s, so the tests know when it ends


async def status(api: httpx.AsyncClient) -> dict:
    return (await api.get("/api/v1/status")).json()


async def plugged_in(api: httpx.AsyncClient, clock: VirtualClock) -> None:
    await api.post("/api/v1/sim/plug")
    await clock.advance(2)


async def test_a_new_charger_has_the_default_hours_and_asks_the_owner(api: httpx.AsyncClient):
    schedule = (await api.get("/api/v1/schedule")).json()
    assert schedule["mode"] == "default"
    assert schedule["first_use_pending"] is True
    assert schedule["schedule_source"] == "default"
    weekday = {"days": ["mon", "tue", "wed", "thu", "fri"]}
    assert {**weekday, "start": "11:00", "end": "16:00"} in schedule["windows"]
    assert (await status(api))["first_use_pending"] is True


async def test_the_morning_peak_stops_charging_after_a_random_delay(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await plugged_in(api, clock)
    assert (await status(api))["power_w"] > 0
    await clock.advance(60)  # 08:00:01: the boundary is reached
    delay = (await api.get("/api/v1/random-delay")).json()
    assert delay["running"] and delay["cause"] == "default_mode"
    assert (await status(api))["power_w"] > 0  # still held at the old value
    await clock.advance(120)
    now = await status(api)
    assert now["power_w"] == 0
    assert now["limit"]["source"] == "default_mode"
    assert now["charging_allowed_by_schedule"] is False


async def test_boost_charges_at_once_in_the_peak_and_cancel_stops_at_once(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await clock.advance(3600)  # 08:59, in the peak
    await plugged_in(api, clock)
    assert (await status(api))["power_w"] == 0
    schedule = (await api.post("/api/v1/boost", json={})).json()
    assert schedule["boost"]["until_session_end"] is True
    await clock.advance(1)
    assert (await status(api))["power_w"] > 0  # an owner action: never delayed
    await api.delete("/api/v1/boost")
    await clock.advance(1)
    assert (await status(api))["power_w"] == 0


async def test_a_timed_boost_ends_by_itself(api: httpx.AsyncClient, clock: VirtualClock):
    await clock.advance(3600)
    await plugged_in(api, clock)
    await api.post("/api/v1/boost", json={"duration_s": 1800})
    await clock.advance(1799)
    assert (await status(api))["power_w"] > 0
    await clock.advance(2)
    assert (await status(api))["power_w"] == 0


async def test_a_boost_with_both_an_end_time_and_a_duration_is_refused(api: httpx.AsyncClient):
    body = {"until": "2026-01-05T12:00:00+00:00", "duration_s": 600}
    response = await api.post("/api/v1/boost", json=body)
    assert response.status_code == 422
    assert "not both" in str(response.json()["detail"])
    assert (await api.get("/api/v1/schedule")).json()["boost"] is None


@pytest.mark.parametrize("path", ["/api/v1/boost", "/api/v1/dsr/override"])
@pytest.mark.parametrize(
    "until",
    [
        "9999-12-31T00:00:00+00:00",
        "2026-01-12T07:59:01+00:00",  # a second past 7 days from now
        "2026-01-05T07:58:00+00:00",  # already past
    ],
)
async def test_an_override_end_beyond_7_days_or_past_is_refused_in_words(
    api: httpx.AsyncClient, path: str, until: str
):
    response = await api.post(path, json={"until": until})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "until" in error and ("7 days ahead" in error or "not in the future" in error)
    schedule = (await api.get("/api/v1/schedule")).json()
    assert schedule["boost"] is None and schedule["dsr_override"] is None


@pytest.mark.parametrize("path", ["/api/v1/boost", "/api/v1/dsr/override"])
async def test_an_override_may_end_7_days_ahead(api: httpx.AsyncClient, path: str):
    response = await api.post(path, json={"until": "2026-01-12T07:59:00+00:00"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("duration_s", [True, "3600", 3600.5, 7 * 24 * 3600 + 1])
async def test_an_override_duration_is_whole_seconds_up_to_7_days(
    api: httpx.AsyncClient, duration_s: object
):
    response = await api.post("/api/v1/boost", json={"duration_s": duration_s})
    assert response.status_code == 422, response.text
    assert [problem["field"] for problem in response.json()["detail"]] == ["duration_s"]


async def test_first_use_remove_lets_charging_start_at_once_in_the_peak(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await clock.advance(3600)
    await plugged_in(api, clock)
    chosen = (await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})).json()
    assert chosen["first_use_pending"] is False
    assert chosen["first_use"]["choice"] == "remove"
    assert chosen["mode"] == "removed"
    await clock.advance(1)
    assert (await status(api))["power_w"] > 0
    assert (await api.get("/api/v1/random-delay")).json()["running"] is False


async def test_first_use_can_only_be_chosen_once(api: httpx.AsyncClient):
    assert (await api.post("/api/v1/schedule/first-use", json={"choice": "accept"})).is_success
    again = await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
    assert again.status_code == 409
    assert "already made" in again.json()["error"]


async def test_first_use_custom_sets_the_owners_hours(api: httpx.AsyncClient):
    body = {
        "choice": "custom",
        "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "23:30",
                     "end": "05:30"}],
    }
    chosen = (await api.post("/api/v1/schedule/first-use", json=body)).json()
    assert chosen["mode"] == "custom"
    assert chosen["windows"] == body["windows"]
    assert chosen["schedule_source"] == "owner"


@pytest.mark.parametrize(
    ("windows", "words"),
    [
        ([{"days": ["mon"], "start": "10:00", "end": "10:00"}], "same time"),
        ([{"days": ["mon"], "start": "10:00:30", "end": "11:00"}], "10:00:30"),
        (
            [
                {"days": ["mon"], "start": "01:00", "end": "05:00"},
                {"days": ["mon"], "start": "04:00", "end": "06:00"},
            ],
            "overlaps",
        ),
    ],
)
async def test_nonsense_hours_are_refused_in_words_and_nothing_changes(
    api: httpx.AsyncClient, windows: list[dict[str, object]], words: str
):
    response = await api.put("/api/v1/schedule", json={"mode": "custom", "windows": windows})
    assert response.status_code == 422
    assert words in response.json()["error"]
    schedule = (await api.get("/api/v1/schedule")).json()
    assert schedule["mode"] == "default"
    assert schedule["first_use_pending"] is True


async def test_a_body_with_an_unknown_day_is_refused(api: httpx.AsyncClient):
    body = {"mode": "custom", "windows": [{"days": ["funday"], "start": "01:00", "end": "02:00"}]}
    response = await api.put("/api/v1/schedule", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"].startswith("windows")


async def test_editing_the_hours_is_an_owner_action_and_takes_effect_at_once(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await clock.advance(3600)  # in the peak
    await plugged_in(api, clock)
    window = {"days": ["mon"], "start": "08:30", "end": "10:00"}
    await api.put("/api/v1/schedule", json={"mode": "custom", "windows": [window]})
    await clock.advance(1)
    assert (await status(api))["power_w"] > 0
    assert (await api.get("/api/v1/random-delay")).json()["running"] is False
    changed = app.history.recent(kind="LimitChanged")[0]
    assert changed.source == "owner"


async def test_the_hours_survive_a_restart(tmp_path: Path, clock: VirtualClock):
    settings = Settings(data_dir=tmp_path)
    first = build_app(settings, clock)
    first.start()
    first.charger.first_use("custom", [{"days": ["sat"], "start": "00:00", "end": "24:00"}])
    first.shutdown("test")
    await asyncio.sleep(0)
    first.close()
    second = build_app(settings, clock)
    schedule = second.charger.schedule()
    assert schedule.mode == "custom"
    assert schedule.first_use_pending is False
    assert [w.days for w in schedule.windows] == [["sat"]]
    second.close()


async def test_sold_with_a_dsr_agreement_has_no_default_hours(
    tmp_path: Path, clock: VirtualClock
):
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path), "provisioning": {"sold_with_dsr_agreement": True}}
    )
    await clock.advance(3600)  # in the peak
    app = build_app(settings, clock)
    schedule = app.charger.schedule()
    assert schedule.sold_with_dsr_agreement is True
    assert schedule.first_use_pending is False
    assert schedule.charging_allowed is True
    assert app.arbiter.current.source != "default_mode"
    app.close()


async def test_a_dsr_event_applies_at_once_and_the_owner_can_override_it(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
    await plugged_in(api, clock)
    app.dsr.start_event("evt-1", 6, "grid constraint")
    now = await status(api)
    assert now["offered_current_a"] == 6  # demand side response: never delayed
    assert now["limit"]["source"] == "dsr"

    schedule = (await api.post("/api/v1/dsr/override", json={"duration_s": 3600})).json()
    assert schedule["dsr_override"] is not None
    now = await status(api)
    assert now["offered_current_a"] == 32  # the owner's override: never delayed
    assert app.history.recent(kind="LimitChanged")[0].source == "owner"

    await api.delete("/api/v1/dsr/override")
    assert (await status(api))["offered_current_a"] == 6
    app.dsr.end_event("evt-1")
    assert (await status(api))["offered_current_a"] == 32
    assert (await api.get("/api/v1/random-delay")).json()["running"] is False


async def test_a_dsr_override_runs_out_and_the_event_applies_again(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
    await plugged_in(api, clock)
    app.dsr.start_event("evt-2", 10, "price spike")
    await api.post("/api/v1/dsr/override", json={"duration_s": 600})
    assert (await status(api))["offered_current_a"] == 32
    await clock.advance(601)
    assert (await status(api))["offered_current_a"] == 10
