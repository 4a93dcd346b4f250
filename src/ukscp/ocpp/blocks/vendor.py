"""DataTransfer: this charger's vendor messages, the same in OCPP 1.6 and 2.0.1.

DataTransfer carries messages a vendor defines (OCPP 1.6 section 5.6; OCPP
2.0.1 P01). Both versions answer with the same statuses: ``UnknownVendorId``
for a vendor the charger does not know (its answer then carries no data), and
``UnknownMessageId`` for a message of a known vendor that the charger does not
handle. vendorId and messageId are case-insensitive strings (CiString) in both.

Our vendor id is ``org.ukscp`` (DESIGN section 7). The one message named for it
there, ``CancelRandomDelay``, is not handled yet, so every message of ours is
answered ``UnknownMessageId`` until it is.
"""

from __future__ import annotations

from ukscp.ocpp.routes import Result, Route

VENDOR_ID = "org.ukscp"

UNKNOWN_VENDOR_ID = "UnknownVendorId"
UNKNOWN_MESSAGE_ID = "UnknownMessageId"


def data_transfer_status(vendor_id: str) -> str:
    """The DataTransfer answer's status for a request of ``vendor_id``.

    No message of ours is handled yet, so the messageId does not matter: any,
    or none, is ``UnknownMessageId`` for our vendor.
    """
    if vendor_id.casefold() != VENDOR_ID:
        return UNKNOWN_VENDOR_ID
    return UNKNOWN_MESSAGE_ID


def routes(result: Result) -> list[Route]:
    """DataTransfer's route, answered with ``result`` (the version's)."""
    return [
        Route(
            "DataTransfer",
            lambda call: result(
                "DataTransfer", status=data_transfer_status(str(call.args["vendor_id"]))
            ),
        )
    ]
