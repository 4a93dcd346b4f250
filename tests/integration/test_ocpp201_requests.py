"""ClearCache, DataTransfer and UnlockConnector from a 2.0.1 CSMS (C11, P01, F05).

The charger keeps no authorization cache (a home charger has no card reader) and
has no connector lock (a tethered cable), and says so in its device model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v201 import call

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    eventually,
    settle_real,
    write_key,
)
from tests.integration.test_ocpp201_support import (
    make_charger201,
    running_csms201,
    transport_config201,
    variable,
)
from ukscp.clock import VirtualClock


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms201() as server:
        yield server


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, csms: CsmsServer) -> AsyncIterator[Charger]:
    write_key(tmp_path / "ocpp_key")
    built = make_charger201(tmp_path, clock, transport_config201(csms.url, tmp_path))
    built.start()
    await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
    yield built
    await built.stop()


async def test_clear_cache_is_rejected_and_the_device_model_has_no_cache(
    charger: Charger, csms: CsmsServer
) -> None:
    assert (await csms.call(call.ClearCache())).status == "Rejected"
    read = await csms.call(
        call.GetVariables(
            get_variable_data=[
                variable("AuthCacheCtrlr", "Available"),
                variable("AuthCacheCtrlr", "Enabled"),
            ]
        )
    )
    assert [(r["attribute_status"], r["attribute_value"]) for r in read.get_variable_result] == [
        ("Accepted", "false"),
        ("Accepted", "false"),
    ]
    turn_on = {**variable("AuthCacheCtrlr", "Enabled"), "attribute_value": "true"}
    written = await csms.call(call.SetVariables(set_variable_data=[turn_on]))
    assert written.set_variable_result[0]["attribute_status"] == "Rejected"


async def test_data_transfer_of_another_vendor_is_an_unknown_vendor(
    charger: Charger, csms: CsmsServer
) -> None:
    answer = await csms.call(call.DataTransfer(vendor_id="com.example", data={"a": 1}))
    assert (answer.status, answer.data) == ("UnknownVendorId", None)


@pytest.mark.parametrize("message_id", ["MakeCoffee", None])
async def test_data_transfer_of_our_vendor_with_another_message_is_an_unknown_message(
    charger: Charger, csms: CsmsServer, message_id: str | None
) -> None:
    answer = await csms.call(call.DataTransfer(vendor_id="org.ukscp", message_id=message_id))
    assert (answer.status, answer.data) == ("UnknownMessageId", None)
    assert charger.port.delay_cancels == 0


async def test_cancel_random_delay_ends_the_running_delay_or_is_rejected_without_one(
    charger: Charger, csms: CsmsServer
) -> None:
    request = call.DataTransfer(vendor_id="org.ukscp", message_id="CancelRandomDelay")
    assert (await csms.call(request)).status == "Rejected"  # no delay running
    charger.port.delay_running = True
    assert (await csms.call(request)).status == "Accepted"
    assert (charger.port.delay_cancels, charger.port.delay_running) == (1, False)


@pytest.mark.parametrize(("evse_id", "connector_id"), [(2, 1), (1, 2), (0, 1)])
async def test_unlock_of_a_connector_the_charger_lacks_is_unknown_connector(
    charger: Charger, csms: CsmsServer, evse_id: int, connector_id: int
) -> None:
    answer = await csms.call(call.UnlockConnector(evse_id=evse_id, connector_id=connector_id))
    assert answer.status == "UnknownConnector"


async def test_unlock_fails_for_there_is_no_lock_and_waits_for_the_transaction_to_end(
    charger: Charger, csms: CsmsServer
) -> None:
    unlock = call.UnlockConnector(evse_id=1, connector_id=1)
    assert (await csms.call(unlock)).status == "UnlockFailed"
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: charger.client.transaction is not None, charger.clock)
    assert (await csms.call(unlock)).status == "OngoingAuthorizedTransaction"
    await settle_real(charger.clock)
    assert charger.client.transaction is not None  # the CSMS stops it, not an unlock
    assert charger.port.remote_stops == 0
