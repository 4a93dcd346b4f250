"""The ``ocpp`` library's 2.0.1 charge point for one connection: routing the CSMS's requests.

Each ``@on`` handler only translates: it passes plain arguments to the
:class:`CsmsRequests` the client implements and wraps the answer in the
library's result type. Handlers never await a ``call()`` (the receive loop that
would deliver its answer is the one running the handler): work that must talk
back to the CSMS (NotifyReport, ReportChargingProfiles, the log upload, a
reset) starts from an ``@after`` hook, once the answer is sent.

Payloads the 2.0.1 schemas refuse are answered with OCPP-J 2.0.1's CALLERROR
codes (:func:`~ukscp.ocpp.v201._lib.payload_error`) before any handler runs;
an action this charger does not handle gets NotSupported (a 2.0.1 action)
or NotImplemented (anything else) from the router (:mod:`ukscp.ocpp.router`).
"""

from __future__ import annotations

from typing import Any, Protocol

from ukscp.ocpp._lib import after, checked_payload, on
from ukscp.ocpp.routes import SharedRequests, SharedRoutes
from ukscp.ocpp.v201._lib import ChargePointBase, payload_error, result
from ukscp.ocpp.v201.transactions import IdToken


def status_info(reason: str | None) -> dict[str, Any] | None:
    """A StatusInfoType saying why (reasonCode is a CiString20; the detail goes after)."""
    if reason is None:
        return None
    return {"reason_code": "InvalidValue", "additional_info": reason[:512]}


class CsmsRequests(SharedRequests, Protocol):
    """What the client does for each request from the CSMS (plain Python in and out)."""

    def request_start(
        self, token: IdToken, remote_start_id: int, evse_id: int | None, profile: Any
    ) -> tuple[str, str | None]:
        """RequestStartTransaction: ``(status, transactionId of a running transaction)``."""
        ...

    def request_stop(self, transaction_id: str) -> str:
        """RequestStopTransaction: Accepted or Rejected."""
        ...

    def reset(self, kind: str, evse_id: int | None) -> str:
        """Reset (Immediate or OnIdle): Accepted, Scheduled or Rejected."""
        ...

    def after_reset(self, kind: str) -> None:
        """Carry out an accepted reset (the answer has been sent)."""
        ...

    def get_variables(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """GetVariables: one GetVariableResultType (snake_case) per item."""
        ...

    def set_variables(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """SetVariables: one SetVariableResultType (snake_case) per item."""
        ...

    def after_set_variables(self) -> None:
        """Act on the changes once answered (reconnect with a new profile or password)."""
        ...

    def get_base_report(self, request_id: int, report_base: str) -> str:
        """GetBaseReport: Accepted or NotSupported."""
        ...

    def after_get_base_report(self, request_id: int) -> None:
        """Send the NotifyReport of an accepted GetBaseReport."""
        ...

    def set_charging_profile(self, evse_id: int, profile: dict[str, Any]) -> tuple[str, str | None]:
        """SetChargingProfile (``profile`` as on the wire, camelCase): ``(status, reason)``."""
        ...

    def clear_charging_profile(
        self, profile_id: int | None, criteria: dict[str, Any] | None
    ) -> str:
        """ClearChargingProfile (criteria as on the wire): Accepted or Unknown."""
        ...

    def get_composite_schedule(
        self, evse_id: int, duration_s: int, unit: str | None
    ) -> dict[str, Any]:
        """GetCompositeSchedule: the answer's fields."""
        ...

    def get_charging_profiles(
        self, request_id: int, evse_id: int | None, criterion: dict[str, Any]
    ) -> str:
        """GetChargingProfiles: Accepted or NoProfiles (the reports follow)."""
        ...

    def after_get_charging_profiles(self, request_id: int) -> None:
        """Send the ReportChargingProfiles of an accepted GetChargingProfiles."""
        ...

    def update_firmware(self, request: dict[str, Any]) -> str:
        """UpdateFirmware (the request as on the wire, camelCase): status."""
        ...

    def change_availability(
        self, operational_status: str, evse_id: int | None, connector_id: int | None
    ) -> str:
        """ChangeAvailability: Accepted, Rejected or Scheduled."""
        ...

    def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        """UnlockConnector: Unlocked, UnlockFailed, OngoingAuthorizedTransaction or
        UnknownConnector."""
        ...

    def trigger_message(self, requested: str, evse_id: int | None, connector_id: int | None) -> str:
        """TriggerMessage: Accepted, Rejected or NotImplemented."""
        ...

    def after_trigger_message(self, requested: str) -> None:
        """Send the message an accepted TriggerMessage asked for."""
        ...

    def after_update_firmware(self, request_id: int) -> None:
        """Start the download and install of an accepted UpdateFirmware."""
        ...


class ChargePoint201(SharedRoutes, ChargePointBase):  # type: ignore[misc]  # the library is untyped
    """One connection's message router, answering the CSMS on the client's behalf."""

    _requests: CsmsRequests
    _result = staticmethod(result)

    def __init__(
        self, identity: str, connection: Any, requests: CsmsRequests, response_timeout_s: float
    ) -> None:
        super().__init__(identity, connection, response_timeout=response_timeout_s)
        self._requests = requests
        # The request being handled, as on the wire (camelCase): the charging-profile
        # parser reads OCPP's own field names, not the library's.
        self._raw: dict[str, Any] = {}

    async def _handle_call(self, msg: Any) -> Any:
        # Check the payload first, to answer with OCPP-J 2.0.1's error codes.
        if msg.action in self.route_map:
            self._raw = checked_payload(msg.action, msg.payload, payload_error)
        return await super()._handle_call(msg)

    # -- Transactions (F01, F03) and Reset (B11, B12) -------------------------------------

    @on("RequestStartTransaction")
    def on_request_start_transaction(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        profile = self._raw.get("chargingProfile")
        token = IdToken(str(id_token.get("id_token", "")), str(id_token.get("type", "Central")))
        status, transaction_id = self._requests.request_start(
            token, remote_start_id, evse_id, profile
        )
        return result("RequestStartTransaction", status=status, transaction_id=transaction_id)

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        return result("RequestStopTransaction", status=self._requests.request_stop(transaction_id))

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        return result("Reset", status=self._requests.reset(type, evse_id))

    @after("Reset")
    def after_reset(self, type: str, **_: Any) -> None:
        self._requests.after_reset(type)

    # -- Availability (G03, G04), UnlockConnector (F05) and TriggerMessage (F06) ---------

    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        evse = evse or {}
        status = self._requests.change_availability(
            operational_status, evse.get("id"), evse.get("connector_id")
        )
        return result("ChangeAvailability", status=status)

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        status = self._requests.unlock_connector(evse_id, connector_id)
        return result("UnlockConnector", status=status)

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        evse = evse or {}
        status = self._requests.trigger_message(
            requested_message, evse.get("id"), evse.get("connector_id")
        )
        return result("TriggerMessage", status=status)

    @after("TriggerMessage")
    def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        self._requests.after_trigger_message(requested_message)

    # -- Device model (B06, B05, B07) ------------------------------------------------------

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        answers = self._requests.get_variables(get_variable_data)
        return result("GetVariables", get_variable_result=answers)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        answers = self._requests.set_variables(set_variable_data)
        return result("SetVariables", set_variable_result=answers)

    @after("SetVariables")
    def after_set_variables(self, **_: Any) -> None:
        self._requests.after_set_variables()

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        status = self._requests.get_base_report(request_id, report_base)
        return result("GetBaseReport", status=status)

    @after("GetBaseReport")
    def after_get_base_report(self, request_id: int, **_: Any) -> None:
        self._requests.after_get_base_report(request_id)

    # -- Smart charging (K01, K08, K09, K10) -----------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, **_: Any) -> Any:
        profile = self._raw.get("chargingProfile", {})
        status, reason = self._requests.set_charging_profile(evse_id, profile)
        return result("SetChargingProfile", status=status, status_info=status_info(reason))

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **_: Any) -> Any:
        status = self._requests.clear_charging_profile(
            self._raw.get("chargingProfileId"), self._raw.get("chargingProfileCriteria")
        )
        return result("ClearChargingProfile", status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        answer = self._requests.get_composite_schedule(evse_id, duration, charging_rate_unit)
        return result("GetCompositeSchedule", **answer)

    @on("GetChargingProfiles")
    def on_get_charging_profiles(
        self, request_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        criterion = self._raw.get("chargingProfile", {})
        status = self._requests.get_charging_profiles(request_id, evse_id, criterion)
        return result("GetChargingProfiles", status=status)

    @after("GetChargingProfiles")
    def after_get_charging_profiles(self, request_id: int, **_: Any) -> None:
        self._requests.after_get_charging_profiles(request_id)

    # -- Firmware (L01) --------------------------------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(self, **_: Any) -> Any:
        return result("UpdateFirmware", status=self._requests.update_firmware(self._raw))

    @after("UpdateFirmware")
    def after_update_firmware(self, request_id: int, **_: Any) -> None:
        self._requests.after_update_firmware(request_id)
