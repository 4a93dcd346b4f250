"""DSR events from every channel, seen and opted out of by the owner (regulation 10).

The whole charger through its JSON API on the virtual clock (fixed at a Monday
07:59, outside the default hours' peak, with the default hours removed).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from ukscp.app import App
from ukscp.clock import VirtualClock
from ukscp.limits import Limit, LimitSource

MONDAY_0759 = datetime(2026, 1, 5, 7, 59, tzinfo=UTC)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(MONDAY_0759)


@pytest.fixture
def draw():
    return lambda maximum: maximum  # a delay, if one started, would last its whole maximum


async def charging(api: httpx.AsyncClient, clock: VirtualClock) -> None:
    await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
    await api.post("/api/v1/sim/plug")
    await clock.advance(2)
    assert (await offered(api)) == 32


async def offered(api: httpx.AsyncClient) -> float:
    return float((await api.get("/api/v1/status")).json()["offered_current_a"])


async def dsr(api: httpx.AsyncClient) -> dict:
    response = await api.get("/api/v1/dsr")
    assert response.status_code == 200
    return response.json()


async def test_the_owner_opts_out_of_one_event_at_once_and_the_choice_ends_with_it(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    app.dsr.start_event("openadr:e1", 6, "feeder constraint", channel="openadr")
    app.dsr.start_event("openadr:e2", 10, "national event", channel="openadr")
    assert await offered(api) == 6  # DSR: never delayed

    response = await api.post("/api/v1/dsr/override", json={"event_id": "openadr:e1"})
    assert response.status_code == 200
    assert await offered(api) == 10  # e1 lifted at once; e2 still binds
    assert (await api.get("/api/v1/random-delay")).json()["running"] is False
    events = {event["id"]: event for event in (await dsr(api))["events"]}
    assert events["openadr:e1"]["opted_out"] is True
    assert events["openadr:e2"]["opted_out"] is False

    app.dsr.start_event("openadr:e1", 4, "feeder constraint, deeper", channel="openadr")
    assert await offered(api) == 10  # a change of the event keeps the owner's choice
    app.dsr.end_event("openadr:e1")
    app.dsr.start_event("openadr:e1", 6, "a new event under the old id", channel="openadr")
    assert await offered(api) == 6  # the choice ended with its event
    records = [r.info for r in app.seclog.records() if r.type == "DsrOptedOut"]
    assert records == ["owner opted out of DSR event openadr:e1 (openadr, 6 A)"]


async def test_an_opt_out_of_an_event_not_in_force_is_refused_in_words(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    await charging(api, clock)
    response = await api.post("/api/v1/dsr/override", json={"event_id": "nothing"})
    assert response.status_code == 404
    assert "no DSR event 'nothing' is in force" in response.text
    both = {"event_id": "x", "duration_s": 600}
    response = await api.post("/api/v1/dsr/override", json=both)
    assert response.status_code == 422
    assert "lasts as long as the event" in response.text
    assert (await dsr(api))["overridden"] is False  # nothing changed


async def test_an_energy_managers_dsr_limit_is_an_event_the_owner_sees_and_opts_out_of(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charging(api, clock)
    answer = await api.post("/api/v1/limits/ems", json={"amps": 8, "cause": "dsr"})
    assert (answer.status_code, answer.json()["source"]) == (200, "dsr")
    assert await offered(api) == 8
    [event] = (await dsr(api))["events"]
    assert (event["id"], event["source"], event["amps"], event["active"]) == ("ems", "ems", 8, True)
    await api.post("/api/v1/dsr/override", json={"event_id": "ems"})
    assert await offered(api) == 32
    # The energy manager moves on to a local cause: the event ends.
    await api.post("/api/v1/limits/ems", json={"amps": 20, "cause": "local"})
    [event] = (await dsr(api))["events"]
    assert (event["active"], event["opted_out"]) == (False, True)
    assert await offered(api) == 20


async def test_a_dsr_providers_limit_is_overridden_by_the_owner_on_that_channel_too(
    api: httpx.AsyncClient, clock: VirtualClock, app: App
):
    """A DSR-provider CSMS's 6 A used to bind through the owner's override."""
    await charging(api, clock)
    app.port.set_ocpp_limit(Limit(6, LimitSource.DSR, "profile 7 (TxDefaultProfile)"))
    assert await offered(api) == 6
    [event] = (await dsr(api))["events"]
    assert (event["id"], event["source"]) == ("ocpp: profile 7 (TxDefaultProfile)", "ocpp")

    response = await api.post("/api/v1/dsr/override", json={"duration_s": 3600})
    assert response.status_code == 200
    assert await offered(api) == 32
    assert (await dsr(api))["overridden"] is True
    records = [r.info for r in app.seclog.records() if r.type == "DsrOverridden"]
    assert len(records) == 1 and records[0].startswith("owner overrides every DSR event until")

    await api.delete("/api/v1/dsr/override")
    assert await offered(api) == 6
    app.port.set_ocpp_limit(None)  # the CSMS's profile ends: so does its event
    assert await offered(api) == 32
    [event] = (await dsr(api))["events"]
    assert event["active"] is False
