"""The OCPP 1.6 side of delivering the queue: transactionIds the CSMS assigns.

OCPP 1.6 numbers transactions at the CSMS. A StopTransaction or MeterValues
gets the transactionId the CSMS gave the (earlier delivered) StartTransaction;
one whose start was refused for good is dropped. Retries follow
TransactionMessageAttempts / TransactionMessageRetryInterval. Everything else
is the version-neutral :class:`~ukscp.ocpp.sender.QueueSender`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ukscp.clock import Clock
from ukscp.ocpp.blocks.settings import configuration16 as cfg
from ukscp.ocpp.blocks.settings.configuration16 import Configuration
from ukscp.ocpp.link import CsmsLink
from ukscp.ocpp.queue import MessageQueue, QueuedMessage
from ukscp.ocpp.sender import BeforeSending, QueueSender
from ukscp.ocpp.v16._lib import request
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)

_NEEDS_TRANSACTION_ID = frozenset({"StopTransaction", "MeterValues"})


def id_tag_status(info: Any) -> str:
    """The status of an IdTagInfo (a dict from the library, or an object)."""
    if isinstance(info, dict):
        return str(info.get("status", "Unknown"))
    return str(getattr(info, "status", "Unknown"))


class QueueSender16(QueueSender):
    """The queue's sender with OCPP 1.6's transactionId bookkeeping."""

    def __init__(
        self,
        *,
        queue: MessageQueue,
        seclog: SecurityLog,
        config: Configuration,
        clock: Clock,
        link: CsmsLink,
        before_sending: BeforeSending | None = None,
        before_run: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(
            queue=queue,
            seclog=seclog,
            clock=clock,
            link=link,
            request=lambda action, payload: request(action, **payload),
            attempts=lambda: config.int_value(cfg.TRANSACTION_MESSAGE_ATTEMPTS),
            retry_interval_s=lambda: config.int_value(cfg.TRANSACTION_MESSAGE_RETRY_INTERVAL),
            before_sending=before_sending,
            before_run=before_run,
        )

    def prepare(self, message: QueuedMessage) -> dict[str, Any] | None:
        """Fill in the transactionId of a StopTransaction or MeterValues."""
        payload = dict(message.payload)
        if message.tx_ref is not None and message.action in _NEEDS_TRANSACTION_ID:
            transaction_id = self._queue.transaction_id(message.tx_ref)
            if transaction_id is None:
                # Its StartTransaction was refused for good: the CSMS has no such transaction.
                _log.warning("dropping %s of a transaction the CSMS never started", message.action)
                return None
            payload["transaction_id"] = transaction_id
        return payload

    def acknowledge(self, message: QueuedMessage, answer: Any) -> None:
        """Record the transactionId a StartTransaction got; forget it after the stop."""
        if message.action == "StartTransaction":
            self._queue.ack(message.id, transaction_id=int(answer.transaction_id))
            status = id_tag_status(answer.id_tag_info)
            if status != "Accepted":
                # StopTransactionOnInvalidId is false: the owner's charger keeps charging.
                _log.warning("the CSMS answered StartTransaction with id tag %s", status)
        elif message.action == "StopTransaction":
            self._queue.ack(message.id)
            if message.tx_ref is not None:
                self._queue.forget_transaction(message.tx_ref)
        else:
            super().acknowledge(message, answer)
