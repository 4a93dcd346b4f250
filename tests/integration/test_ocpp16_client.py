"""The OCPP 1.6 client against a real central system, on a fake charger.

Intervals (heartbeat, meter values, backoff) run on the virtual clock; only the
websocket round trips take real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    settle_real,
    transport_config,
    write_key,
)
from ukscp.clock import VirtualClock
from ukscp.limits import LimitSource
from ukscp.ocpp.blocks.settings.configuration16 import METER_VALUE_SAMPLE_INTERVAL


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms(heartbeat_interval=10) as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path))
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    yield built
    await built.stop()


async def test_boots_then_reports_status_of_the_charger_and_its_connector(
    charger: Charger, csms: CsmsServer
) -> None:
    await eventually(lambda: len(csms.of("StatusNotification")) >= 2, charger.clock)
    boot = csms.of("BootNotification")[0]
    assert boot["charge_point_vendor"] == "ukscp"
    statuses = [(s["connector_id"], s["status"]) for s in csms.of("StatusNotification")]
    assert statuses[:2] == [(0, "Available"), (1, "Available")]


async def test_heartbeats_at_the_interval_the_csms_set(charger: Charger, csms: CsmsServer) -> None:
    before = len(csms.of("Heartbeat"))
    for _ in range(35):
        await charger.clock.advance(1)
    await eventually(lambda: len(csms.of("Heartbeat")) >= before + 3, charger.clock, step_s=0.01)
    assert charger.client.configuration.int_value("HeartbeatInterval") == 10
    assert len(csms.of("Heartbeat")) <= before + 4


async def test_boot_pending_is_retried_after_the_interval_the_csms_gave(
    tmp_path: Path, clock: VirtualClock
) -> None:
    write_key(tmp_path / "ocpp_key")
    async with running_csms(boot_answers=[("Pending", 30)]) as csms:
        charger = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path))
        charger.start()
        try:
            await eventually(lambda: len(csms.of("BootNotification")) == 1, clock, what="boot")
            await clock.advance(25)
            assert len(csms.of("BootNotification")) == 1
            assert "StatusNotification" not in csms.actions()  # nothing else while pending
            await eventually(lambda: "StatusNotification" in csms.actions(), clock)
            assert len(csms.of("BootNotification")) == 2
        finally:
            await charger.stop()


async def test_a_session_is_a_transaction_with_sampled_meter_values(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.client.configuration.set_value(METER_VALUE_SAMPLE_INTERVAL, "1")
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(csms.of("MeterValues")) >= 3, charger.clock, step_s=0.5)
    charger.port.energy_import_wh = 1500.0
    charger.port.unplug(charger.bus, charger.clock, energy_wh=500.0)
    await eventually(lambda: "StopTransaction" in csms.actions(), charger.clock)

    start = csms.of("StartTransaction")[0]
    assert start["id_tag"] == "ukscp-owner"
    assert start["meter_start"] == 1000
    assert csms.actions().index("Authorize") < csms.actions().index("StartTransaction")
    transaction_id = 101
    sampled = [m for m in csms.of("MeterValues") if m.get("transaction_id") == transaction_id]
    assert len(sampled) >= 3
    measurands = {v["measurand"] for v in sampled[0]["meter_value"][0]["sampled_value"]}
    assert measurands == {
        "Energy.Active.Import.Register",
        "Energy.Active.Export.Register",
        "Power.Active.Import",
        "Current.Import",
        "Current.Offered",
    }
    assert sampled[0]["meter_value"][0]["sampled_value"][0]["context"] == "Sample.Periodic"
    stop = csms.of("StopTransaction")[0]
    assert stop["transaction_id"] == transaction_id
    assert stop["meter_stop"] == 1500
    assert stop["reason"] == "EVDisconnected"
    statuses = [s["status"] for s in csms.of("StatusNotification") if s["connector_id"] == 1]
    assert "Charging" in statuses
    assert statuses[-1] == "Available"


async def test_clock_aligned_meter_values_fall_on_the_interval_boundaries(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.client.configuration.set_value("ClockAlignedDataInterval", "900")
    charger.client.configuration.set_value(
        "MeterValuesAlignedData", "Energy.Active.Import.Register"
    )
    await eventually(lambda: len(csms.of("MeterValues")) >= 2, charger.clock, step_s=30)
    stamps = [m["meter_value"][0]["timestamp"] for m in csms.of("MeterValues")]
    assert all(
        stamp.endswith((":00:00.000Z", ":15:00.000Z", ":30:00.000Z", ":45:00.000Z"))
        for stamp in stamps
    )
    value = csms.of("MeterValues")[0]["meter_value"][0]["sampled_value"]
    assert value == [
        {
            "value": "1000",
            "context": "Sample.Clock",
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unit": "Wh",
        }
    ]
    assert "transaction_id" not in csms.of("MeterValues")[0]  # no transaction open


async def test_remote_start_before_plug_in_starts_the_transaction_with_the_remote_tag(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(call.RemoteStartTransaction(id_tag="APP-1234", connector_id=1))
    assert answer.status == "Accepted"
    assert charger.port.remote_starts == ["APP-1234"]
    # A start like any other from the CSMS: the randomised delay judges it as source ocpp.
    [cause] = charger.port.remote_start_causes
    assert (cause.source, cause.randomised) == (LimitSource.OCPP, False)
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: "StartTransaction" in csms.actions(), charger.clock)
    assert csms.of("StartTransaction")[0]["id_tag"] == "APP-1234"
    assert "Authorize" not in csms.actions()  # AuthorizeRemoteTxRequests is false


async def test_remote_start_on_a_plugged_in_ev_after_a_remote_stop_opens_a_new_transaction(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: charger.client.transaction_id() == 101, charger.clock)

    wrong = await csms.call(call.RemoteStopTransaction(transaction_id=999))
    assert wrong.status == "Rejected"
    stopped = await csms.call(call.RemoteStopTransaction(transaction_id=101))
    assert stopped.status == "Accepted"
    assert charger.port.remote_stops == 1
    await eventually(lambda: "StopTransaction" in csms.actions(), charger.clock)
    assert csms.of("StopTransaction")[0]["reason"] == "Remote"
    await eventually(
        lambda: csms.of("StatusNotification")[-1]["status"] == "Finishing", charger.clock
    )

    started = await csms.call(call.RemoteStartTransaction(id_tag="APP-1"))
    assert started.status == "Accepted"
    await eventually(lambda: len(csms.of("StartTransaction")) == 2, charger.clock)
    assert csms.of("StartTransaction")[1]["id_tag"] == "APP-1"
    assert charger.client.transaction_id() == 102


async def test_remote_start_on_another_connector_is_rejected(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(call.RemoteStartTransaction(id_tag="APP-1", connector_id=2))
    assert answer.status == "Rejected"
    assert charger.port.remote_starts == []


async def test_reset_ends_the_transaction_delivers_it_then_restarts(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: charger.client.transaction_id() == 101, charger.clock)
    answer = await csms.call(call.Reset(type="Hard"))
    assert answer.status == "Accepted"
    await eventually(lambda: charger.port.resets == [True], charger.clock)
    stop = csms.of("StopTransaction")[0]
    assert (stop["transaction_id"], stop["reason"]) == (101, "HardReset")
    events = [e["type"] for e in csms.of("SecurityEventNotification")]
    assert "ResetOrReboot" in events
    assert charger.client.transaction is None


async def test_critical_security_events_are_notified_once_and_marked_delivered(
    charger: Charger, csms: CsmsServer
) -> None:
    record = charger.seclog.record("TamperDetectionActivated", "enclosure opened")
    charger.seclog.record("LoginFailed", "not critical: stays local")
    await eventually(
        lambda: any(
            e["type"] == "TamperDetectionActivated" for e in csms.of("SecurityEventNotification")
        ),
        charger.clock,
    )
    await eventually(lambda: not charger.seclog.undelivered_critical(), charger.clock)
    for _ in range(20):
        await charger.clock.advance(1)
    notified = csms.of("SecurityEventNotification")
    tamper = [e for e in notified if e["type"] == "TamperDetectionActivated"]
    assert len(tamper) == 1
    assert tamper[0]["tech_info"] == "enclosure opened"
    assert "LoginFailed" not in {e["type"] for e in notified}
    assert charger.seclog.records(limit=1, before_id=record.id + 1)[0].delivered


async def test_a_critical_event_goes_to_the_csms_at_once_not_at_the_next_poll(
    charger: Charger, csms: CsmsServer
) -> None:
    await eventually(lambda: charger.client.online, charger.clock, what="registration")
    await eventually(lambda: not charger.seclog.undelivered_critical(), charger.clock)
    charger.seclog.record("TamperDetectionActivated", "enclosure opened")
    # No virtual time passes: only the record itself can have woken the client.
    def types() -> list[str]:
        return [e["type"] for e in csms.of("SecurityEventNotification")]

    for _ in range(100):
        await settle_real(charger.clock, 0.05)
        if "TamperDetectionActivated" in types():
            break
    assert "TamperDetectionActivated" in types()
