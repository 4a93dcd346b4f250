"""What the OCPP and websocket libraries may write to the log: redacted, cut, DEBUG only."""

from __future__ import annotations

import json
import logging

import pytest
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import Call
from websockets.frames import Frame, Opcode

from ukscp.ocpp.wire_log import FRAME_LOG_CHARS, FrameLog, WebsocketLog, redacted

SECRET = "s3cret-key-0123456789abcdef"


@pytest.mark.parametrize(
    "frame",
    [
        [2, "a", "ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET}],
        [2, "a", "ChangeConfiguration", {"key": "authorizationkey", "value": SECRET}],
        [
            2,
            "a",
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "attributeValue": SECRET,
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            },
        ],
        [
            2,
            "a",
            "NotifyReport",
            {
                "reportData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "variableAttribute": [{"value": SECRET}],
                    }
                ]
            },
        ],
        [2, "a", "Authorize", {"idTag": SECRET}],
        [2, "a", "RequestStartTransaction", {"idToken": {"idToken": SECRET, "type": "Central"}}],
        [3, "a", {"privateKey": SECRET}],
    ],
)
def test_secrets_and_personal_data_never_reach_the_log(frame: list[object]) -> None:
    text = redacted(json.dumps(frame))
    assert SECRET not in text
    assert "<redacted>" in text


def test_other_settings_keep_their_value() -> None:
    frame = [2, "a", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"}]
    assert json.loads(redacted(json.dumps(frame))) == frame


def test_a_long_frame_is_cut_and_says_how_long_it_was() -> None:
    text = redacted(json.dumps([2, "a", "DataTransfer", {"data": "x" * 100_000}]))
    assert len(text) < FRAME_LOG_CHARS + 100
    assert "100,0" in text


def test_text_that_is_not_json_is_not_logged_at_all() -> None:
    assert SECRET not in redacted(f'[2,"a","ChangeConfiguration",{{"value":"{SECRET}"')


def test_the_ocpp_library_frames_go_to_debug_not_info(caplog: pytest.LogCaptureFixture) -> None:
    log = FrameLog(logging.getLogger("ocpp"), OCPPError)
    caplog.set_level(logging.INFO, logger="ocpp")
    call = Call("a", "ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET})
    log.info("%s: send %s", "CP_1", call.to_json())
    assert caplog.records == []
    caplog.set_level(logging.DEBUG, logger="ocpp")
    log.info("%s: send %s", "CP_1", call.to_json())
    log.info("%s: receive %s", "CP_1", call)  # a message object, as the library passes some
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert SECRET not in caplog.text


def test_an_answered_callerror_is_not_logged_as_a_fault(caplog: pytest.LogCaptureFixture) -> None:
    log = FrameLog(logging.getLogger("ocpp"), OCPPError)
    caplog.set_level(logging.INFO, logger="ocpp")
    try:
        raise NotSupportedError(description="recognized but not supported")
    except NotSupportedError:
        log.exception("Error while handling request '%s'", "[2,\"a\",\"X\",{}]")
    assert caplog.records == []
    try:
        raise KeyError("a real fault")
    except KeyError:
        log.exception("Error while handling request '%s'", "[2,\"a\",\"X\",{}]")
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert caplog.records[0].exc_info is not None


def test_the_websocket_log_keeps_the_authorization_header_and_frames_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets.client")
    log = WebsocketLog(logging.getLogger("websockets.client"), {})
    log.debug("> %s: %s", "Authorization", f"Basic {SECRET}")
    log.debug("> %s: %s", "Sec-WebSocket-Protocol", "ocpp1.6")
    log.debug("> %s", Frame(Opcode.TEXT, f'[2,"a","X",{{"value":"{SECRET}"}}]'.encode()))
    assert SECRET not in caplog.text
    assert "ocpp1.6" in caplog.text
    assert "TEXT [" in caplog.text
