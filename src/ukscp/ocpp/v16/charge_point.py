"""OCPP 1.6J route table of the requests the client still answers itself.

Each handler only translates: it passes plain arguments to the
:class:`CsmsRequests` the client implements and wraps the answer in the
version's result type (see :mod:`ukscp.ocpp.routes`).
"""

from __future__ import annotations

from typing import Protocol

from ukscp.ocpp.routes import Route
from ukscp.ocpp.v16._lib import result


class CsmsRequests(Protocol):
    """What the client does for each request from the CSMS (plain Python in and out)."""










    def trigger_message(self, requested: str, connector_id: int | None) -> str:
        """TriggerMessage: Accepted, Rejected or NotImplemented."""
        ...

    def extended_trigger_message(self, requested: str, connector_id: int | None) -> str:
        """ExtendedTriggerMessage (security whitepaper): Accepted, Rejected or NotImplemented."""
        ...

    def after_trigger_message(self, requested: str) -> None:
        """Send the message an accepted (Extended)TriggerMessage asked for."""
        ...




def routes(requests: CsmsRequests) -> list[Route]:
    """The routes of Core, the security whitepaper and smart charging that ``requests`` answers."""

    def trigger(action: str) -> Route:
        return Route(
            action,
            lambda call: result(
                action,
                status=requests.trigger_message(
                    call.args["requested_message"], call.args.get("connector_id")
                )
                if action == "TriggerMessage"
                else requests.extended_trigger_message(
                    call.args["requested_message"], call.args.get("connector_id")
                ),
            ),
            lambda call: requests.after_trigger_message(call.args["requested_message"]),
        )

    table = [
        trigger("TriggerMessage"),
        trigger("ExtendedTriggerMessage"),
    ]
    return table
