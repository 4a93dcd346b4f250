"""TriggerMessage (OCPP 1.6 core and ExtendedTriggerMessage, OCPP 2.0.1 F06) against real CSMSs.

Each test runs on both versions where the behaviour is the same: the CSMS (an
``ocpp`` library central system on 127.0.0.1) asks for a message, gets the
answer, and the message then arrives, with the charger's state now. The clock
is virtual; only websocket round trips take real time.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.firmware_support import (
    FirmwareServer,
    make_root,
    make_signer,
    sign,
    wheel_bytes,
    wheel_filename,
)
from tests.firmware_support import write_root as write_roots
from tests.integration.test_ocpp16_support import (
    IDENTITY,
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    transport_config,
    write_key,
)
from tests.integration.test_ocpp201_support import (
    events,
    make_charger201,
    running_csms201,
    transport_config201,
)
from ukscp.clock import VirtualClock
from ukscp.config import OcppSettings, Settings, UpdateSettings
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.transport import TransportConfig


@dataclass(frozen=True)
class Version:
    name: str
    running_csms: Callable[..., AbstractAsyncContextManager[CsmsServer]]
    make_charger: Callable[..., Charger]
    config: Callable[[str, Path], TransportConfig]

    @property
    def v16(self) -> bool:
        return self.name == "1.6"

    def trigger(self, message: str, target: int | None = None) -> Any:
        """TriggerMessage for ``message`` (1.6 connectorId / 2.0.1 evse id ``target``)."""
        if self.v16:
            return call16.TriggerMessage(requested_message=message, connector_id=target)
        evse = None if target is None else {"id": target}
        return call201.TriggerMessage(requested_message=message, evse=evse)

    def security_trigger(self, message: str) -> Any:
        """The security messages' trigger: 1.6 ExtendedTriggerMessage, 2.0.1 TriggerMessage."""
        if self.v16:
            return call16.ExtendedTriggerMessage(requested_message=message)
        return call201.TriggerMessage(requested_message=message)

    def statuses(self, csms: CsmsServer) -> list[tuple[int, str]]:
        """Every StatusNotification: (connector, status)."""
        key = "status" if self.v16 else "connector_status"
        return [(p["connector_id"], p[key]) for p in csms.of("StatusNotification")]


V16 = Version("1.6", running_csms, make_charger, transport_config)
V201 = Version("2.0.1", running_csms201, make_charger201, transport_config201)
VERSIONS = [pytest.param(V16, id="1.6"), pytest.param(V201, id="2.0.1")]


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> Version:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def csms(version: Version) -> AsyncIterator[CsmsServer]:
    async with version.running_csms(heartbeat_interval=3600) as server:
        yield server


@pytest.fixture
async def charger(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, version: Version
) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = version.make_charger(tmp_path, clock, version.config(csms.url, tmp_path))
    built.start()
    await eventually(lambda: built.client.online, clock, what="registration")
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="status")
    yield built
    await built.stop()


async def settle(charger: Charger, seconds: float = 2.0) -> None:
    """Let a little virtual time (and real I/O) pass."""
    for _ in range(int(seconds / 0.25)):
        await charger.clock.advance(0.25)
        await asyncio.sleep(0.005)


# ----------------------------------------------------------------------------- both versions


async def test_a_triggered_heartbeat_arrives_after_the_answer(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    before = len(csms.of("Heartbeat"))
    answer = await csms.call(version.trigger("Heartbeat"))
    assert answer.status == "Accepted"
    await eventually(lambda: len(csms.of("Heartbeat")) == before + 1, charger.clock)
    await settle(charger)
    assert len(csms.of("Heartbeat")) == before + 1  # once


async def test_the_status_is_sent_again_even_when_unchanged(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    await settle(charger)
    before = version.statuses(csms)
    answer = await csms.call(version.trigger("StatusNotification", 1))
    assert answer.status == "Accepted"
    await eventually(lambda: len(version.statuses(csms)) == len(before) + 1, charger.clock)
    assert version.statuses(csms)[-1] == (1, "Available")

    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: version.statuses(csms)[-1][1] != "Available", charger.clock)
    now = version.statuses(csms)[-1]
    await settle(charger)
    count = len(version.statuses(csms))
    assert (await csms.call(version.trigger("StatusNotification"))).status == "Accepted"
    # Without a connector: 1.6 sends the charge point's (0) and the connector's.
    expected = [(0, "Available"), now] if version.v16 else [now]
    await eventually(
        lambda: version.statuses(csms)[count:] == expected, charger.clock, what="the status"
    )


async def test_triggered_meter_values_are_a_sample_now_in_context_trigger(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    charger.port.energy_import_wh = 4321.0
    asked_at = ocpp_time(charger.clock.now())
    assert (await csms.call(version.trigger("MeterValues"))).status == "Accepted"
    await eventually(lambda: len(csms.of("MeterValues")) == 1, charger.clock)
    [meter_value] = csms.of("MeterValues")[0]["meter_value"]
    sampled = {v["measurand"]: v for v in meter_value["sampled_value"]}
    assert {v["context"] for v in sampled.values()} == {"Trigger"}
    energy = sampled["Energy.Active.Import.Register"]["value"]
    assert float(energy) == 4321.0
    assert asked_at <= meter_value["timestamp"] <= ocpp_time(charger.clock.now())  # now


async def test_a_boot_notification_triggered_while_pending_is_sent_at_once(
    tmp_path: Path, clock: VirtualClock, version: Version
) -> None:
    write_key(tmp_path / "ocpp_key")
    async with version.running_csms(boot_answers=[("Pending", 600)]) as csms:
        charger = version.make_charger(tmp_path, clock, version.config(csms.url, tmp_path))
        charger.start()
        try:
            await eventually(lambda: len(csms.of("BootNotification")) == 1, clock)
            await clock.advance(5)
            assert (await csms.call(version.trigger("BootNotification"))).status == "Accepted"
            # Long before the 600 s the CSMS asked the charger to wait.
            await eventually(
                lambda: len(csms.of("BootNotification")) == 2, clock, timeout_s=5, step_s=0.05
            )
            assert clock.monotonic() < 60
            await eventually(lambda: charger.client.online, clock)
        finally:
            await charger.stop()


async def test_firmware_status_is_idle_when_no_update_ran(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    assert (await csms.call(version.trigger("FirmwareStatusNotification"))).status == "Accepted"
    await eventually(lambda: len(csms.of("FirmwareStatusNotification")) == 1, charger.clock)
    # No requestId with Idle (1.6 core has none; 2.0.1 L01: only while an update runs).
    assert csms.of("FirmwareStatusNotification") == [{"status": "Idle"}]


async def test_log_status_is_idle_when_no_upload_runs(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    answer = await csms.call(version.security_trigger("LogStatusNotification"))
    assert answer.status == "Accepted"
    await eventually(lambda: len(csms.of("LogStatusNotification")) == 1, charger.clock)
    assert csms.of("LogStatusNotification") == [{"status": "Idle"}]


class HeldUploads:
    """An HTTP server on 127.0.0.1 that holds every upload until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.arrived.set()
                outer.release.wait(10)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/logs/"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held_uploads() -> Iterator[HeldUploads]:
    server = HeldUploads()
    yield server
    server.stop()


async def test_log_status_is_uploading_with_the_request_id_during_an_upload(
    charger: Charger, csms: CsmsServer, version: Version, held_uploads: HeldUploads
) -> None:
    log = {"remote_location": held_uploads.url}
    get_log = (
        call16.GetLog(log=log, log_type="SecurityLog", request_id=7)
        if version.v16
        else call201.GetLog(log=log, log_type="SecurityLog", request_id=7)
    )
    assert (await csms.call(get_log)).status == "Accepted"
    await eventually(held_uploads.arrived.is_set, charger.clock, what="the upload")
    answer = await csms.call(version.security_trigger("LogStatusNotification"))
    assert answer.status == "Accepted"
    await eventually(lambda: len(csms.of("LogStatusNotification")) == 2, charger.clock)
    assert csms.of("LogStatusNotification")[-1] == {"status": "Uploading", "request_id": 7}
    held_uploads.release.set()
    await eventually(
        lambda: csms.of("LogStatusNotification")[-1]["status"] == "Uploaded", charger.clock
    )


async def test_a_connector_or_evse_the_charger_does_not_have_is_rejected(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    assert (await csms.call(version.trigger("StatusNotification", 2))).status == "Rejected"
    assert (await csms.call(version.trigger("MeterValues", 5))).status == "Rejected"
    await settle(charger)
    assert "MeterValues" not in csms.actions()


async def test_certificate_signing_triggers_are_not_implemented(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    # This charger makes no key pair and CSR of its own (no SignCertificate).
    messages = (
        ["SignChargePointCertificate"]
        if version.v16
        else ["SignChargingStationCertificate", "SignV2GCertificate", "SignCombinedCertificate"]
    )
    for message in messages:
        answer = await csms.call(version.security_trigger(message))
        assert answer.status == "NotImplemented", message
    await settle(charger)
    assert "SignCertificate" not in csms.actions()


BAD_PAYLOADS_16 = [
    ("TriggerMessage", {"requestedMessage": "Coffee"}, "PropertyConstraintViolation"),
    ("TriggerMessage", {}, "ProtocolError"),
    (
        "TriggerMessage",
        {"requestedMessage": "Heartbeat", "connectorId": "one"},
        "TypeConstraintViolation",
    ),
    (
        "TriggerMessage",
        {"requestedMessage": "LogStatusNotification"},
        "PropertyConstraintViolation",
    ),
    ("ExtendedTriggerMessage", {"requestedMessage": "Coffee"}, "PropertyConstraintViolation"),
    ("TriggerMessage", {"requestedMessage": "Heartbeat", "extra": 1}, "FormationViolation"),
]
BAD_PAYLOADS_201 = [
    ("TriggerMessage", {"requestedMessage": "Coffee"}, "PropertyConstraintViolation"),
    ("TriggerMessage", {}, "OccurrenceConstraintViolation"),
    (
        "TriggerMessage",
        {"requestedMessage": "Heartbeat", "evse": {}},
        "OccurrenceConstraintViolation",
    ),
    (
        "TriggerMessage",
        {"requestedMessage": "Heartbeat", "evse": {"id": "1"}},
        "TypeConstraintViolation",
    ),
    ("TriggerMessage", {"requestedMessage": "Heartbeat", "extra": 1}, "FormatViolation"),
]


@pytest.mark.parametrize(("action", "payload", "code"), BAD_PAYLOADS_16)
@pytest.mark.parametrize("version", [pytest.param(V16, id="1.6")])
async def test_bad_trigger_payloads_get_1_6_callerrors(
    charger: Charger, csms: CsmsServer, action: str, payload: dict[str, Any], code: str
) -> None:
    await expect_call_error(charger, csms, action, payload, code, V16)


@pytest.mark.parametrize(("action", "payload", "code"), BAD_PAYLOADS_201)
@pytest.mark.parametrize("version", [pytest.param(V201, id="2.0.1")])
async def test_bad_trigger_payloads_get_2_0_1_callerrors(
    charger: Charger, csms: CsmsServer, action: str, payload: dict[str, Any], code: str
) -> None:
    await expect_call_error(charger, csms, action, payload, code, V201)


async def expect_call_error(
    charger: Charger,
    csms: CsmsServer,
    action: str,
    payload: dict[str, Any],
    code: str,
    version: Version,
) -> None:
    assert csms.cp is not None
    unique_id = f"bad-{action}-{len(json.dumps(payload))}"
    answer = await csms.cp.raw_call(json.dumps([2, unique_id, action, payload]), unique_id)
    assert answer[0] == 4, answer  # CALLERROR
    assert answer[2] == code, answer
    # Nothing was triggered, and the charger still answers.
    assert (await csms.call(version.trigger("Heartbeat"))).status == "Accepted"
    assert charger.client.online


# ----------------------------------------------------------------------------- OCPP 1.6


@pytest.mark.parametrize("version", [pytest.param(V16, id="1.6")])
async def test_1_6_sends_a_boot_notification_when_asked_even_once_accepted(
    charger: Charger, csms: CsmsServer
) -> None:
    assert (await csms.call(V16.trigger("BootNotification"))).status == "Accepted"
    await eventually(lambda: len(csms.of("BootNotification")) == 2, charger.clock)
    assert charger.client.online


@pytest.mark.parametrize("version", [pytest.param(V16, id="1.6")])
async def test_1_6_meter_values_carry_the_open_transactions_id(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: charger.client.transaction_id() == 101, charger.clock)
    assert (await csms.call(V16.trigger("MeterValues", 1))).status == "Accepted"
    await eventually(lambda: len(csms.of("MeterValues")) == 1, charger.clock)
    [sent] = csms.of("MeterValues")
    assert (sent["connector_id"], sent["transaction_id"]) == (1, 101)


@pytest.mark.parametrize("version", [pytest.param(V16, id="1.6")])
async def test_1_6_diagnostics_status_is_idle(charger: Charger, csms: CsmsServer) -> None:
    assert (await csms.call(V16.trigger("DiagnosticsStatusNotification"))).status == "Accepted"
    await eventually(lambda: len(csms.of("DiagnosticsStatusNotification")) == 1, charger.clock)
    assert csms.of("DiagnosticsStatusNotification") == [{"status": "Idle"}]


# ----------------------------------------------------------------------------- OCPP 2.0.1


@pytest.mark.parametrize("version", [pytest.param(V201, id="2.0.1")])
async def test_2_0_1_refuses_a_boot_notification_once_accepted(
    charger: Charger, csms: CsmsServer
) -> None:
    assert (await csms.call(V201.trigger("BootNotification"))).status == "Rejected"  # F06.FR.17
    await settle(charger)
    assert len(csms.of("BootNotification")) == 1


@pytest.mark.parametrize("version", [pytest.param(V201, id="2.0.1")])
async def test_2_0_1_transaction_event_is_rejected_without_a_transaction(
    charger: Charger, csms: CsmsServer
) -> None:
    assert (await csms.call(V201.trigger("TransactionEvent"))).status == "Rejected"
    await settle(charger)
    assert events(csms) == []


@pytest.mark.parametrize("version", [pytest.param(V201, id="2.0.1")])
async def test_2_0_1_transaction_event_is_an_updated_with_trigger_reason_trigger(
    charger: Charger, csms: CsmsServer
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: len(events(csms)) >= 1, charger.clock)
    await settle(charger)
    count = len(events(csms))
    assert (await csms.call(V201.trigger("TransactionEvent", 1))).status == "Accepted"
    await eventually(lambda: len(events(csms)) == count + 1, charger.clock)
    event = events(csms)[-1]
    assert (event["event_type"], event["trigger_reason"]) == ("Updated", "Trigger")
    assert event["seq_no"] == events(csms)[-2]["seq_no"] + 1  # in order behind the others
    assert event["transaction_info"]["charging_state"] == "Charging"
    assert {v["context"] for v in event["meter_value"][0]["sampled_value"]} == {"Trigger"}
    started = events(csms)[0]
    assert (
        event["transaction_info"]["transaction_id"]
        == (started["transaction_info"]["transaction_id"])
    )


# ----------------------------------------------------------------------------- firmware in progress

ROOT = make_root()
SIGNER = make_signer(ROOT, "ec")


@pytest.fixture
def files(clock: VirtualClock) -> Iterator[FirmwareServer]:
    server = FirmwareServer(clock)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("version", VERSIONS)
async def test_firmware_status_is_the_last_one_sent_with_its_request_id(
    tmp_path: Path, clock: VirtualClock, files: FirmwareServer, version: Version
) -> None:
    """The whole charger (``build_app``): a signed update that failed its signature check."""
    from ukscp.app import build_app

    data_dir = tmp_path / "data"
    write_key(data_dir / "ocpp_key")
    async with version.running_csms() as csms:
        ocpp = OcppSettings(
            enabled=True,
            version=version.name,
            url=csms.url,
            identity=IDENTITY,
            security_profile=1,
            authorization_key_file=data_dir / "ocpp_key",
            allow_insecure_transport=True,
            allow_private_targets=True,  # the firmware's file server is on 127.0.0.1
        )
        updates = UpdateSettings(firmware_root_ca_file=write_roots(tmp_path / "root.pem", ROOT))
        app = build_app(Settings(data_dir=data_dir, ocpp=ocpp, updates=updates), clock)
        app.start()
        task = asyncio.create_task(app.ocpp.run())
        try:
            await eventually(lambda: app.ocpp.status().online, clock, what="registration")
            wheel = wheel_bytes("0.2.0")
            firmware = {
                "location": files.publish(wheel_filename("0.2.0"), wheel),
                "retrieve_date_time": ocpp_time(clock.now()),
                "signing_certificate": SIGNER.pem,
                "signature": sign(SIGNER, wheel + b"changed"),
            }
            status_action = (
                "SignedFirmwareStatusNotification" if version.v16 else "FirmwareStatusNotification"
            )
            update = (
                call16.SignedUpdateFirmware(request_id=11, firmware=firmware)
                if version.v16
                else call201.UpdateFirmware(request_id=11, firmware=firmware)
            )
            assert (await csms.call(update)).status == "Accepted"
            await eventually(
                lambda: [p["status"] for p in csms.of(status_action)][-1:] == ["InvalidSignature"],
                clock,
                what="the failed install",
            )
            sent = len(csms.of(status_action))
            answer = await csms.call(version.security_trigger("FirmwareStatusNotification"))
            assert answer.status == "Accepted"
            await eventually(lambda: len(csms.of(status_action)) == sent + 1, clock)
            assert csms.of(status_action)[-1] == {"status": "InvalidSignature", "request_id": 11}
            if version.v16:
                # Core TriggerMessage: the plain FirmwareStatusNotification, in its own words.
                assert (await csms.call(V16.trigger("FirmwareStatusNotification"))).status == (
                    "Accepted"
                )
                await eventually(lambda: len(csms.of("FirmwareStatusNotification")) == 1, clock)
                assert csms.of("FirmwareStatusNotification") == [{"status": "InstallationFailed"}]
        finally:
            app.shutdown("test finished")
            await task
            app.close()
