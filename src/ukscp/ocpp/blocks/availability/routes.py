"""ChangeAvailability and UnlockConnector, one table per OCPP version.

The cable is tethered: this charger has no connector lock (the board's
capabilities, :mod:`ukscp.hardware.protocols`, have none), so nothing is done
for an unlock, and a transaction is never stopped for one that cannot happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ukscp.ocpp.blocks.availability.core import REJECTED, Availability
from ukscp.ocpp.port import CONNECTOR_ID, EVSE_ID
from ukscp.ocpp.routes import Call, Result, Route, evse_of


def routes16(
    availability: Availability, transaction_open: Callable[[], bool], result: Result
) -> list[Route]:
    """OCPP 1.6: connector 0 (the charge point) and 1 alike; Inoperative in a transaction
    is Scheduled for its end. UnlockConnector is NotSupported for any connector."""

    def change_availability(call: Call) -> Any:
        status = REJECTED
        if call.args["connector_id"] in (0, CONNECTOR_ID):
            status = availability.change(
                call.args["type"] == "Operative", transaction_open=transaction_open()
            )
        return result("ChangeAvailability", status=status)

    return [
        Route("ChangeAvailability", change_availability),
        Route("UnlockConnector", lambda _: result("UnlockConnector", status="NotSupported")),
    ]


def routes201(
    availability: Availability, transaction_open: Callable[[], bool], result: Result
) -> list[Route]:
    """OCPP 2.0.1: G03 (the station) or G04 (EVSE 1 or its connector), all the same on
    one connector. UnlockConnector (F05) has no NotSupported: UnknownConnector for
    another connector, OngoingAuthorizedTransaction while one runs (the CSMS stops it
    first), else UnlockFailed."""

    def change_availability(call: Call) -> Any:
        evse_id, connector_id = evse_of(call.args)
        status = REJECTED
        if evse_id in (None, EVSE_ID) and connector_id in (None, CONNECTOR_ID):
            status = availability.change(
                call.args["operational_status"] == "Operative",
                transaction_open=transaction_open(),
            )
        return result("ChangeAvailability", status=status)

    def unlock_connector(call: Call) -> Any:
        if call.args["evse_id"] != EVSE_ID or call.args["connector_id"] != CONNECTOR_ID:
            status = "UnknownConnector"
        elif transaction_open():
            status = "OngoingAuthorizedTransaction"
        else:
            status = "UnlockFailed"
        return result("UnlockConnector", status=status)

    return [
        Route("ChangeAvailability", change_availability),
        Route("UnlockConnector", unlock_connector),
    ]
