"""The smart-charging caps a charger advertises are the ones it enforces, in both OCPP versions.

A real central system (the ``ocpp`` library, 127.0.0.1) reads the caps the way a
CSMS does (1.6 GetConfiguration: ChargeProfileMaxStackLevel,
ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled; 2.0.1 GetVariables:
SmartChargingCtrlr.ProfileStackLevel, PeriodsPerSchedule, and the maxLimit of
Entries[ChargingProfiles] in a base report), then installs profiles right at
each cap (accepted) and one past it (rejected, saying why).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    transport_config,
    write_key,
)
from tests.integration.test_ocpp201_support import (
    make_charger201,
    running_csms201,
    transport_config201,
    variable,
)
from ukscp.clock import VirtualClock


@dataclass(frozen=True)
class Caps:
    stack_level: int
    periods: int
    profiles: int


@dataclass
class Station:
    version: str
    csms: CsmsServer
    charger: Charger

    async def advertised(self) -> Caps:
        if self.version == "1.6":
            keys = [
                "ChargeProfileMaxStackLevel",
                "ChargingScheduleMaxPeriods",
                "MaxChargingProfilesInstalled",
            ]
            answer = await self.csms.call(call16.GetConfiguration(key=keys))
            values = {k["key"]: int(k["value"]) for k in answer.configuration_key}
            assert not answer.unknown_key
            return Caps(*(values[key] for key in keys))
        names = ["ProfileStackLevel", "PeriodsPerSchedule"]
        data = [variable("SmartChargingCtrlr", name) for name in names]
        answer = await self.csms.call(call201.GetVariables(get_variable_data=data))
        level, periods = (int(r["attribute_value"]) for r in answer.get_variable_result)
        full = call201.GetBaseReport(request_id=4, report_base="FullInventory")
        report = await self.csms.call(full)
        assert report.status == "Accepted"
        await eventually(lambda: bool(self.csms.of("NotifyReport")), self.charger.clock)
        [entries] = [
            item
            for notify in self.csms.of("NotifyReport")
            for item in notify["report_data"]
            if item["component"]["name"] == "SmartChargingCtrlr"
            and item["variable"] == {"name": "Entries", "instance": "ChargingProfiles"}
        ]
        return Caps(level, periods, int(entries["variable_characteristics"]["max_limit"]))

    async def installed(self) -> int | None:
        """2.0.1's Entries[ChargingProfiles] now (1.6 has no such key: None)."""
        if self.version == "1.6":
            return None
        data = [variable("SmartChargingCtrlr", "Entries", "ChargingProfiles")]
        answer = await self.csms.call(call201.GetVariables(get_variable_data=data))
        return int(answer.get_variable_result[0]["attribute_value"])

    async def set_profile(
        self, profile_id: int, *, stack_level: int, periods: int, station_max: bool = False
    ) -> str:
        """A TxDefault profile for connector/EVSE 1 (or the station's maximum): its status.

        In 2.0.1 a rejection comes with its reason: ``Rejected: <reasonCode>: <why>``.
        """
        station = "ChargePointMaxProfile" if self.version == "1.6" else "ChargingStationMaxProfile"
        purpose = station if station_max else "TxDefaultProfile"
        where = 0 if station_max else 1
        schedule: dict[str, Any] = {
            "chargingRateUnit": "A",
            "startSchedule": "2026-01-05T00:00:00Z",
            "chargingSchedulePeriod": [
                {"startPeriod": 60 * n, "limit": 6 + n % 10} for n in range(periods)
            ],
        }
        profile: dict[str, Any] = {
            "stackLevel": stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
        }
        if self.version == "1.6":
            profile |= {"chargingProfileId": profile_id, "chargingSchedule": schedule}
            answer = await self.csms.call(
                call16.SetChargingProfile(connector_id=where, cs_charging_profiles=profile)
            )
            return str(answer.status)
        profile |= {"id": profile_id, "chargingSchedule": [{"id": profile_id, **schedule}]}
        answer = await self.csms.call(
            call201.SetChargingProfile(evse_id=where, charging_profile=profile)
        )
        if answer.status == "Rejected":
            info = answer.status_info
            return f"Rejected: {info['reason_code']}: {info['additional_info']}"
        return str(answer.status)


@pytest.fixture(params=["1.6", "2.0.1"])
async def station(
    request: pytest.FixtureRequest, tmp_path: Path, clock: VirtualClock
) -> AsyncIterator[Station]:
    version: str = request.param
    write_key(tmp_path / "ocpp_key")
    running = running_csms() if version == "1.6" else running_csms201()
    async with running as csms:
        if version == "1.6":
            config = transport_config(csms.url, tmp_path)
            charger = make_charger(tmp_path, clock, config, smart_charging=True)
        else:
            config = transport_config201(csms.url, tmp_path)
            charger = make_charger201(tmp_path, clock, config, smart_charging=True)
        charger.start()
        await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
        try:
            yield Station(version, csms, charger)
        finally:
            await charger.stop()


async def test_the_stack_level_cap_is_the_one_advertised(station: Station) -> None:
    caps = await station.advertised()
    assert await station.set_profile(1, stack_level=caps.stack_level, periods=1) == "Accepted"
    refused = await station.set_profile(2, stack_level=caps.stack_level + 1, periods=1)
    assert refused.startswith("Rejected")
    if station.version == "2.0.1":
        assert f"stackLevel must be at most {caps.stack_level}" in refused


async def test_the_periods_cap_is_the_one_advertised(station: Station) -> None:
    caps = await station.advertised()
    assert await station.set_profile(1, stack_level=0, periods=caps.periods) == "Accepted"
    refused = await station.set_profile(2, stack_level=1, periods=caps.periods + 1)
    assert refused.startswith("Rejected")
    if station.version == "2.0.1":
        assert f"at most {caps.periods} per schedule" in refused


async def test_the_installed_profiles_cap_is_the_one_advertised(station: Station) -> None:
    caps = await station.advertised()
    assert caps.profiles <= caps.stack_level + 1  # so that distinct stack levels reach it
    for n in range(caps.profiles):
        assert await station.set_profile(n + 1, stack_level=n, periods=2) == "Accepted"
    assert await station.installed() in (None, caps.profiles)
    refused = await station.set_profile(99, stack_level=0, periods=2, station_max=True)
    assert refused.startswith("Rejected")
    if station.version == "2.0.1":
        assert f"at most {caps.profiles} charging profiles" in refused
    # Replacing a profile (the same id) is still possible at the cap.
    assert await station.set_profile(2, stack_level=1, periods=3) == "Accepted"


async def test_a_composite_schedule_of_10_to_the_12_seconds_is_answered_for_a_week(
    station: Station,
) -> None:
    # 10^12 s is past the year 9999: it used to be answered InternalError.
    assert await station.set_profile(1, stack_level=0, periods=2) == "Accepted"
    if station.version == "1.6":
        ask: Any = call16.GetCompositeSchedule(connector_id=1, duration=10**12)
    else:
        ask = call201.GetCompositeSchedule(duration=10**12, evse_id=1)
    answer = await station.csms.call(ask)
    schedule = answer.charging_schedule if station.version == "1.6" else answer.schedule
    assert answer.status == "Accepted"
    assert schedule["duration"] == 7 * 24 * 3600
