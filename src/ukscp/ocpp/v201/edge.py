"""What an OCPP 2.0.1 session needs of its version: messages, the variables that time them,
why this start happened, and the connector's status (see
:class:`~ukscp.ocpp.session.VersionEdge`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection

from ukscp.clock import Clock
from ukscp.ocpp.blocks.availability.core import Availability
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.blocks.settings import device_model201 as dm
from ukscp.ocpp.blocks.settings.device_model201 import DeviceModel, Name
from ukscp.ocpp.port import CONNECTOR_ID, EVSE_ID, ChargerPort, KeyValueStore
from ukscp.ocpp.routes import Route
from ukscp.ocpp.session import BootInfo, ChargePointLike, Interval
from ukscp.ocpp.v201._lib import Router, request
from ukscp.ocpp.v201.status import connector_status

BOOT_REASON_KEY = "ocpp.v201.boot_reason"
"""Settings-store key: why the next start happens, when this run caused it."""

# Which device-model variable sets each interval.
INTERVAL_VARIABLES: dict[Interval, Name] = {
    "heartbeat": dm.HEARTBEAT_INTERVAL,
    "sampled": dm.TX_UPDATED_INTERVAL,
    "aligned": dm.ALIGNED_INTERVAL,
}


class Edge201:
    """The 2.0.1 side of a session."""

    def __init__(
        self,
        *,
        identity: str,
        boot: BootInfo,
        response_timeout_s: float,
        model: DeviceModel,
        store: KeyValueStore,
        port: ChargerPort,
        clock: Clock,
        availability: Availability,
    ) -> None:
        self._identity = identity
        self._boot = boot
        self._response_timeout_s = response_timeout_s
        self._model = model
        self._store = store
        self._port = port
        self._clock = clock
        self._availability = availability

    def message(self, action: str, **fields: Any) -> Any:
        """An ``ocpp.v201.call`` message."""
        return request(action, **fields)

    def router(self, connection: ClientConnection, routes: Mapping[str, Route]) -> ChargePointLike:
        """The 2.0.1 router of one connection."""
        return Router(self._identity, connection, routes, self._response_timeout_s)

    def boot_message(self) -> Any:
        """BootNotification (B01), with why this start happened."""
        boot = self._boot
        station: dict[str, Any] = {
            "model": boot.model,
            "vendor_name": boot.vendor,
            "firmware_version": boot.firmware_version,
        }
        if boot.serial_number is not None:
            station["serial_number"] = boot.serial_number
        # Why this start happened, as the last run left it (B01: RemoteReset after the
        # CSMS's Reset, FirmwareUpdate after an install); anything else is a power-up.
        # Pending (B02) or Rejected (B03), it is sent again after the interval; a
        # triggered BootNotification cuts the wait short (F06).
        reason = self._store.get(BOOT_REASON_KEY) or "PowerUp"
        return request("BootNotification", charging_station=station, reason=reason)

    def boot_accepted(self, interval: int) -> None:
        """The reason is spent; the heartbeat interval the CSMS gave is set."""
        self._store.set(BOOT_REASON_KEY, None)
        if interval > 0:
            self._model.set_value(dm.HEARTBEAT_INTERVAL, str(interval))

    def note_boot_reason(self, reason: str) -> None:
        """The next BootNotification's reason (BootReasonEnumType)."""
        self._store.set(BOOT_REASON_KEY, reason)

    def interval_s(self, which: Interval) -> int:
        """From the device-model variable that sets it."""
        return self._model.int_value(INTERVAL_VARIABLES[which])

    def statuses(self) -> dict[int, str]:
        """Connector 1's status now (G01): the station has no status of its own in 2.0.1."""
        return {CONNECTOR_ID: connector_status(self._port.snapshot(), self._availability.operative)}

    def status_message(self, connector_id: int, status: str) -> Any:
        """StatusNotification (G01)."""
        return request(
            "StatusNotification",
            timestamp=ocpp_time(self._clock.now()),
            connector_status=status,
            evse_id=EVSE_ID,
            connector_id=connector_id,
        )
