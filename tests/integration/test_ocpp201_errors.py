"""Bad payloads from a 2.0.1 CSMS get OCPP-J 2.0.1's CALLERROR codes, and the client carries on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from tests.integration.test_ocpp16_support import Charger, CsmsServer, eventually, write_key
from tests.integration.test_ocpp201_support import (
    make_charger201,
    running_csms201,
    transport_config201,
)
from ukscp.clock import VirtualClock


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
    yield built
    await built.stop()


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("Reset", {}, "OccurrenceConstraintViolation"),  # type missing
        ("Reset", {"type": "Sometime"}, "PropertyConstraintViolation"),
        ("Reset", {"type": 3}, "TypeConstraintViolation"),
        ("Reset", {"type": "Immediate", "colour": "red"}, "FormatViolation"),
        ("Reset", [], "FormatViolation"),
        ("GetVariables", {"getVariableData": []}, "OccurrenceConstraintViolation"),
        (
            "SetChargingProfile",
            {"evseId": -1, "chargingProfile": {}},
            "OccurrenceConstraintViolation",
        ),
        ("RequestStopTransaction", {"transactionId": "x" * 37}, "TypeConstraintViolation"),
        (
            "ReserveNow",
            {
                "id": 1,
                "expiryDateTime": "2026-01-05T00:00:00Z",
                "idToken": {"idToken": "a", "type": "Local"},
            },
            "NotSupported",  # a 2.0.1 action this charger does not handle
        ),
        ("MakeCoffee", {}, "NotImplemented"),  # no 2.0.1 action
    ],
)
async def test_a_bad_request_gets_the_right_callerror(
    charger: Charger, csms: CsmsServer, action: str, payload: Any, code: str
) -> None:
    assert csms.cp is not None
    unique_id = f"bad-{action}"
    answer = await csms.cp.raw_call(json.dumps([2, unique_id, action, payload]), unique_id)
    assert answer[0] == 4, answer  # CALLERROR
    assert answer[2] == code, answer
    # The client is still there and answers the next request.
    ok = await csms.call(call.GetCompositeSchedule(duration=60, evse_id=1))
    assert ok.status == "Accepted"
    assert charger.client.online


async def test_an_invalid_charging_profile_inside_a_valid_payload_is_rejected_with_a_reason(
    charger: Charger, csms: CsmsServer
) -> None:
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",  # Absolute without startSchedule
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            }
        ],
    }
    answer = await csms.call(call.SetChargingProfile(evse_id=0, charging_profile=profile))
    assert answer.status == "Rejected"
    assert "startSchedule" in answer.status_info["additional_info"]
