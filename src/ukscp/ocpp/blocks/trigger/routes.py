"""TriggerMessage's routes: the answer from the version's table, the message after it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ukscp.ocpp.blocks.trigger.core import Triggerable, Triggers, TriggerTarget
from ukscp.ocpp.port import CONNECTOR_ID, EVSE_ID
from ukscp.ocpp.routes import Call, Result, Route, evse_of


def routes16(
    triggers: Triggers,
    core: Mapping[str, Triggerable],
    extended: Mapping[str, Triggerable],
    result: Result,
) -> list[Route]:
    """TriggerMessage from ``core``, ExtendedTriggerMessage from ``extended``.

    A connector named must be 0 (the charge point) or 1; what a table lacks is
    NotImplemented (e.g. SignChargePointCertificate: this charger makes no key
    pair and CSR of its own).
    """

    def route(action: str, table: Mapping[str, Triggerable]) -> Route:
        def answer(call: Call) -> Any:
            connector_id = call.args.get("connector_id")
            status = triggers.answer(
                table,
                call.args["requested_message"],
                TriggerTarget(connector_id),
                target_exists=connector_id in (None, 0, CONNECTOR_ID),
            )
            return result(action, status=status)

        return Route(action, answer, lambda call: triggers.after(call.args["requested_message"]))

    return [route("TriggerMessage", core), route("ExtendedTriggerMessage", extended)]


def routes201(triggers: Triggers, table: Mapping[str, Triggerable], result: Result) -> list[Route]:
    """TriggerMessage (F06) from ``table``; an EVSE or connector named must be 1.

    The certificate triggers (SignChargingStationCertificate, SignV2GCertificate,
    SignCombinedCertificate) are NotImplemented: this station makes no key pair
    and CSR of its own (A02/A03) and speaks no ISO 15118. Neither is it a Local
    Controller (PublishFirmwareStatusNotification).
    """

    def answer(call: Call) -> Any:
        evse_id, connector_id = evse_of(call.args)
        status = triggers.answer(
            table,
            call.args["requested_message"],
            TriggerTarget(evse_id, connector_id),
            target_exists=evse_id in (None, EVSE_ID) and connector_id in (None, CONNECTOR_ID),
        )
        return result("TriggerMessage", status=status)

    return [
        Route(
            "TriggerMessage", answer, lambda call: triggers.after(call.args["requested_message"])
        )
    ]
