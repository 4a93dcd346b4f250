"""The ``ocpp`` library's charge point for one connection: routing the CSMS's requests.

Each ``@on`` handler only translates: it passes plain arguments to the
:class:`CsmsRequests` the client implements and wraps the answer in the
library's result type. Handlers never await a ``call()`` (the receive loop that
would deliver its answer is the one running the handler): work that must talk
back to the CSMS is started from an ``@after`` hook, once the answer is sent.

Payloads the OCPP 1.6 schemas refuse are answered with the CALLERROR codes of
OCPP-J 1.6 (see :func:`~ukscp.ocpp.v16._lib.payload_error`), before any handler runs.
"""

from __future__ import annotations

from typing import Any, Protocol

from ukscp.ocpp._lib import checked_payload
from ukscp.ocpp.routes import SharedRequests, SharedRoutes
from ukscp.ocpp.v16._lib import ChargePointBase, after, on, payload_error, result


class CsmsRequests(SharedRequests, Protocol):
    """What the client does for each request from the CSMS (plain Python in and out)."""

    def remote_start(
        self, id_tag: str, connector_id: int | None, charging_profile: dict[str, Any] | None
    ) -> str:
        """RemoteStartTransaction: ``Accepted`` or ``Rejected``."""
        ...

    def remote_stop(self, transaction_id: int) -> str:
        """RemoteStopTransaction: ``Accepted`` or ``Rejected``."""
        ...

    def reset(self, kind: str) -> str:
        """Reset (``Hard`` or ``Soft``): ``Accepted`` or ``Rejected``."""
        ...

    def after_reset(self, kind: str) -> None:
        """Carry out an accepted reset (the answer has been sent)."""
        ...

    def change_configuration(self, key: str, value: str) -> str:
        """ChangeConfiguration: Accepted, Rejected, RebootRequired or NotSupported."""
        ...

    def after_change_configuration(self, key: str) -> None:
        """Act on a change once the answer is sent (e.g. reconnect with a new key)."""
        ...

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: ``(configuration_key entries, unknown_key names)``."""
        ...

    def change_availability(self, connector_id: int, kind: str) -> str:
        """ChangeAvailability (Operative or Inoperative): Accepted, Rejected or Scheduled."""
        ...

    def unlock_connector(self) -> str:
        """UnlockConnector: Unlocked, UnlockFailed or NotSupported."""
        ...

    def trigger_message(self, requested: str, connector_id: int | None) -> str:
        """TriggerMessage: Accepted, Rejected or NotImplemented."""
        ...

    def extended_trigger_message(self, requested: str, connector_id: int | None) -> str:
        """ExtendedTriggerMessage (security whitepaper): Accepted, Rejected or NotImplemented."""
        ...

    def after_trigger_message(self, requested: str) -> None:
        """Send the message an accepted (Extended)TriggerMessage asked for."""
        ...

    def signed_update_firmware(self, request: dict[str, Any]) -> str:
        """SignedUpdateFirmware (the request as on the wire, camelCase): status."""
        ...

    def after_signed_update_firmware(self, request_id: int) -> None:
        """Start the download and install of an accepted SignedUpdateFirmware."""
        ...

    def smart_charging_supported(self) -> bool:
        """True when SetChargingProfile and friends are handled."""
        ...

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile (``profile`` as on the wire, camelCase): status."""
        ...

    def clear_charging_profile(self, request: dict[str, Any]) -> str:
        """ClearChargingProfile (the request as on the wire, camelCase): status."""
        ...

    def get_composite_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """GetCompositeSchedule: the answer's fields, snake_case."""
        ...


class ChargePoint16(SharedRoutes, ChargePointBase):  # type: ignore[misc]  # the library is untyped
    """One connection's message router, answering the CSMS on the client's behalf."""

    _requests: CsmsRequests
    _result = staticmethod(result)

    def __init__(
        self, identity: str, connection: Any, requests: CsmsRequests, response_timeout_s: float
    ) -> None:
        super().__init__(identity, connection, response_timeout=response_timeout_s)
        self._requests = requests
        # The request being handled, as on the wire (camelCase, plain floats): the
        # charging-profile parser reads OCPP's own field names, not the library's.
        self._raw: dict[str, Any] = {}
        if not requests.smart_charging_supported():
            for action in ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"):
                self.route_map.pop(action, None)

    async def _handle_call(self, msg: Any) -> Any:
        # Check the payload first, to answer with OCPP 1.6J's error codes.
        if msg.action in self.route_map:
            self._raw = checked_payload(msg.action, msg.payload, payload_error)
        return await super()._handle_call(msg)

    # -- Core --------------------------------------------------------------------------

    @on("RemoteStartTransaction")
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        # ``charging_profile`` is the library's snake_case copy; the parser wants the wire's.
        raw_profile = self._raw.get("chargingProfile")
        status = self._requests.remote_start(id_tag, connector_id, raw_profile)
        return result("RemoteStartTransaction", status=status)

    @on("RemoteStopTransaction")
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        return result("RemoteStopTransaction", status=self._requests.remote_stop(transaction_id))

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        return result("Reset", status=self._requests.reset(type))

    @after("Reset")
    def after_reset(self, type: str, **_: Any) -> None:
        self._requests.after_reset(type)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return result("ChangeConfiguration", status=self._requests.change_configuration(key, value))

    @after("ChangeConfiguration")
    def after_change_configuration(self, key: str, **_: Any) -> None:
        self._requests.after_change_configuration(key)

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        known, unknown = self._requests.get_configuration(key)
        return result(
            "GetConfiguration",
            configuration_key=known or None,
            unknown_key=unknown or None,
        )

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        status = self._requests.change_availability(connector_id, type)
        return result("ChangeAvailability", status=status)

    @on("UnlockConnector")
    def on_unlock_connector(self, **_: Any) -> Any:
        return result("UnlockConnector", status=self._requests.unlock_connector())

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        status = self._requests.trigger_message(requested_message, connector_id)
        return result("TriggerMessage", status=status)

    @after("TriggerMessage")
    def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        self._requests.after_trigger_message(requested_message)

    # -- Security whitepaper -----------------------------------------------------------

    @on("ExtendedTriggerMessage")
    def on_extended_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        status = self._requests.extended_trigger_message(requested_message, connector_id)
        return result("ExtendedTriggerMessage", status=status)

    @after("ExtendedTriggerMessage")
    def after_extended_trigger_message(self, requested_message: str, **_: Any) -> None:
        self._requests.after_trigger_message(requested_message)

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(self, **_: Any) -> Any:
        status = self._requests.signed_update_firmware(self._raw)
        return result("SignedUpdateFirmware", status=status)

    @after("SignedUpdateFirmware")
    def after_signed_update_firmware(self, request_id: int, **_: Any) -> None:
        self._requests.after_signed_update_firmware(request_id)

    # -- Smart charging ----------------------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, **_: Any) -> Any:
        profile = self._raw.get("csChargingProfiles", {})
        status = self._requests.set_charging_profile(connector_id, profile)
        return result("SetChargingProfile", status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **_: Any) -> Any:
        return result(
            "ClearChargingProfile", status=self._requests.clear_charging_profile(self._raw)
        )

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, **_: Any) -> Any:
        return result("GetCompositeSchedule", **self._requests.get_composite_schedule(self._raw))
