"""Delivering the persistent queue to the CSMS: oldest first, each once.

Version-neutral (regulation 7 is the same in 1.6J and 2.0.1): the sender runs
while the charger is registered with the CSMS, sends the queue's head, and
removes it only when the CSMS has answered. A CALLERROR is retried
``attempts()`` times, ``retry_interval_s()`` apart (growing with each attempt),
then the message is dropped; an unanswered call is sent again later.

Critical security-log records reach the queue through
:class:`~ukscp.ocpp.blocks.security.events.SecurityEvents` (``before_run`` queues
those not queued yet); the sender marks each delivered when answered.

A version subclasses :class:`QueueSender` where its messages need more than
"send the stored payload" (1.6 fills in the transactionId the CSMS gave).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ukscp.clock import Alarm, Clock
from ukscp.ocpp.link import CsmsLink, CsmsRefused
from ukscp.ocpp.queue import MessageQueue, QueuedMessage
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)

_IDLE_S = 3600.0

BeforeSending = Callable[[QueuedMessage, dict[str, Any]], Awaitable[None]]
Request = Callable[[str, dict[str, Any]], Any]
"""Builds the library's message for ``(action, snake_case payload)``."""


class QueueSender:
    """Drains a :class:`~ukscp.ocpp.queue.MessageQueue` over a :class:`CsmsLink`."""

    def __init__(
        self,
        *,
        queue: MessageQueue,
        seclog: SecurityLog,
        clock: Clock,
        link: CsmsLink,
        request: Request,
        attempts: Callable[[], int],
        retry_interval_s: Callable[[], int],
        before_sending: BeforeSending | None = None,
        before_run: Callable[[], None] = lambda: None,
    ) -> None:
        self._queue = queue
        self._seclog = seclog
        self._clock = clock
        self._link = link
        self._request = request
        self._attempts = attempts
        self._retry_interval_s = retry_interval_s
        self._before_sending = before_sending
        self._before_run = before_run
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
        self._before_run()
        while True:
            message = self._queue.peek()
            if message is None:
                self._drained.set()
                await self._alarm.sleep(_IDLE_S)
                continue
            self._drained.clear()
            await self._deliver(message)

    def prepare(self, message: QueuedMessage) -> dict[str, Any] | None:
        """The payload to send for ``message``, or None to drop it unsent."""
        return dict(message.payload)

    def acknowledge(self, message: QueuedMessage, answer: Any) -> None:
        """The CSMS answered ``message``: remove it (a security event is marked delivered)."""
        if message.seclog_id is not None:
            # Marked before removal: a crash in between sends again, never loses.
            self._seclog.mark_delivered([message.seclog_id])
        self._queue.ack(message.id)

    async def _deliver(self, message: QueuedMessage) -> None:
        payload = self.prepare(message)
        if payload is None:
            self._queue.drop(message.id)
            return
        if self._before_sending is not None:
            await self._before_sending(message, payload)
        try:
            answer = await self._link.call(self._request(message.action, payload))
        except CsmsRefused as refused:
            await self._refused(message, refused)
            return
        except TimeoutError:
            _log.warning("%s unanswered: sending it again later", message.action)
            await self._clock.sleep(self._retry_interval_s())
            return
        self.acknowledge(message, answer)

    async def _refused(self, message: QueuedMessage, refused: CsmsRefused) -> None:
        attempts = self._queue.fail(message.id)
        limit = self._attempts()
        if attempts >= limit:
            _log.error("%s refused %d times (%s): dropped", message.action, attempts, refused)
            self._queue.drop(message.id)
            return
        _log.warning("%s refused (%s): attempt %d of %d", message.action, refused, attempts, limit)
        await self._clock.sleep(self._retry_interval_s() * attempts)
