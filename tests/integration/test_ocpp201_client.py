"""The OCPP 2.0.1 client against a real 2.0.1 central system, on a fake charger.

Intervals (heartbeat, meter values, backoff) run on the virtual clock; only the
websocket round trips take real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v201 import call

from tests.integration.test_ocpp16_support import Charger, CsmsServer, eventually, write_key
from tests.integration.test_ocpp201_support import (
    events,
    make_charger201,
    measurands,
    running_csms201,
    transport_config201,
)
from ukscp.clock import VirtualClock
from ukscp.limits import LimitSource
from ukscp.ocpp.blocks.settings.device_model201 import (
    ALIGNED_INTERVAL,
    HEARTBEAT_INTERVAL,
    TX_UPDATED_INTERVAL,
)

ALL_MEASURANDS = {
    "Energy.Active.Import.Register",
    "Energy.Active.Export.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
}


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms201(heartbeat_interval=10) as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    yield built
    await built.stop()


async def test_boots_with_its_station_data_then_reports_the_connector_available(
    charger: Charger, csms: CsmsServer
) -> None:
    boot = csms.of("BootNotification")[0]
    assert boot["charging_station"]["vendor_name"] == "ukscp"
    assert boot["reason"] == "PowerUp"
    status = csms.of("StatusNotification")[0]
    assert (status["evse_id"], status["connector_id"], status["connector_status"]) == (
        1,
        1,
        "Available",
    )


async def test_heartbeats_at_the_interval_the_csms_set(charger: Charger, csms: CsmsServer) -> None:
    before = len(csms.of("Heartbeat"))
    for _ in range(35):
        await charger.clock.advance(1)
    await eventually(lambda: len(csms.of("Heartbeat")) >= before + 3, charger.clock, step_s=0.01)
    assert charger.client.device_model.int_value(HEARTBEAT_INTERVAL) == 10
    assert len(csms.of("Heartbeat")) <= before + 4


@pytest.mark.parametrize("answer", ["Pending", "Rejected"])
async def test_boot_pending_or_rejected_is_retried_after_the_interval_given(
    tmp_path: Path, clock: VirtualClock, answer: str
) -> None:
    write_key(tmp_path / "ocpp_key")
    async with running_csms201(boot_answers=[(answer, 30)]) as csms:
        charger = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
        charger.start()
        try:
            await eventually(lambda: len(csms.of("BootNotification")) == 1, clock, what="boot")
            await clock.advance(25)
            assert len(csms.of("BootNotification")) == 1
            assert csms.actions() == ["BootNotification"]  # nothing else until accepted
            await eventually(lambda: "StatusNotification" in csms.actions(), clock)
            assert len(csms.of("BootNotification")) == 2
        finally:
            await charger.stop()


async def test_a_session_is_a_transaction_of_numbered_events_with_meter_values(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.client.device_model.set_value(TX_UPDATED_INTERVAL, "1")  # 1 s is allowed
    charger.port.plug(charger.bus, charger.clock)
    await eventually(
        lambda: sum(e["trigger_reason"] == "MeterValuePeriodic" for e in events(csms)) >= 3,
        charger.clock,
        step_s=0.5,
    )
    charger.port.energy_import_wh = 1500.0
    charger.port.unplug(charger.bus, charger.clock, energy_wh=500.0)
    await eventually(lambda: any(e["event_type"] == "Ended" for e in events(csms)), charger.clock)

    sequence = events(csms)
    assert [e["seq_no"] for e in sequence] == list(range(len(sequence)))
    started, ended = sequence[0], sequence[-1]
    transaction_id = started["transaction_info"]["transaction_id"]
    assert all(e["transaction_info"]["transaction_id"] == transaction_id for e in sequence)
    assert started["event_type"] == "Started"
    assert started["trigger_reason"] == "CablePluggedIn"
    assert started["id_token"] == {"id_token": "ukscp-owner", "type": "Local"}
    assert started["evse"] == {"id": 1, "connector_id": 1}
    assert started["meter_value"][0]["sampled_value"][0]["context"] == "Transaction.Begin"
    assert csms.actions().index("Authorize") < csms.actions().index("TransactionEvent")
    periodic = [e for e in sequence if e["trigger_reason"] == "MeterValuePeriodic"]
    assert measurands(periodic[0]) == ALL_MEASURANDS
    values = {v["measurand"]: v for v in periodic[0]["meter_value"][0]["sampled_value"]}
    assert values["Energy.Active.Import.Register"]["unit_of_measure"] == {"unit": "Wh"}
    assert values["Current.Offered"]["value"] == 16
    assert ended["event_type"] == "Ended"
    assert ended["trigger_reason"] == "EVCommunicationLost"
    assert ended["transaction_info"]["stopped_reason"] == "EVDisconnected"
    end_register = ended["meter_value"][0]["sampled_value"][0]
    assert (end_register["context"], end_register["value"]) == ("Transaction.End", 1500)
    statuses = [s["connector_status"] for s in csms.of("StatusNotification")]
    assert "Occupied" in statuses
    assert statuses[-1] == "Available"


async def test_a_change_of_charging_state_or_offered_current_is_an_updated_event(
    charger: Charger, csms: CsmsServer
) -> None:
    from ukscp.events import EvseStateChanged, OfferedCurrentChanged

    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    assert events(csms)[0]["transaction_info"]["charging_state"] == "Charging"
    charger.port.offered_a = 0.0  # the charger holds the EV: a random delay, a limit of 0
    charger.bus.publish(OfferedCurrentChanged(at=charger.clock.now(), amps=0.0, phases=1))
    await eventually(lambda: len(events(csms)) == 2, charger.clock)
    charger.port.offered_a = 10.0
    charger.bus.publish(OfferedCurrentChanged(at=charger.clock.now(), amps=10.0, phases=1))
    await eventually(lambda: len(events(csms)) == 3, charger.clock)
    charger.port.offered_a = 12.0
    charger.bus.publish(EvseStateChanged(at=charger.clock.now(), old="C", new="C"))
    charger.bus.publish(OfferedCurrentChanged(at=charger.clock.now(), amps=12.0, phases=1))
    await eventually(lambda: len(events(csms)) == 4, charger.clock)

    suspended, resumed, rate = events(csms)[1:4]
    assert suspended["trigger_reason"] == "ChargingStateChanged"
    assert suspended["transaction_info"]["charging_state"] == "SuspendedEVSE"
    assert resumed["transaction_info"]["charging_state"] == "Charging"
    assert rate["trigger_reason"] == "ChargingRateChanged"
    offered = [
        v for v in rate["meter_value"][0]["sampled_value"] if v["measurand"] == "Current.Offered"
    ]
    assert offered[0]["value"] == 12


async def test_clock_aligned_values_outside_a_transaction_are_meter_values_on_the_boundaries(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.client.device_model.set_value(ALIGNED_INTERVAL, "900")
    await eventually(lambda: len(csms.of("MeterValues")) >= 2, charger.clock, step_s=30)
    first, second = csms.of("MeterValues")[:2]
    assert first["evse_id"] == 1
    stamps = [m["meter_value"][0]["timestamp"] for m in (first, second)]
    assert [s[14:] for s in stamps] in (
        ["00:00.000Z", "15:00.000Z"],
        ["15:00.000Z", "30:00.000Z"],
        ["30:00.000Z", "45:00.000Z"],
        ["45:00.000Z", "00:00.000Z"],
    )
    assert first["meter_value"][0]["sampled_value"][0]["context"] == "Sample.Clock"
    assert measurands(first) == ALL_MEASURANDS


async def test_request_start_on_a_plugged_in_ev_starts_a_transaction_it_names(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    transaction_id = events(csms)[0]["transaction_info"]["transaction_id"]
    answer = await csms.call(
        call.RequestStartTransaction(
            id_token={"id_token": "APP-42", "type": "Central"}, remote_start_id=7
        )
    )
    assert (answer.status, answer.transaction_id) == ("Accepted", transaction_id)
    assert charger.port.remote_starts == ["APP-42"]
    assert charger.port.remote_start_causes[0].source is LimitSource.OCPP
    await eventually(lambda: len(events(csms)) == 2, charger.clock)
    remote = events(csms)[1]
    assert remote["trigger_reason"] == "RemoteStart"
    assert remote["transaction_info"]["remote_start_id"] == 7
    # F02: from now on the transaction is the CSMS's token's, with the type it gave.
    assert remote["id_token"] == {"id_token": "APP-42", "type": "Central"}


async def test_request_start_before_plug_in_starts_the_transaction_at_plug_in(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(
        call.RequestStartTransaction(
            id_token={"id_token": "APP-42", "type": "Central"}, remote_start_id=8
        )
    )
    assert (answer.status, answer.transaction_id) == ("Accepted", None)
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    started = events(csms)[0]
    assert started["trigger_reason"] == "RemoteStart"
    assert started["transaction_info"]["remote_start_id"] == 8
    assert started["id_token"] == {"id_token": "APP-42", "type": "Central"}
    assert "Authorize" not in csms.actions()  # the CSMS itself authorised it


async def test_request_stop_ends_the_named_transaction_only(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    transaction_id = events(csms)[0]["transaction_info"]["transaction_id"]
    wrong = await csms.call(call.RequestStopTransaction(transaction_id="not-this-one"))
    assert wrong.status == "Rejected"
    answer = await csms.call(call.RequestStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Accepted"
    assert charger.port.remote_stops == 1
    await eventually(lambda: events(csms)[-1]["event_type"] == "Ended", charger.clock)
    ended = events(csms)[-1]
    assert ended["trigger_reason"] == "RemoteStop"
    assert ended["transaction_info"]["stopped_reason"] == "Remote"
    assert charger.client.transaction is None


async def test_an_immediate_reset_ends_the_transaction_then_restarts_the_charger(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    answer = await csms.call(call.Reset(type="Immediate"))
    assert answer.status == "Accepted"
    await eventually(lambda: charger.port.resets == [True], charger.clock)
    ended = events(csms)[-1]
    assert (ended["event_type"], ended["trigger_reason"]) == ("Ended", "ResetCommand")
    assert ended["transaction_info"]["stopped_reason"] == "ImmediateReset"
    reset_events = [e for e in csms.of("SecurityEventNotification") if e["type"] == "ResetOrReboot"]
    assert reset_events  # delivered before the restart


async def test_a_reset_of_evse_1_alone_is_rejected_and_nothing_restarts(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    answer = await csms.call(call.Reset(type="Immediate", evse_id=1))
    assert answer.status == "Rejected"
    for _ in range(20):
        await charger.clock.advance(1)
    assert charger.port.resets == []
    assert charger.client.transaction is not None  # not ended for a reset that is not done


async def test_the_start_after_a_reset_tells_the_csms_why(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer
) -> None:
    write_key(tmp_path / "ocpp_key")
    config = transport_config201(csms.url, tmp_path)
    first = make_charger201(tmp_path, clock, config)
    first.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    assert (await csms.call(call.Reset(type="Immediate"))).status == "Accepted"
    await eventually(lambda: first.port.resets == [True], clock)
    await first.stop()
    reasons = []
    for _ in range(2):  # the start the reset asked for, then an ordinary one
        again = make_charger201(tmp_path, clock, config)
        again.start()
        count = len(csms.of("BootNotification"))
        await eventually(lambda n=count: len(csms.of("BootNotification")) > n, clock)
        await again.stop()
        reasons.append(csms.of("BootNotification")[-1]["reason"])
    assert reasons == ["RemoteReset", "PowerUp"]


async def test_an_on_idle_reset_waits_for_the_transaction_to_end(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) == 1, charger.clock)
    answer = await csms.call(call.Reset(type="OnIdle"))
    assert answer.status == "Scheduled"
    for _ in range(20):
        await charger.clock.advance(1)
    assert charger.port.resets == []
    charger.port.unplug(charger.bus, charger.clock, energy_wh=10.0)
    await eventually(lambda: charger.port.resets == [False], charger.clock)
    assert events(csms)[-1]["transaction_info"]["stopped_reason"] == "EVDisconnected"
