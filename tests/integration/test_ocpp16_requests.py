"""Requests the CSMS gets wrong, and GetLog's upload of the security log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    UploadServer,
    eventually,
    make_charger,
    running_csms,
    settle_real,
    transport_config,
    write_key,
)
from ukscp.clock import VirtualClock


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms() as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path))
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    yield built
    await built.stop()


@pytest.fixture
def upload_server() -> Iterator[tuple[UploadServer, str]]:
    server = UploadServer()
    location = server.start()
    yield server, location
    server.stop()


async def raw(csms: CsmsServer, unique_id: str, action: str, payload: object) -> list[object]:
    assert csms.cp is not None
    return await csms.cp.raw_call(json.dumps([2, unique_id, action, payload]), unique_id)


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        # A field the schema does not have: the structure is wrong.
        (
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "5", "extra": 1},
            "FormationViolation",
        ),
        # Syntactically right, a value outside the enumeration.
        ("Reset", {"type": "Medium"}, "PropertyConstraintViolation"),
        ("RemoteStopTransaction", {"transactionId": "one"}, "TypeConstraintViolation"),
        ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "ProtocolError"),
        # A 1.6 action this charger does not handle: "recognized but not supported"
        # (OCPP-J 1.6 section 4.2.3).
        (
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2026-01-05T01:00:00Z",
                "idTag": "x",
                "reservationId": 1,
            },
            "NotSupported",
        ),
        # No OCPP 1.6 action: "not known by receiver".
        ("MakeCoffee", {}, "NotImplemented"),
    ],
)
async def test_bad_requests_get_the_ocpp_16_call_error(
    charger: Charger, csms: CsmsServer, action: str, payload: object, code: str
) -> None:
    answer = await raw(csms, "bad-1", action, payload)
    assert answer[0] == 4
    assert answer[1] == "bad-1"
    assert answer[2] == code
    assert charger.client.online


@pytest.mark.parametrize(
    ("code", "description"),
    [
        ("NotSupported", "Requested Action is recognized but not supported by the receiver"),
        ("NotImplemented", "Requested Action is not known by receiver"),
    ],
)
async def test_an_unhandled_action_is_described_as_ocpp_j_defines_its_code(
    charger: Charger, csms: CsmsServer, code: str, description: str
) -> None:
    action = "CancelReservation" if code == "NotSupported" else "MakeCoffee"
    payload = {"reservationId": 1} if code == "NotSupported" else {}
    answer = await raw(csms, "unhandled", action, payload)
    assert answer[2:4] == [code, description]


async def test_garbage_on_the_wire_is_ignored_and_the_link_stays_up(
    charger: Charger, csms: CsmsServer
) -> None:
    assert csms.cp is not None
    await csms.cp._connection.send("this is not json")
    await csms.cp._connection.send(json.dumps([7, "odd", "Reset", {}]))
    answer = await csms.call(call.GetConfiguration(key=["NumberOfConnectors"]))
    assert answer.configuration_key[0]["value"] == "1"
    assert csms.connection_count == 1


async def test_get_log_uploads_the_security_log_and_reports_progress(
    charger: Charger, csms: CsmsServer, upload_server: tuple[UploadServer, str]
) -> None:
    server, location = upload_server
    charger.seclog.record("SettingSystemTime", "clock set")
    answer = await csms.call(
        call.GetLog(log={"remoteLocation": location}, log_type="SecurityLog", request_id=7)
    )
    assert answer.status == "Accepted"
    assert answer.filename.startswith("security-log-CP_1-")
    await eventually(
        lambda: (
            [s["status"] for s in csms.of("LogStatusNotification")] == ["Uploading", "Uploaded"]
        ),
        charger.clock,
    )
    assert all(s["request_id"] == 7 for s in csms.of("LogStatusNotification"))
    method, path, body = server.uploads[0]
    assert method == "PUT"
    assert path == f"/logs/{answer.filename}"
    lines = body.decode().splitlines()
    assert json.loads(lines[0])["format"] == "ukscp-security-log-v1"
    assert any(json.loads(line).get("type") == "SettingSystemTime" for line in lines[1:])
    assert body.decode() == charger.seclog.export_text()


async def test_a_failed_upload_is_retried_then_reported(
    charger: Charger, csms: CsmsServer, upload_server: tuple[UploadServer, str]
) -> None:
    server, location = upload_server
    server.stop()  # nobody listens any more
    answer = await csms.call(
        call.GetLog(
            log={"remoteLocation": location},
            log_type="SecurityLog",
            request_id=8,
            retries=2,
            retry_interval=30,
        )
    )
    assert answer.status == "Accepted"
    await eventually(
        lambda: "UploadFailure" in [s["status"] for s in csms.of("LogStatusNotification")],
        charger.clock,
        step_s=5,
    )
    assert [s["status"] for s in csms.of("LogStatusNotification")] == ["Uploading", "UploadFailure"]


async def test_get_log_refuses_other_logs_and_other_schemes(
    charger: Charger, csms: CsmsServer
) -> None:
    diagnostics = await csms.call(
        call.GetLog(
            log={"remoteLocation": "http://127.0.0.1:9/"}, log_type="DiagnosticsLog", request_id=1
        )
    )
    ftp = await csms.call(
        call.GetLog(
            log={"remoteLocation": "ftp://127.0.0.1/logs/"}, log_type="SecurityLog", request_id=2
        )
    )
    assert (diagnostics.status, ftp.status) == ("Rejected", "Rejected")


# -- Core requests of a charger with no authorization cache and no connector lock ------


async def test_clear_cache_is_rejected_for_there_is_no_authorization_cache(
    charger: Charger, csms: CsmsServer
) -> None:
    assert (await csms.call(call.ClearCache())).status == "Rejected"
    listed = await csms.call(call.GetConfiguration(key=["AuthorizationCacheEnabled"]))
    assert listed.configuration_key == [
        {"key": "AuthorizationCacheEnabled", "readonly": True, "value": "false"}
    ]
    turn_on = call.ChangeConfiguration(key="AuthorizationCacheEnabled", value="true")
    assert (await csms.call(turn_on)).status == "Rejected"


async def test_data_transfer_of_another_vendor_is_an_unknown_vendor(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(
        call.DataTransfer(vendor_id="com.example", message_id="Hello", data="{}")
    )
    assert (answer.status, answer.data) == ("UnknownVendorId", None)


@pytest.mark.parametrize("message_id", ["MakeCoffee", None])
async def test_data_transfer_of_our_vendor_with_another_message_is_an_unknown_message(
    charger: Charger, csms: CsmsServer, message_id: str | None
) -> None:
    answer = await csms.call(call.DataTransfer(vendor_id="org.ukscp", message_id=message_id))
    assert (answer.status, answer.data) == ("UnknownMessageId", None)
    assert charger.port.delay_cancels == 0


@pytest.mark.parametrize(  # vendorId and messageId are CiStrings
    ("vendor_id", "message_id"),
    [("org.ukscp", "CancelRandomDelay"), ("ORG.UKSCP", "cancelrandomdelay")],
)
async def test_cancel_random_delay_ends_the_running_delay_or_is_rejected_without_one(
    charger: Charger, csms: CsmsServer, vendor_id: str, message_id: str
) -> None:
    request = call.DataTransfer(vendor_id=vendor_id, message_id=message_id)
    assert (await csms.call(request)).status == "Rejected"  # no delay running
    charger.port.delay_running = True
    assert (await csms.call(request)).status == "Accepted"
    assert (charger.port.delay_cancels, charger.port.delay_running) == (1, False)


async def test_unlock_connector_is_not_supported_and_leaves_the_transaction_alone(
    charger: Charger, csms: CsmsServer
) -> None:
    """A tethered cable has no lock: NotSupported, as for an unknown connector (5.18)."""
    assert (await csms.call(call.UnlockConnector(connector_id=2))).status == "NotSupported"
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: charger.client.transaction_id() is not None, charger.clock)
    assert (await csms.call(call.UnlockConnector(connector_id=1))).status == "NotSupported"
    await settle_real(charger.clock)
    assert charger.client.transaction_id() is not None
    assert "StopTransaction" not in csms.actions()
    assert charger.port.remote_stops == 0


async def test_the_feature_profiles_name_remote_trigger(charger: Charger, csms: CsmsServer) -> None:
    listed = await csms.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert listed.configuration_key[0]["value"] == "Core,RemoteTrigger"
    trigger = call.TriggerMessage(requested_message="Heartbeat")
    assert (await csms.call(trigger)).status == "Accepted"


CORE_REQUESTS: list[tuple[str, dict[str, object]]] = [
    ("ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"}),
    ("ClearCache", {}),
    ("DataTransfer", {"vendorId": "com.example"}),
    ("GetConfiguration", {}),
    ("RemoteStartTransaction", {"idTag": "tag-1"}),
    ("RemoteStopTransaction", {"transactionId": 99}),
    ("Reset", {"type": "Soft"}),
    ("UnlockConnector", {"connectorId": 1}),
]
"""Every request a Central System sends in OCPP 1.6's Core feature profile."""


@pytest.mark.parametrize(("action", "payload"), CORE_REQUESTS, ids=[a for a, _ in CORE_REQUESTS])
async def test_every_core_request_gets_an_answer_not_an_error(
    charger: Charger, csms: CsmsServer, action: str, payload: dict[str, object]
) -> None:
    answer = await raw(csms, f"core-{action}", action, payload)
    assert answer[0] == 3, answer  # CALLRESULT
