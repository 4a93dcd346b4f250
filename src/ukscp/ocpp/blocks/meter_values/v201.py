"""OCPP 2.0.1 meter values (J01, J02): TransactionEvents in a transaction, else MeterValues."""

from __future__ import annotations

from datetime import datetime

from ukscp.ocpp.blocks.meter_values.readings import ENERGY_IMPORT, SAMPLE_CLOCK, SAMPLE_PERIODIC
from ukscp.ocpp.blocks.meter_values.sampling import MeterContext
from ukscp.ocpp.blocks.meter_values.values201 import meter_value
from ukscp.ocpp.blocks.settings import device_model201 as dm
from ukscp.ocpp.blocks.settings.device_model201 import DeviceModel
from ukscp.ocpp.blocks.transactions.v201 import Transactions201
from ukscp.ocpp.blocks.trigger.core import READING_CONTEXT, TriggerTarget
from ukscp.ocpp.port import EVSE_ID
from ukscp.ocpp.v201._lib import request


class MeterValues201:
    """EVSE 1's meter values, queued (sampled, aligned) or sent live (triggered)."""

    def __init__(
        self, context: MeterContext, model: DeviceModel, transactions: Transactions201
    ) -> None:
        self._context = context
        self._model = model
        self._transactions = transactions

    def sample(self) -> None:
        """TransactionEvent Updated every TxUpdatedInterval while a transaction is open (J02)."""
        measurands = self._model.measurands(dm.TX_UPDATED_MEASURANDS)
        self._transactions.update("MeterValuePeriodic", measurands, SAMPLE_PERIODIC)

    def clock_aligned(self, due: datetime) -> None:
        """Clock-aligned values at each AlignedDataCtrlr.Interval boundary (J01).

        In a transaction they are a TransactionEvent (so they keep its order and
        seqNo), outside one a MeterValues request.
        """
        measurands = self._model.measurands(dm.ALIGNED_MEASURANDS)
        if self._transactions.transaction is not None:
            self._transactions.update("MeterValueClock", measurands, SAMPLE_CLOCK, at=due)
            return
        value = meter_value(self._context.port.snapshot(), measurands, SAMPLE_CLOCK, due)
        if value is not None:
            self._context.queue.put("MeterValues", {"evse_id": EVSE_ID, "meter_value": [value]})
            self._context.wake_sender()

    async def trigger(self, _: TriggerTarget) -> None:
        """The latest reading of every AlignedDataCtrlr.Measurands measurand (F06)."""
        measurands = self._model.measurands(dm.ALIGNED_MEASURANDS) or (ENERGY_IMPORT,)
        snapshot = self._context.port.snapshot()
        now = self._context.clock.now()
        value = meter_value(snapshot, measurands, READING_CONTEXT, now) or meter_value(
            snapshot, (ENERGY_IMPORT,), READING_CONTEXT, now
        )
        await self._context.send_live(request("MeterValues", evse_id=EVSE_ID, meter_value=[value]))

    async def trigger_transaction_event(self, _: TriggerTarget) -> None:
        """Updated, triggerReason Trigger, through the queue: its seqNo keeps its place."""
        measurands = self._model.measurands(dm.TX_UPDATED_MEASURANDS) or (ENERGY_IMPORT,)
        self._transactions.update("Trigger", measurands, READING_CONTEXT)
