"""OCPP 2.0.1 route table of the requests the client still answers itself.

Each handler only translates: it passes plain arguments to the
:class:`CsmsRequests` the client implements and wraps the answer in the
version's result type (see :mod:`ukscp.ocpp.routes`).
"""

from __future__ import annotations

from typing import Any, Protocol

from ukscp.ocpp.routes import Call, Route, evse_of
from ukscp.ocpp.v201._lib import result


class CsmsRequests(Protocol):
    """What the client does for each request from the CSMS (plain Python in and out)."""













    def trigger_message(self, requested: str, evse_id: int | None, connector_id: int | None) -> str:
        """TriggerMessage: Accepted, Rejected or NotImplemented."""
        ...

    def after_trigger_message(self, requested: str) -> None:
        """Send the message an accepted TriggerMessage asked for."""
        ...



def routes(requests: CsmsRequests) -> list[Route]:
    """The routes ``requests`` answers."""

    def trigger_message(call: Call) -> Any:
        evse_id, connector_id = evse_of(call.args)
        status = requests.trigger_message(call.args["requested_message"], evse_id, connector_id)
        return result("TriggerMessage", status=status)

    return [
        Route(
            "TriggerMessage",
            trigger_message,
            lambda call: requests.after_trigger_message(call.args["requested_message"]),
        ),
    ]
