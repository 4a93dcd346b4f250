"""The OCPP 2.0.1 transaction open on EVSE 1, kept across restarts, and its event payloads.

In 2.0.1 the charger names its transactions (transactionId, a string) and
numbers every TransactionEvent of a transaction with seqNo, from 0, so the
CSMS can tell that none is missing (2.0.1 part 2 E01-E07). Both are persisted
with the transaction: a restart continues the numbering, and a transaction
open when the charger went down is ended at the next start (stoppedReason
PowerLoss, or Reboot after a clean stop).

A transaction is the CSMS's view of a charging session: it begins at plug-in
(TxStartPoint EVConnected) or when the CSMS starts one on a plugged-in EV, and
ends at unplug (TxStopPoint EVConnected), on RequestStopTransaction, or on a
reset. Its ``ref`` is its transactionId, so charging profiles bind to it at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ukscp.ocpp.blocks.transactions.stored import StoredTransaction
from ukscp.ocpp.port import CONNECTOR_ID, EVSE_ID, KeyValueStore

_KEY = "ocpp.v201.open_transaction"


@dataclass(frozen=True, slots=True)
class IdToken:
    """Who a transaction is for: an IdTokenType's value and type (the owner's is Local)."""

    value: str
    type: str = "Local"


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    """A transaction that has begun and not ended."""

    transaction_id: str
    session_id: str | None
    id_token: str
    started_at: datetime
    identifier_type: str = "Local"
    next_seq_no: int = 0
    charging_state: str | None = None  # as last reported
    remote_start_id: int | None = None
    end_reason: str | None = None  # set on a clean stop: how to end it at the next start

    @property
    def ref(self) -> str:
        """What charging profiles bind to: the transactionId itself."""
        return self.transaction_id

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        return {
            "transaction_id": self.transaction_id,
            "session_id": self.session_id,
            "id_token": self.id_token,
            "identifier_type": self.identifier_type,
            "started_at": self.started_at.isoformat(),
            "next_seq_no": self.next_seq_no,
            "charging_state": self.charging_state,
            "remote_start_id": self.remote_start_id,
            "end_reason": self.end_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpenTransaction:
        """From :meth:`to_json`."""
        return cls(
            transaction_id=str(data["transaction_id"]),
            session_id=data.get("session_id"),
            id_token=str(data["id_token"]),
            identifier_type=str(data.get("identifier_type", "Local")),
            started_at=datetime.fromisoformat(data["started_at"]),
            next_seq_no=int(data.get("next_seq_no", 0)),
            charging_state=data.get("charging_state"),
            remote_start_id=data.get("remote_start_id"),
            end_reason=data.get("end_reason"),
        )


class TransactionState(StoredTransaction[OpenTransaction]):
    """The open transaction, if any, persisted in the settings store."""

    def __init__(self, store: KeyValueStore) -> None:
        super().__init__(store, _KEY, OpenTransaction.from_json)

    def begin(
        self, session_id: str | None, token: IdToken, at: datetime, remote_start_id: int | None
    ) -> OpenTransaction:
        """Open a transaction (ValueError if one is open: one EVSE, one transaction)."""
        return self._open(
            OpenTransaction(
                # A UUID: unique across restarts and chargers with no counter to keep
                # (36 chars max).
                transaction_id=uuid.uuid4().hex,
                session_id=session_id,
                id_token=token.value,
                identifier_type=token.type,
                started_at=at,
                remote_start_id=remote_start_id,
            )
        )

    def take_seq_no(self, charging_state: str | None = None) -> int:
        """The seqNo for the next event of the open transaction (persisted before use)."""
        current = self._current
        if current is None:
            raise ValueError("no transaction is open")
        state = charging_state if charging_state is not None else current.charging_state
        self._save(replace(current, next_seq_no=current.next_seq_no + 1, charging_state=state))
        return current.next_seq_no

    def set_remote_start(self, remote_start_id: int, token: IdToken) -> None:
        """The CSMS's RequestStartTransaction, for ``token``, now stands behind the transaction."""
        if self._current is not None:
            self._save(
                replace(
                    self._current,
                    remote_start_id=remote_start_id,
                    id_token=token.value,
                    identifier_type=token.type,
                )
            )


def id_token(transaction: OpenTransaction) -> dict[str, Any]:
    """The IdTokenType of ``transaction``: the owner's own (Local), or the CSMS's."""
    return {"id_token": transaction.id_token, "type": transaction.identifier_type}


def transaction_event(
    *,
    event_type: str,
    at: str,
    trigger_reason: str,
    seq_no: int,
    transaction: OpenTransaction,
    charging_state: str | None,
    offline: bool,
    meter_value: dict[str, Any] | None = None,
    stopped_reason: str | None = None,
    with_evse: bool = False,
    with_id_token: bool = False,
) -> dict[str, Any]:
    """A TransactionEventRequest's fields (snake_case; ``at`` in OCPP's time format).

    The EVSE and the idToken go in the first event that needs them (Started,
    or the event a remote start makes), as 2.0.1 E01.FR.16 / E03 ask.
    """
    info: dict[str, Any] = {"transaction_id": transaction.transaction_id}
    if charging_state is not None:
        info["charging_state"] = charging_state
    if stopped_reason is not None:
        info["stopped_reason"] = stopped_reason
    if transaction.remote_start_id is not None and trigger_reason == "RemoteStart":
        info["remote_start_id"] = transaction.remote_start_id
    payload: dict[str, Any] = {
        "event_type": event_type,
        "timestamp": at,
        "trigger_reason": trigger_reason,
        "seq_no": seq_no,
        "transaction_info": info,
    }
    if offline:
        payload["offline"] = True
    if meter_value is not None:
        payload["meter_value"] = [meter_value]
    if with_evse:
        payload["evse"] = {"id": EVSE_ID, "connector_id": CONNECTOR_ID}
    if with_id_token:
        payload["id_token"] = id_token(transaction)
    return payload
