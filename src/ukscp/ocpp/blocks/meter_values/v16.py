"""OCPP 1.6 MeterValues: sampled in a transaction, clock-aligned, and triggered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ukscp.clock import Clock
from ukscp.ocpp.blocks.meter_values.readings import ENERGY_IMPORT, SAMPLE_CLOCK, SAMPLE_PERIODIC
from ukscp.ocpp.blocks.meter_values.values16 import meter_value
from ukscp.ocpp.blocks.settings import configuration16 as cfg
from ukscp.ocpp.blocks.settings.configuration16 import Configuration
from ukscp.ocpp.blocks.transactions.v16 import Transactions16
from ukscp.ocpp.blocks.trigger.core import READING_CONTEXT, TriggerTarget
from ukscp.ocpp.port import CONNECTOR_ID, ChargerPort
from ukscp.ocpp.queue import MessageQueue
from ukscp.ocpp.v16._lib import request


class MeterValues16:
    """The MeterValues of the one connector, queued (sampled, aligned) or sent live (triggered)."""

    def __init__(
        self,
        *,
        port: ChargerPort,
        clock: Clock,
        queue: MessageQueue,
        wake_sender: Callable[[], None],
        config: Configuration,
        transactions: Transactions16,
        send_live: Callable[[Any], Awaitable[Any]],
    ) -> None:
        self._port = port
        self._clock = clock
        self._queue = queue
        self._wake_sender = wake_sender
        self._config = config
        self._transactions = transactions
        self._send_live = send_live

    def sample(self) -> None:
        """MeterValues every MeterValueSampleInterval while a transaction is open."""
        measurands = self._config.measurands(cfg.METER_VALUES_SAMPLED_DATA)
        self._queue_values(measurands, SAMPLE_PERIODIC, self._clock.now())

    def clock_aligned(self, due: datetime) -> None:
        """MeterValues at each ClockAlignedDataInterval boundary (counted from midnight)."""
        measurands = self._config.measurands(cfg.METER_VALUES_ALIGNED_DATA)
        self._queue_values(measurands, SAMPLE_CLOCK, due)

    async def trigger(self, target: TriggerTarget) -> None:
        """The latest reading of every MeterValuesSampledData measurand (section 5.17)."""
        measurands = self._config.measurands(cfg.METER_VALUES_SAMPLED_DATA) or (ENERGY_IMPORT,)
        value = meter_value(self._port.snapshot(), measurands, READING_CONTEXT, self._clock.now())
        connector_id = CONNECTOR_ID if target.evse_id is None else target.evse_id
        transaction_id = (
            self._transactions.transaction_id() if connector_id == CONNECTOR_ID else None
        )
        message = request(
            "MeterValues",
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_value=[value],
        )
        await self._send_live(message)

    def _queue_values(self, measurands: tuple[str, ...], context: str, at: datetime) -> None:
        if not measurands:
            return
        transaction = self._transactions.transaction
        value = meter_value(self._port.snapshot(), measurands, context, at)
        self._queue.put(
            "MeterValues",
            {"connector_id": CONNECTOR_ID, "meter_value": [value]},
            tx_ref=transaction.ref if transaction else None,
        )
        self._wake_sender()
