"""Delivering the persistent queue to the CSMS: oldest first, each once, with real ids.

The sender runs while the charger is registered with the CSMS. It sends the
queue's head, and removes it only when the CSMS has answered. A StopTransaction
or MeterValues gets the transactionId the CSMS gave the (earlier delivered)
StartTransaction. A CALLERROR is retried TransactionMessageAttempts times,
TransactionMessageRetryInterval apart (growing), then the message is dropped.

It also moves critical security-log records into the queue (once each) as
SecurityEventNotifications, and marks them delivered when answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ukscp.clock import Alarm, Clock
from ukscp.ocpp.queue import MessageQueue, QueuedMessage
from ukscp.ocpp.v16 import configuration as cfg
from ukscp.ocpp.v16._lib import request
from ukscp.ocpp.v16.configuration import Configuration
from ukscp.ocpp.v16.link import CsmsLink, CsmsRefused
from ukscp.ocpp.v16.meter_values import ocpp_time
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)

_IDLE_S = 3600.0
_TECH_INFO_CHARS = 255  # SecurityEventNotification.techInfo is a CiString255
_NEEDS_TRANSACTION_ID = frozenset({"StopTransaction", "MeterValues"})

BeforeSending = Callable[[QueuedMessage, dict[str, Any]], Awaitable[None]]


def id_tag_status(info: Any) -> str:
    """The status of an IdTagInfo (a dict from the library, or an object)."""
    if isinstance(info, dict):
        return str(info.get("status", "Unknown"))
    return str(getattr(info, "status", "Unknown"))


class QueueSender:
    """Drains a :class:`~ukscp.ocpp.queue.MessageQueue` over a :class:`CsmsLink`."""

    def __init__(
        self,
        *,
        queue: MessageQueue,
        seclog: SecurityLog,
        config: Configuration,
        clock: Clock,
        link: CsmsLink,
        before_sending: BeforeSending | None = None,
    ) -> None:
        self._queue = queue
        self._seclog = seclog
        self._config = config
        self._clock = clock
        self._link = link
        self._before_sending = before_sending
        self._alarm = Alarm(clock)
        self._drained = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: the queue is not drained, and the sender should look."""
        self._drained.clear()
        self._alarm.wake()

    @property
    def drained(self) -> asyncio.Event:
        """Set while the queue is empty (as far as the sender last looked)."""
        return self._drained

    async def run(self) -> None:
        """Deliver until cancelled or the connection drops (``ConnectionClosed`` propagates)."""
        self.queue_security_events()
        while True:
            message = self._queue.peek()
            if message is None:
                self._drained.set()
                await self._alarm.sleep(_IDLE_S)
                continue
            self._drained.clear()
            await self._deliver(message)

    def queue_security_events(self) -> None:
        """Queue each critical security-log record once, as a SecurityEventNotification."""
        cursor = self._queue.seclog_cursor()
        fresh = [r for r in self._seclog.undelivered_critical() if r.id > cursor]
        if not fresh:
            return
        self._queue.put_security_events(
            (
                record.id,
                "SecurityEventNotification",
                {
                    "type": record.type,
                    "timestamp": ocpp_time(record.timestamp),
                    "tech_info": record.info[:_TECH_INFO_CHARS] or None,
                },
            )
            for record in fresh
        )
        self.wake()

    async def _deliver(self, message: QueuedMessage) -> None:
        payload = dict(message.payload)
        if message.tx_ref is not None and message.action in _NEEDS_TRANSACTION_ID:
            transaction_id = self._queue.transaction_id(message.tx_ref)
            if transaction_id is None:
                # Its StartTransaction was refused for good: the CSMS has no such transaction.
                _log.warning("dropping %s of a transaction the CSMS never started", message.action)
                self._queue.drop(message.id)
                return
            payload["transaction_id"] = transaction_id
        if self._before_sending is not None:
            await self._before_sending(message, payload)
        try:
            answer = await self._link.call(request(message.action, **payload))
        except CsmsRefused as refused:
            await self._refused(message, refused)
            return
        except TimeoutError:
            _log.warning("%s unanswered: sending it again later", message.action)
            await self._clock.sleep(self._config.int_value(cfg.TRANSACTION_MESSAGE_RETRY_INTERVAL))
            return
        self._acknowledge(message, answer)

    def _acknowledge(self, message: QueuedMessage, answer: Any) -> None:
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
            if message.seclog_id is not None:
                # Marked before removal: a crash in between sends again, never loses.
                self._seclog.mark_delivered([message.seclog_id])
            self._queue.ack(message.id)

    async def _refused(self, message: QueuedMessage, refused: CsmsRefused) -> None:
        attempts = self._queue.fail(message.id)
        limit = self._config.int_value(cfg.TRANSACTION_MESSAGE_ATTEMPTS)
        if attempts >= limit:
            _log.error("%s refused %d times (%s): dropped", message.action, attempts, refused)
            self._queue.drop(message.id)
            return
        _log.warning("%s refused (%s): attempt %d of %d", message.action, refused, attempts, limit)
        retry = self._config.int_value(cfg.TRANSACTION_MESSAGE_RETRY_INTERVAL)
        await self._clock.sleep(retry * attempts)
