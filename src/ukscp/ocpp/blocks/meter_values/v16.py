"""OCPP 1.6 MeterValues: sampled in a transaction, clock-aligned, and triggered."""

from __future__ import annotations

from datetime import datetime

from ukscp.ocpp.blocks.meter_values.readings import ENERGY_IMPORT, SAMPLE_CLOCK, SAMPLE_PERIODIC
from ukscp.ocpp.blocks.meter_values.sampling import MeterContext
from ukscp.ocpp.blocks.meter_values.values16 import meter_value
from ukscp.ocpp.blocks.settings import configuration16 as cfg
from ukscp.ocpp.blocks.settings.configuration16 import Configuration
from ukscp.ocpp.blocks.transactions.v16 import Transactions16
from ukscp.ocpp.blocks.trigger.core import READING_CONTEXT, TriggerTarget
from ukscp.ocpp.port import CONNECTOR_ID
from ukscp.ocpp.v16._lib import request


class MeterValues16:
    """The MeterValues of the one connector, queued (sampled, aligned) or sent live (triggered)."""

    def __init__(
        self, context: MeterContext, config: Configuration, transactions: Transactions16
    ) -> None:
        self._context = context
        self._config = config
        self._transactions = transactions

    def sample(self) -> None:
        """MeterValues every MeterValueSampleInterval while a transaction is open."""
        measurands = self._config.measurands(cfg.METER_VALUES_SAMPLED_DATA)
        self._queue_values(measurands, SAMPLE_PERIODIC, self._context.clock.now())

    def clock_aligned(self, due: datetime) -> None:
        """MeterValues at each ClockAlignedDataInterval boundary (counted from midnight)."""
        measurands = self._config.measurands(cfg.METER_VALUES_ALIGNED_DATA)
        self._queue_values(measurands, SAMPLE_CLOCK, due)

    async def trigger(self, target: TriggerTarget) -> None:
        """The latest reading of every MeterValuesSampledData measurand (section 5.17)."""
        measurands = self._config.measurands(cfg.METER_VALUES_SAMPLED_DATA) or (ENERGY_IMPORT,)
        now = self._context.clock.now()
        value = meter_value(self._context.port.snapshot(), measurands, READING_CONTEXT, now)
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
        await self._context.send_live(message)

    def _queue_values(self, measurands: tuple[str, ...], context: str, at: datetime) -> None:
        if not measurands:
            return
        transaction = self._transactions.transaction
        value = meter_value(self._context.port.snapshot(), measurands, context, at)
        self._context.queue.put(
            "MeterValues",
            {"connector_id": CONNECTOR_ID, "meter_value": [value]},
            tx_ref=transaction.ref if transaction else None,
        )
        self._context.wake_sender()
