"""The OCPP transaction open on the connector, kept across restarts.

A transaction is the CSMS's view of a charging session: it begins when the EV
is plugged in (or when the CSMS starts one remotely on a plugged-in EV) and
ends at unplug, on the CSMS's RemoteStopTransaction, or on a reset. It is
persisted so that after a restart the charger can end the one that was open
(StopTransaction with reason PowerLoss, or Reboot after a clean stop).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ukscp.ocpp.blocks.transactions.stored import StoredTransaction
from ukscp.ocpp.port import KeyValueStore

_KEY = "ocpp.v16.open_transaction"


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    """A transaction that has begun and not ended.

    ``ref`` is the local reference that stands for the transactionId until the
    CSMS has answered the StartTransaction.
    """

    ref: str
    session_id: str | None
    id_tag: str
    meter_start_wh: float
    started_at: datetime
    end_reason: str | None = None  # set on a clean stop: how to end it at the next start

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        return {
            "ref": self.ref,
            "session_id": self.session_id,
            "id_tag": self.id_tag,
            "meter_start_wh": self.meter_start_wh,
            "started_at": self.started_at.isoformat(),
            "end_reason": self.end_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpenTransaction:
        """From :meth:`to_json`."""
        return cls(
            ref=str(data["ref"]),
            session_id=data.get("session_id"),
            id_tag=str(data["id_tag"]),
            meter_start_wh=float(data["meter_start_wh"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            end_reason=data.get("end_reason"),
        )


class TransactionState(StoredTransaction[OpenTransaction]):
    """The open transaction, if any, persisted in the settings store."""

    def __init__(self, store: KeyValueStore) -> None:
        super().__init__(store, _KEY, OpenTransaction.from_json)

    def begin(
        self, session_id: str | None, id_tag: str, meter_start_wh: float, at: datetime
    ) -> OpenTransaction:
        """Open a transaction (ValueError if one is open: one connector, one transaction)."""
        return self._open(
            OpenTransaction(
                ref=uuid.uuid4().hex,
                session_id=session_id,
                id_tag=id_tag,
                meter_start_wh=meter_start_wh,
                started_at=at,
            )
        )


def start_payload(connector_id: int, id_tag: str, meter_wh: float, at: str) -> dict[str, Any]:
    """StartTransaction's fields (``at`` already in OCPP's time format)."""
    return {
        "connector_id": connector_id,
        "id_tag": id_tag,
        "meter_start": round(meter_wh),
        "timestamp": at,
    }


def stop_payload(id_tag: str, meter_wh: float, at: str, reason: str) -> dict[str, Any]:
    """StopTransaction's fields but the transactionId (filled in when it is sent).

    The transaction data repeats the import register with context
    Transaction.End, so a CSMS that reads only MeterValues-style data has it.
    """
    register = {
        "value": str(round(meter_wh)),
        "context": "Transaction.End",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": "Wh",
    }
    return {
        "meter_stop": round(meter_wh),
        "timestamp": at,
        "reason": reason,
        "id_tag": id_tag,
        "transaction_data": [{"timestamp": at, "sampled_value": [register]}],
    }
