"""SetChargingProfile, ClearChargingProfile and GetCompositeSchedule through the 1.6 client.

The schedule maths is :mod:`ukscp.ocpp.smart_charging`'s (tested there); these
tests check the wiring: a profile from a real CSMS becomes the charger's
``ocpp`` limit, follows its schedule on the clock and its transaction, and
is answered as OCPP 1.6 asks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    start_real_charger,
    transport_config,
    write_key,
)
from ukscp.clock import VirtualClock
from ukscp.limits.limit import LimitSource


def profile(
    profile_id: int, purpose: str, limit: float, *, stack_level: int = 0, **extra: Any
) -> dict[str, Any]:
    schedule = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
    }
    schedule.update(extra.pop("schedule", {}))
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": extra.pop("kind", "Relative"),
        "chargingSchedule": schedule,
        **extra,
    }


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms() as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path), smart_charging=True)
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    yield built
    await built.stop()


async def test_a_charge_point_max_profile_becomes_the_ocpp_limit_until_cleared(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(
        call.SetChargingProfile(
            connector_id=0, cs_charging_profiles=profile(1, "ChargePointMaxProfile", 10.0)
        )
    )
    assert answer.status == "Accepted"
    limit = charger.port.limits[-1]
    assert limit is not None
    assert (limit.amps, limit.source) == (10.0, LimitSource.OCPP)
    known = await csms.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert known.configuration_key[0]["value"] == "Core,RemoteTrigger,SmartCharging"

    cleared = await csms.call(call.ClearChargingProfile(id=1))
    assert cleared.status == "Accepted"
    assert charger.port.limits[-1] is None
    again = await csms.call(call.ClearChargingProfile(id=1))
    assert again.status == "Unknown"


async def test_the_limit_follows_the_schedule_on_the_clock(
    charger: Charger, csms: CsmsServer
) -> None:
    steps = {
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0},
            {"startPeriod": 600, "limit": 8.0},
        ],
        "startSchedule": "2026-01-05T00:00:00Z",
    }
    answer = await csms.call(
        call.SetChargingProfile(
            connector_id=0,
            cs_charging_profiles=profile(2, "TxDefaultProfile", 0, kind="Absolute", schedule=steps),
        )
    )
    assert answer.status == "Accepted"
    assert charger.port.limits[-1] is not None and charger.port.limits[-1].amps == 16.0
    await eventually(
        lambda: charger.port.limits[-1] is not None and charger.port.limits[-1].amps == 8.0,
        charger.clock,
        step_s=30,
    )
    assert charger.clock.monotonic() >= 600 - 1


async def test_a_tx_profile_needs_a_transaction_and_ends_with_it(
    charger: Charger, csms: CsmsServer
) -> None:
    refused = await csms.call(
        call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile(3, "TxProfile", 6.0))
    )
    assert refused.status == "Rejected"
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: charger.client.transaction_id() == 101, charger.clock)
    wrong = await csms.call(
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=profile(3, "TxProfile", 6.0, transactionId=999)
        )
    )
    assert wrong.status == "Rejected"
    right = await csms.call(
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=profile(3, "TxProfile", 6.0, transactionId=101)
        )
    )
    assert right.status == "Accepted"
    assert charger.port.limits[-1] is not None and charger.port.limits[-1].amps == 6.0
    charger.port.unplug(charger.bus, charger.clock, energy_wh=10)
    assert charger.port.limits[-1] is None


async def test_a_remote_start_profile_binds_to_the_transaction_it_starts(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(
        call.RemoteStartTransaction(
            id_tag="APP-1", connector_id=1, charging_profile=profile(4, "TxProfile", 12.0)
        )
    )
    assert answer.status == "Accepted"
    charger.port.plug(charger.bus, charger.clock)
    assert charger.port.limits[-1] is not None and charger.port.limits[-1].amps == 12.0


async def test_the_composite_schedule_is_reported_in_amps_or_watts(
    charger: Charger, csms: CsmsServer
) -> None:
    await csms.call(
        call.SetChargingProfile(
            connector_id=0, cs_charging_profiles=profile(5, "ChargePointMaxProfile", 10.0)
        )
    )
    amps = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=3600))
    assert amps.status == "Accepted"
    assert amps.charging_schedule["charging_rate_unit"] == "A"
    assert amps.charging_schedule["charging_schedule_period"][0]["limit"] == 10.0
    watts = await csms.call(
        call.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="W")
    )
    assert watts.charging_schedule["charging_schedule_period"][0]["limit"] == 2300.0
    other = await csms.call(call.GetCompositeSchedule(connector_id=2, duration=60))
    assert other.status == "Rejected"


async def test_lasting_profiles_survive_a_restart_and_apply_before_the_first_offer(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, charger: Charger
) -> None:
    await csms.call(
        call.SetChargingProfile(
            connector_id=0, cs_charging_profiles=profile(6, "ChargePointMaxProfile", 9.0)
        )
    )
    await charger.stop()
    again = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path), smart_charging=True)
    try:
        # Built, not yet running: the cap is already there for the charger's first offer.
        assert again.port.limits[-1] is not None and again.port.limits[-1].amps == 9.0
    finally:
        await again.stop()


async def test_a_profile_lands_in_the_real_chargers_arbiter(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> None:
    real = start_real_charger(tmp_path / "data", clock, csms.url, smart_charging=True)
    try:
        await eventually(lambda: real.client.online, clock, what="registration")
        answer = await csms.call(
            call.SetChargingProfile(
                connector_id=0, cs_charging_profiles=profile(7, "ChargePointMaxProfile", 10.0)
            )
        )
        assert answer.status == "Accepted"
        slot = real.app.arbiter.active()["ocpp"]
        assert (slot.amps, slot.source) == (10.0, LimitSource.OCPP)
        assert real.app.arbiter.current.amps == 10.0
    finally:
        await real.stop()
