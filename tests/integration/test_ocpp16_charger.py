"""The CSMS's requests landing on the real charger (``build_app``, simulated EV)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.integration.test_ocpp16_support import (
    TEST_OPTIONS,
    CsmsServer,
    RealCharger,
    eventually,
    running_csms,
    start_real_charger,
)
from ukscp.clock import VirtualClock
from ukscp.limits import Limit, LimitSource


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms() as server:
        yield server


@pytest.fixture
async def charger(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> AsyncIterator[RealCharger]:
    built = start_real_charger(tmp_path / "data", clock, csms.url, draw=longest)
    await eventually(lambda: built.client.online, clock, what="registration")
    yield built
    await built.stop()


def longest(maximum: int) -> int:
    """Every randomised delay its whole maximum: a test knows that one runs, and how long."""
    return maximum


async def stopped_remotely(charger: RealCharger, csms: CsmsServer) -> None:
    """The EV charging in transaction 101, then stopped by the CSMS (at once)."""
    assert charger.app.sim is not None
    charger.app.sim.plug()
    await eventually(lambda: charger.client.transaction_id() == 101, charger.app.clock)
    await eventually(lambda: charger.app.controller.status().power_w > 0, charger.app.clock)
    stopped = await csms.call(call.RemoteStopTransaction(transaction_id=101))
    assert stopped.status == "Accepted"
    assert charger.app.controller.status().offered_a == 0  # no randomised delay for it
    await eventually(lambda: "StopTransaction" in csms.actions(), charger.app.clock)


async def test_uk_random_delay_max_duration_sets_the_gate_and_is_audited(
    charger: RealCharger, csms: CsmsServer
) -> None:
    answer = await csms.call(call.ChangeConfiguration(key="UkRandomDelayMaxDuration", value="900"))
    assert answer.status == "Accepted"
    assert charger.app.gate.settings.max_duration_s == 900
    assert charger.app.store.get("random_delay.max_duration_s") == 900  # survives a restart
    [record] = [
        r for r in charger.app.seclog.records() if r.type == "RandomDelayMaxDurationChanged"
    ]
    assert record.info == "random delay maximum 600 s -> 900 s by ocpp"
    refused = await csms.call(
        call.ChangeConfiguration(key="UkRandomDelayMaxDuration", value="1801")
    )
    assert refused.status == "Rejected"
    assert charger.app.gate.settings.max_duration_s == 900


async def test_uk_random_delay_enabled_switches_the_gate_and_is_audited(
    charger: RealCharger, csms: CsmsServer
) -> None:
    off = await csms.call(call.ChangeConfiguration(key="UkRandomDelayEnabled", value="false"))
    assert off.status == "Accepted"
    assert charger.app.gate.settings.enabled is False
    known = await csms.call(call.GetConfiguration(key=["UkRandomDelayEnabled"]))
    assert known.configuration_key[0]["value"] == "false"
    bad = await csms.call(call.ChangeConfiguration(key="UkRandomDelayEnabled", value="maybe"))
    assert bad.status == "Rejected"
    on = await csms.call(call.ChangeConfiguration(key="UkRandomDelayEnabled", value="TRUE"))
    assert on.status == "Accepted"
    assert charger.app.gate.settings.enabled is True
    audited = [r for r in charger.app.seclog.records() if r.type == "RandomDelayEnabledChanged"]
    in_order = [r.info for r in sorted(audited, key=lambda r: r.id)]
    assert in_order == ["random delay disabled by ocpp", "random delay enabled by ocpp"]


async def test_the_csms_cancels_a_running_delay_and_it_is_audited(
    charger: RealCharger, csms: CsmsServer
) -> None:
    cancel = call.DataTransfer(vendor_id="org.ukscp", message_id="CancelRandomDelay")
    assert (await csms.call(cancel)).status == "Rejected"  # nothing running
    assert charger.app.sim is not None
    charger.app.sim.plug()
    await eventually(lambda: charger.app.controller.status().power_w > 0, charger.app.clock)
    # A charging profile from a CSMS is delayed (policy by_source): 6 A waits.
    charger.app.gate.set_max_duration(1800, source="test")
    charger.app.arbiter.set("ocpp", Limit(6.0, LimitSource.OCPP, "a charging profile"))
    assert charger.app.gate.status().running
    assert charger.app.controller.status().offered_a > 6.0
    assert (await csms.call(cancel)).status == "Accepted"
    assert not charger.app.gate.status().running
    assert charger.app.controller.status().offered_a == 6.0
    [record] = [r for r in charger.app.seclog.records() if r.type == "RandomDelayCancelled"]
    assert record.info.endswith("cancelled by ocpp after 0 s")


async def test_a_remote_start_is_delayed_like_any_start_unless_the_csms_cancels_the_delay(
    charger: RealCharger, csms: CsmsServer
) -> None:
    await stopped_remotely(charger, csms)
    await eventually(
        lambda: csms.of("StatusNotification")[-1]["status"] == "Finishing", charger.app.clock
    )
    started = await csms.call(call.RemoteStartTransaction(id_tag="SUPPLIER-APP"))
    assert started.status == "Accepted"
    delay = charger.app.gate.status()
    assert (delay.running, delay.cause) == (True, "ocpp")
    assert charger.app.controller.status().offered_a == 0  # held: a fleet must not start at once
    await eventually(lambda: len(csms.of("StartTransaction")) == 2, charger.app.clock)
    assert csms.of("StartTransaction")[1]["id_tag"] == "SUPPLIER-APP"
    # Its user pressed "charge now" in the supplier's app: the CSMS cancels the delay.
    cancel = call.DataTransfer(vendor_id="org.ukscp", message_id="CancelRandomDelay")
    assert (await csms.call(cancel)).status == "Accepted"
    assert charger.app.controller.status().offered_a > 0
    await eventually(
        lambda: csms.of("StatusNotification")[-1]["status"] == "Charging", charger.app.clock
    )


@pytest.mark.parametrize(
    "csms_is", [{"csms_randomises_delay": True}, {"dsr_provider": True}], ids=["randomises", "dsr"]
)
async def test_a_remote_start_of_a_csms_that_randomises_or_is_a_dsr_provider_is_not_delayed(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, csms_is: dict[str, bool]
) -> None:
    options = dataclasses.replace(TEST_OPTIONS, **csms_is)
    charger = start_real_charger(
        tmp_path / "data", clock, csms.url, draw=longest, options=options
    )
    try:
        await eventually(lambda: charger.client.online, clock, what="registration")
        await stopped_remotely(charger, csms)
        started = await csms.call(call.RemoteStartTransaction(id_tag="SUPPLIER-APP"))
        assert started.status == "Accepted"
        assert not charger.app.gate.status().running
        assert charger.app.controller.status().offered_a > 0
    finally:
        await charger.stop()


async def test_reset_is_handed_to_the_composition_root(
    charger: RealCharger, csms: CsmsServer
) -> None:
    answer = await csms.call(call.Reset(type="Soft"))
    assert answer.status == "Accepted"
    await eventually(lambda: charger.resets == [False], charger.app.clock)
