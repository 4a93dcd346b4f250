"""Frames no OCPP message can be, from a real central system: answered as the version says.

The central system is the ``ocpp`` library's, on 127.0.0.1; the bad frames go out
as raw text on its websocket, since the library cannot build them. Each test runs
against both OCPP versions; after every bad frame the session is still up (one
connection throughout) and the next ordinary request is answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.integration.test_ocpp16_support import (
    CentralSystemCp,
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    transport_config,
    write_key,
)
from tests.integration.test_ocpp201_support import (
    SUBPROTOCOL,
    CentralSystemCp201,
    make_charger201,
    transport_config201,
    variable,
)
from ukscp.clock import VirtualClock

FORMAT = {"1.6": "FormationViolation", "2.0.1": "FormatViolation"}


class RawFrames:
    """Mixed into a CSMS connection: keeps every frame the charger sends, as text."""

    async def route_message(self, raw_msg: str) -> None:
        self.server.frames.append(raw_msg)  # type: ignore[attr-defined]
        await super().route_message(raw_msg)  # type: ignore[misc]


class Cp16(RawFrames, CentralSystemCp):
    pass


class Cp201(RawFrames, CentralSystemCp201):
    pass


@dataclass
class Session:
    version: str
    csms: CsmsServer
    charger: Charger

    async def send(self, text: str) -> None:
        assert self.csms.cp is not None
        await self.csms.cp._connection.send(text)

    async def answer(self, text: str, unique_id: str) -> list[Any]:
        """Send ``text``; the charger's answer with ``unique_id``."""
        assert self.csms.cp is not None
        return await self.csms.cp.raw_call(text, unique_id)

    async def still_serves(self) -> None:
        """An ordinary request is answered, on the connection the test began with."""
        if self.version == "1.6":
            answer = await self.csms.call(call16.GetConfiguration(key=["NumberOfConnectors"]))
            assert answer.configuration_key[0]["value"] == "1"
        else:
            data = [variable("OCPPCommCtrlr", "HeartbeatInterval")]
            answer = await self.csms.call(call201.GetVariables(get_variable_data=data))
            assert answer.get_variable_result[0]["attribute_status"] == "Accepted"
        assert self.csms.connection_count == 1
        assert self.charger.client.online




@pytest.fixture(params=["1.6", "2.0.1"])
async def session(
    request: pytest.FixtureRequest, tmp_path: Path, clock: VirtualClock
) -> AsyncIterator[Session]:
    version: str = request.param
    write_key(tmp_path / "ocpp_key")
    if version == "1.6":
        running = running_csms(cp_class=Cp16)
    else:
        running = running_csms(cp_class=Cp201, subprotocol=SUBPROTOCOL)
    async with running as csms:
        csms.frames = []  # type: ignore[attr-defined]
        if version == "1.6":
            charger = make_charger(tmp_path, clock, transport_config(csms.url, tmp_path))
        else:
            charger = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
        charger.start()
        await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
        try:
            yield Session(version, csms, charger)
        finally:
            await charger.stop()


def reset(unique_id: str, payload: str) -> str:
    """A Reset CALL whose payload is ``payload`` (JSON text, possibly not valid)."""
    return f'[2,"{unique_id}","Reset",{payload}]'


async def test_a_frame_nested_deeper_than_any_ocpp_message_is_refused(session: Session) -> None:
    deep = "[" * 5000 + "]" * 5000
    answer = await session.answer(reset("deep", f'{{"type":{deep}}}'), "deep")
    assert answer[:3] == [4, "deep", FORMAT[session.version]]
    assert "nested 5002 deep" in answer[3]
    await session.still_serves()


async def test_a_frame_nested_100000_deep_is_refused_without_a_recursion(
    session: Session,
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    answer = await session.answer(reset("deeper", f'{{"type":{deep}}}'), "deeper")
    assert answer[:3] == [4, "deeper", FORMAT[session.version]]
    await session.still_serves()


@pytest.mark.parametrize("number", ["1e308", "1e400", "NaN", "-Infinity", "1" * 5000])
async def test_a_number_no_ocpp_field_can_hold_is_refused(session: Session, number: str) -> None:
    if session.version == "1.6":
        # OCPP 1.6 validates this one with decimals: 1e308 made it raise InvalidOperation.
        profile = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": "LIMIT"}],
            },
        }
        payload = {"connectorId": 1, "csChargingProfiles": profile}
    else:
        payload = {"evseId": 1, "duration": "LIMIT"}
    action = "SetChargingProfile" if session.version == "1.6" else "GetCompositeSchedule"
    text = json.dumps([2, "number", action, payload]).replace('"LIMIT"', number)
    answer = await session.answer(text, "number")
    assert answer[:3] == [4, "number", FORMAT[session.version]]
    await session.still_serves()


async def test_a_frame_over_64_kib_is_refused_and_not_logged(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    huge = reset("huge", json.dumps({"type": "x" * 1_000_000}))
    answer = await session.answer(huge, "huge")
    assert answer[:3] == [4, "huge", FORMAT[session.version]]
    assert "1,000,0" in answer[3]
    await session.still_serves()
    logged = sum(len(record.getMessage()) for record in caplog.records)
    assert logged < 50_000, f"{logged} characters of log for one refused frame"
    assert "x" * 100 not in caplog.text


@pytest.mark.parametrize(
    "text", ["this is not json", '{"not": "an array"}', "[]", '[2, 17, "Reset", {}]', "[2]"]
)
async def test_a_frame_whose_message_id_cannot_be_read(session: Session, text: str) -> None:
    if session.version == "2.0.1":
        # OCPP-J 2.0.1: RpcFrameworkError, with message id "-1".
        answer = await session.answer(text, "-1")
        assert answer[:3] == [4, "-1", "RpcFrameworkError"]
    else:
        # OCPP-J 1.6 names no answer: none is sent, and the session goes on.
        frames = session.csms.frames  # type: ignore[attr-defined]
        before = len(frames)
        await session.send(text)
        await session.still_serves()
        answered = [json.loads(f) for f in frames[before:]]
        assert all(frame[0] != 4 for frame in answered), answered
    await session.still_serves()


async def test_an_unknown_message_type_is_refused_by_its_id(session: Session) -> None:
    answer = await session.answer('[7,"odd","Reset",{}]', "odd")
    expected = "FormationViolation" if session.version == "1.6" else "MessageTypeNotSupported"
    assert answer[:3] == [4, "odd", expected]
    await session.still_serves()


@pytest.mark.parametrize(
    "text",
    ['[2,"short","Reset"]', '[2,"list","Reset",[]]', '[2,"act",5,{}]', '[2,"more","Reset",{},{}]'],
)
async def test_a_call_of_the_wrong_shape_is_refused_by_its_id(session: Session, text: str) -> None:
    unique_id = json.loads(text)[1]
    answer = await session.answer(text, unique_id)
    assert answer[:3] == [4, unique_id, FORMAT[session.version]]
    await session.still_serves()


async def test_a_malformed_answer_is_not_answered(session: Session) -> None:
    frames = session.csms.frames  # type: ignore[attr-defined]
    before = len(frames)
    await session.send('[3,"nobody-asked"]')
    await session.send('[4,"nobody-asked",5]')
    await asyncio.sleep(0.05)
    await session.still_serves()
    assert all(json.loads(f)[0] != 4 for f in frames[before:])
