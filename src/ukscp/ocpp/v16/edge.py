"""What an OCPP 1.6J session needs of its version: messages, the settings that time them,
and the connector's status (see :class:`~ukscp.ocpp.session.VersionEdge`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection

from ukscp.clock import Clock
from ukscp.ocpp.blocks.availability.core import Availability
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.blocks.settings import configuration16 as cfg
from ukscp.ocpp.blocks.settings.configuration16 import Configuration
from ukscp.ocpp.blocks.transactions.v16 import Transactions16
from ukscp.ocpp.port import CONNECTOR_ID, ChargerPort
from ukscp.ocpp.routes import Route
from ukscp.ocpp.session import BootInfo, ChargePointLike, Interval
from ukscp.ocpp.v16._lib import Router, request
from ukscp.ocpp.v16.status import NO_ERROR, connector_status

# Which configuration key sets each interval.
INTERVAL_KEYS: dict[Interval, str] = {
    "heartbeat": cfg.HEARTBEAT_INTERVAL,
    "sampled": cfg.METER_VALUE_SAMPLE_INTERVAL,
    "aligned": cfg.CLOCK_ALIGNED_DATA_INTERVAL,
}


class Edge16:
    """The 1.6 side of a session."""

    def __init__(
        self,
        *,
        identity: str,
        boot: BootInfo,
        response_timeout_s: float,
        config: Configuration,
        port: ChargerPort,
        clock: Clock,
        availability: Availability,
        transactions: Transactions16,
    ) -> None:
        self._identity = identity
        self._boot = boot
        self._response_timeout_s = response_timeout_s
        self._config = config
        self._port = port
        self._clock = clock
        self._availability = availability
        self._transactions = transactions

    def message(self, action: str, **fields: Any) -> Any:
        """An ``ocpp.v16.call`` message."""
        return request(action, **fields)

    def router(self, connection: ClientConnection, routes: Mapping[str, Route]) -> ChargePointLike:
        """The 1.6 router of one connection."""
        return Router(self._identity, connection, routes, self._response_timeout_s)

    def boot_message(self) -> Any:
        """BootNotification (section 4.2)."""
        boot = self._boot
        return request(
            "BootNotification",
            charge_point_vendor=boot.vendor,
            charge_point_model=boot.model,
            charge_point_serial_number=boot.serial_number,
            firmware_version=boot.firmware_version,
        )

    def boot_accepted(self, interval: int) -> None:
        """The heartbeat interval the CSMS gave becomes HeartbeatInterval."""
        if interval > 0:
            self._config.set_value(cfg.HEARTBEAT_INTERVAL, str(interval))

    def note_boot_reason(self, reason: str) -> None:
        """Nothing: 1.6's BootNotification does not say why."""

    def interval_s(self, which: Interval) -> int:
        """From the configuration key that sets it."""
        return self._config.int_value(INTERVAL_KEYS[which])

    def statuses(self) -> dict[int, tuple[str, str]]:
        """``(status, error code)`` now of the charge point (0) and of connector 1."""
        operative = self._availability.operative
        return {
            0: ("Available" if operative else "Unavailable", NO_ERROR),
            CONNECTOR_ID: connector_status(
                self._port.snapshot(),
                self._transactions.transaction is not None,
                self._transactions.finished,
                operative,
            ),
        }

    def status_message(self, connector_id: int, status: tuple[str, str]) -> Any:
        """StatusNotification (section 4.9)."""
        return request(
            "StatusNotification",
            connector_id=connector_id,
            error_code=status[1],
            status=status[0],
            timestamp=ocpp_time(self._clock.now()),
        )
