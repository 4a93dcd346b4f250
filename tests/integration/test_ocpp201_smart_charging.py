"""OCPP 2.0.1 smart charging (K01, K08, K09, K10) against a real 2.0.1 central system.

The composite-schedule vectors (stacking, recurring, relative, W, validity)
are asked over the wire with GetCompositeSchedule; the limit in force lands in
the charger as a Limit with its source and a reason naming the profile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    eventually,
    settle_real,
    write_key,
)
from tests.integration.test_ocpp201_support import (
    events,
    make_charger201,
    running_csms201,
    transport_config201,
)
from ukscp.clock import VirtualClock
from ukscp.limits.limit import LimitSource

START = "2026-01-05T00:01:00Z"  # the whole minute the tests align the virtual clock to


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    **extra: Any,
) -> dict[str, Any]:
    """A 2.0.1 ChargingProfileType as a CSMS sends it (camelCase)."""
    schedule: dict[str, Any] = {
        "id": profile_id,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if kind != "Relative":
        schedule["startSchedule"] = extra.pop("start", START)
    schedule.update(extra.pop("schedule", {}))
    return {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms201() as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger201(
        tmp_path, clock, transport_config201(csms.url, tmp_path), smart_charging=True
    )
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    await align(clock)
    yield built
    await built.stop()


async def align(clock: VirtualClock) -> None:
    """Move the clock to the next whole minute, so composite offsets are whole seconds."""
    now = clock.now()
    await clock.advance(60 - now.second - now.microsecond / 1e6)


async def wait_real(predicate: Callable[[], bool], clock: VirtualClock) -> None:
    """Wait for the CSMS to see something, without moving virtual time."""
    for _ in range(500):
        if predicate():
            return
        await settle_real(clock, 0.01)
    raise AssertionError("timed out")


async def set_profile(csms: CsmsServer, evse_id: int, wire: dict[str, Any]) -> str:
    answer = await csms.call(call.SetChargingProfile(evse_id=evse_id, charging_profile=wire))
    return str(answer.status)


async def composite(
    csms: CsmsServer, duration: int, evse_id: int = 1, unit: str = "A"
) -> list[tuple[int, float]]:
    answer = await csms.call(
        call.GetCompositeSchedule(duration=duration, evse_id=evse_id, charging_rate_unit=unit)
    )
    assert answer.status == "Accepted"
    schedule = answer.schedule
    assert schedule["evse_id"] == evse_id
    assert schedule["charging_rate_unit"] == unit
    return [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]]


async def test_a_station_max_profile_becomes_the_ocpp_limit_until_cleared(
    charger: Charger, csms: CsmsServer
) -> None:
    assert await set_profile(csms, 0, profile(3, "ChargingStationMaxProfile", [(0, 20)])) == (
        "Accepted"
    )
    limit = charger.port.limits[-1]
    assert limit is not None
    assert (limit.amps, limit.source) == (20, LimitSource.OCPP)
    assert "#3" in limit.reason and "ChargingStationMax" in limit.reason
    cleared = await csms.call(call.ClearChargingProfile(charging_profile_id=3))
    assert cleared.status == "Accepted"
    assert charger.port.limits[-1] is None
    again = await csms.call(call.ClearChargingProfile(charging_profile_id=3))
    assert again.status == "Unknown"


async def test_a_dsr_providers_profile_is_a_dsr_limit(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> None:
    write_key(tmp_path / "ocpp_key")
    charger = make_charger201(
        tmp_path,
        clock,
        transport_config201(csms.url, tmp_path),
        smart_charging=True,
        dsr_provider=True,
    )
    charger.start()
    try:
        await eventually(lambda: charger.client.online, clock)
        await align(clock)
        assert await set_profile(csms, 0, profile(4, "TxDefaultProfile", [(0, 6)])) == "Accepted"
        limit = charger.port.limits[-1]
        assert limit is not None
        assert (limit.amps, limit.source) == (6, LimitSource.DSR)
    finally:
        await charger.stop()


async def test_stack_levels_the_higher_wins_and_the_station_max_caps_it(
    charger: Charger, csms: CsmsServer
) -> None:
    # TxDefault level 0: 16 A all day; level 1: 8 A for the first hour; station max 12 A
    # for the first two hours.
    assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
    low = profile(2, "TxDefaultProfile", [(0, 8)], stack_level=1, schedule={"duration": 3600})
    assert await set_profile(csms, 1, low) == "Accepted"
    cap = profile(3, "ChargingStationMaxProfile", [(0, 12)], schedule={"duration": 7200})
    assert await set_profile(csms, 0, cap) == "Accepted"
    assert await composite(csms, 3 * 3600) == [(0, 8), (3600, 12), (7200, 16)]
    limit = charger.port.limits[-1]
    assert limit is not None and limit.amps == 8 and "#2" in limit.reason


async def test_a_daily_recurring_profile_repeats_from_its_start(
    charger: Charger, csms: CsmsServer
) -> None:
    # Every day from 01:00 UTC: 10 A for two hours, then 32 A.
    daily = profile(
        5,
        "TxDefaultProfile",
        [(0, 10), (7200, 32)],
        kind="Recurring",
        recurrencyKind="Daily",
        start="2026-01-04T01:01:00Z",
    )
    assert await set_profile(csms, 0, daily) == "Accepted"
    periods = await composite(csms, 24 * 3600 + 4 * 3600)
    assert periods == [(0, 32), (3600, 10), (3 * 3600, 32), (25 * 3600, 10), (27 * 3600, 32)]


async def test_a_relative_tx_profile_counts_from_the_transaction_start_and_ends_with_it(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await wait_real(lambda: len(events(csms)) >= 1, charger.clock)
    transaction_id = events(csms)[0]["transaction_info"]["transaction_id"]
    await charger.clock.advance(600)
    relative = profile(
        9, "TxProfile", [(0, 6), (1800, 14)], kind="Relative", transactionId=transaction_id
    )
    assert await set_profile(csms, 1, relative) == "Accepted"
    # Ten minutes into the transaction: 6 A for 20 more minutes, then 14 A.
    assert await composite(csms, 3600) == [(0, 6), (1200, 14)]
    stranger = profile(10, "TxProfile", [(0, 6)], kind="Relative", transactionId="not-ours")
    assert await set_profile(csms, 1, stranger) == "Rejected"
    charger.port.unplug(charger.bus, charger.clock, energy_wh=100.0)
    await eventually(lambda: charger.client.transaction is None, charger.clock)
    assert charger.port.limits[-1] is None  # the TxProfile went with its transaction


async def test_the_composite_is_reported_in_watts_when_asked(
    charger: Charger, csms: CsmsServer
) -> None:
    # 4600 W on 230 V single phase is 20 A.
    watts = profile(6, "TxDefaultProfile", [(0, 4600)], unit="W")
    assert await set_profile(csms, 0, watts) == "Accepted"
    assert await composite(csms, 600, unit="W") == [(0, 4600)]
    assert await composite(csms, 600, unit="A") == [(0, 20)]
    limit = charger.port.limits[-1]
    assert limit is not None and limit.amps == 20


async def test_validity_bounds_when_a_profile_applies(charger: Charger, csms: CsmsServer) -> None:
    later = profile(
        7,
        "TxDefaultProfile",
        [(0, 10)],
        validFrom="2026-01-05T01:01:00Z",
        validTo="2026-01-05T02:01:00Z",
    )
    assert await set_profile(csms, 0, later) == "Accepted"
    assert await composite(csms, 3 * 3600) == [(0, 32), (3600, 10), (7200, 32)]
    assert charger.port.limits[-1] is None  # not valid yet
    await eventually(
        lambda: charger.port.limits[-1] is not None, charger.clock, step_s=300, timeout_s=10
    )
    limit = charger.port.limits[-1]
    assert limit is not None and limit.amps == 10


@pytest.mark.parametrize(
    ("evse_id", "wire"),
    [
        (2, profile(8, "TxDefaultProfile", [(0, 10)])),  # no EVSE 2
        (1, profile(8, "ChargingStationMaxProfile", [(0, 10)])),  # must be on EVSE 0
        (1, profile(8, "TxProfile", [(0, 10)])),  # no transactionId, no transaction
        (0, profile(8, "TxDefaultProfile", [(0, 10)], kind="Recurring")),  # no recurrencyKind
        (0, profile(8, "ChargingStationExternalConstraints", [(0, 10)])),
    ],
)
async def test_invalid_profiles_are_rejected(
    charger: Charger, csms: CsmsServer, evse_id: int, wire: dict[str, Any]
) -> None:
    assert await set_profile(csms, evse_id, wire) == "Rejected"
    assert len(charger.client._smart.profiles) == 0  # type: ignore[attr-defined]


async def test_get_charging_profiles_reports_the_matching_profiles(
    charger: Charger, csms: CsmsServer
) -> None:
    assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
    assert await set_profile(csms, 0, profile(2, "ChargingStationMaxProfile", [(0, 25)])) == (
        "Accepted"
    )
    assert await set_profile(csms, 1, profile(3, "TxDefaultProfile", [(0, 12)], stack_level=2)) == (
        "Accepted"
    )
    answer = await csms.call(
        call.GetChargingProfiles(
            request_id=11, charging_profile={"charging_profile_purpose": "TxDefaultProfile"}
        )
    )
    assert answer.status == "Accepted"
    await eventually(lambda: len(csms.of("ReportChargingProfiles")) == 2, charger.clock)
    reports = csms.of("ReportChargingProfiles")
    assert [(r["evse_id"], r.get("tbc")) for r in reports] == [(0, True), (1, False)]
    assert all(r["request_id"] == 11 and r["charging_limit_source"] == "CSO" for r in reports)
    assert [p["id"] for r in reports for p in r["charging_profile"]] == [1, 3]
    none = await csms.call(
        call.GetChargingProfiles(request_id=12, charging_profile={"charging_profile_id": [99]})
    )
    assert none.status == "NoProfiles"


async def test_clear_by_criteria(charger: Charger, csms: CsmsServer) -> None:
    assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
    assert await set_profile(csms, 0, profile(2, "ChargingStationMaxProfile", [(0, 25)])) == (
        "Accepted"
    )
    answer = await csms.call(
        call.ClearChargingProfile(
            charging_profile_criteria={"charging_profile_purpose": "TxDefaultProfile"}
        )
    )
    assert answer.status == "Accepted"
    assert [p.id for p in charger.client._smart.profiles] == [2]  # type: ignore[attr-defined]


async def test_lasting_profiles_survive_a_restart(
    tmp_path: Path, clock: VirtualClock, charger: Charger, csms: CsmsServer
) -> None:
    assert await set_profile(csms, 0, profile(2, "ChargingStationMaxProfile", [(0, 13)])) == (
        "Accepted"
    )
    await charger.stop()
    again = make_charger201(
        tmp_path, clock, transport_config201(csms.url, tmp_path), smart_charging=True
    )
    try:
        # Applied at construction, before the charger offers its first current.
        limit = again.port.limits[0]
        assert limit is not None and limit.amps == 13
    finally:
        await again.stop()


async def test_a_limit_set_outside_the_csms_is_notified_and_its_end_cleared(
    charger: Charger, csms: CsmsServer
) -> None:
    """K12/K13: an energy manager's limit reaches the CSMS with its source, and its end."""
    charger.port.set_external_limit("EMS", 8.0)
    await wait_real(lambda: bool(csms.of("NotifyChargingLimit")), charger.clock)
    [notified] = csms.of("NotifyChargingLimit")
    assert notified["charging_limit"] == {"charging_limit_source": "EMS"}
    assert notified["evse_id"] == 1
    [schedule] = notified["charging_schedule"]
    assert schedule["charging_rate_unit"] == "A"
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 8.0}]

    charger.port.set_external_limit("EMS", 8.0)  # the same value again: nothing new
    charger.port.set_external_limit("SO", 6.0)  # a grid operator's DSR event
    await wait_real(lambda: len(csms.of("NotifyChargingLimit")) == 2, charger.clock)
    assert csms.of("NotifyChargingLimit")[1]["charging_limit"] == {"charging_limit_source": "SO"}

    charger.port.set_external_limit("EMS", None)
    await wait_real(lambda: bool(csms.of("ClearedChargingLimit")), charger.clock)
    assert csms.of("ClearedChargingLimit") == [{"charging_limit_source": "EMS", "evse_id": 1}]
    assert len(csms.of("NotifyChargingLimit")) == 2


async def test_the_composite_schedule_is_capped_by_the_limits_set_outside_the_csms(
    charger: Charger, csms: CsmsServer
) -> None:
    """K08: ChargingStationExternalConstraints bind the composite where they are lower."""
    assert await set_profile(csms, 0, profile(3, "ChargingStationMaxProfile", [(0, 20)])) == (
        "Accepted"
    )
    assert await composite(csms, 600) == [(0, 20.0)]
    charger.port.set_external_limit("EMS", 10.0)
    assert await composite(csms, 600) == [(0, 10.0)]
    charger.port.set_external_limit("EMS", 25.0)  # higher than the profile: does not bind
    assert await composite(csms, 600) == [(0, 20.0)]
