"""DataTransfer: this charger's vendor messages, the same in OCPP 1.6 and 2.0.1.

DataTransfer carries messages a vendor defines (OCPP 1.6 section 5.6; OCPP
2.0.1 P01). Both versions answer with the same statuses: ``UnknownVendorId``
for a vendor the charger does not know (its answer then carries no data), and
``UnknownMessageId`` for a message of a known vendor that the charger does not
handle. vendorId and messageId are case-insensitive strings (CiString) in both.

Our vendor id is ``org.ukscp`` (DESIGN section 7); its one message is
``CancelRandomDelay``: the CSMS ends the running randomised delay now (its user
asked to charge now, or it knows its change was randomised already), answered
``Accepted``, or ``Rejected`` when no delay is running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ukscp.ocpp.routes import Call, Result, Route

VENDOR_ID = "org.ukscp"
CANCEL_RANDOM_DELAY = "CancelRandomDelay"

UNKNOWN_VENDOR_ID = "UnknownVendorId"
UNKNOWN_MESSAGE_ID = "UnknownMessageId"


def data_transfer_status(
    vendor_id: str, message_id: str | None, cancel_random_delay: Callable[[], bool]
) -> str:
    """The DataTransfer answer's status for ``message_id`` of ``vendor_id``."""
    if vendor_id.casefold() != VENDOR_ID:
        return UNKNOWN_VENDOR_ID
    if message_id is None or message_id.casefold() != CANCEL_RANDOM_DELAY.casefold():
        return UNKNOWN_MESSAGE_ID
    return "Accepted" if cancel_random_delay() else "Rejected"


def routes(result: Result, cancel_random_delay: Callable[[], bool]) -> list[Route]:
    """DataTransfer's route, answered with ``result`` (the version's)."""

    def answer(call: Call) -> Any:
        status = data_transfer_status(
            str(call.args["vendor_id"]), call.args.get("message_id"), cancel_random_delay
        )
        return result("DataTransfer", status=status)

    return [Route("DataTransfer", answer)]
