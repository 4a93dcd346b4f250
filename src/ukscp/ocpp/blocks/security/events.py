"""Critical security-log records to the CSMS, each once, through the persistent queue.

Other parts of the charger (and other processes, a ``ukscp`` command on the
same log) write the security log directly; this follows it. A record is
queued once (the queue remembers the last record it took) and marked
delivered when the CSMS has answered (:class:`~ukscp.ocpp.sender.QueueSender`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ukscp.clock import Alarm, Clock
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.queue import MessageQueue
from ukscp.security.seclog import SecurityLog, SecurityRecord

SECURITY_EVENT = "SecurityEventNotification"
_TECH_INFO_CHARS = 255  # SecurityEventNotification.techInfo is a CiString255 in both versions


class SecurityEvents:
    """Queues the security log's critical records as SecurityEventNotifications."""

    def __init__(
        self,
        *,
        seclog: SecurityLog,
        queue: MessageQueue,
        clock: Clock,
        wake_sender: Callable[[], None],
    ) -> None:
        self._seclog = seclog
        self._queue = queue
        self._clock = clock
        self._wake_sender = wake_sender

    async def follow(self, poll_s: float) -> None:
        """Queue critical records as they are written, until cancelled.

        Each critical record wakes this at once; the poll every ``poll_s`` catches
        records another process wrote.
        """
        loop = asyncio.get_running_loop()
        alarm = Alarm(self._clock)

        def written(record: SecurityRecord) -> None:
            if record.critical:
                loop.call_soon_threadsafe(alarm.wake)  # the writer may be another thread

        unsubscribe = self._seclog.on_record(written)
        try:
            while True:
                self.queue_new()
                await alarm.sleep(poll_s)
        finally:
            unsubscribe()

    def queue_new(self) -> None:
        """Queue each critical record not queued before."""
        cursor = self._queue.seclog_cursor()
        fresh = [r for r in self._seclog.undelivered_critical() if r.id > cursor]
        if not fresh:
            return
        self._queue.put_security_events(
            (
                record.id,
                SECURITY_EVENT,
                {
                    "type": record.type,
                    "timestamp": ocpp_time(record.timestamp),
                    "tech_info": record.info[:_TECH_INFO_CHARS] or None,
                },
            )
            for record in fresh
        )
        self._wake_sender()
