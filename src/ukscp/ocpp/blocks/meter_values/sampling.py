"""When meter values are taken: every sampled interval in a transaction, and clock-aligned.

Both intervals are settings the CSMS may change (1.6 MeterValueSampleInterval
and ClockAlignedDataInterval; 2.0.1 SampledDataCtrlr.TxUpdatedInterval and
AlignedDataCtrlr.Interval); they are re-read at each tick, and a change wakes
the loop at once (0 switches a loop off).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ukscp.clock import Alarm, Clock
from ukscp.ocpp.background import guard
from ukscp.ocpp.loops import clock_aligned, every
from ukscp.ocpp.port import ChargerPort
from ukscp.ocpp.queue import MessageQueue


@dataclass(frozen=True, slots=True)
class MeterContext:
    """What a version's meter values use of the client that owns them."""

    port: ChargerPort
    clock: Clock
    queue: MessageQueue
    """Sampled and aligned values are written here first (an outage loses none)."""
    wake_sender: Callable[[], None]
    send_live: Callable[[Any], Awaitable[Any]]
    """Send a triggered reading now, best effort."""


class Sampling:
    """The two meter-value loops of a client, and their alarms."""

    def __init__(
        self,
        clock: Clock,
        *,
        sampled_interval_s: Callable[[], int],
        aligned_interval_s: Callable[[], int],
        sample: Callable[[], None],
        aligned: Callable[[datetime], None],
        transaction_open: Callable[[], bool],
    ) -> None:
        self._clock = clock
        self._sampled_interval_s = sampled_interval_s
        self._aligned_interval_s = aligned_interval_s
        self._sample = sample
        self._aligned = aligned
        self._transaction_open = transaction_open
        self._sampled_alarm = Alarm(clock)
        self._aligned_alarm = Alarm(clock)

    async def run(self) -> None:
        """Both loops, until cancelled; a failure of one is logged and ends only that one."""
        await asyncio.gather(guard(self._sampled_loop), guard(self._aligned_loop))

    def sampled_interval_changed(self) -> None:
        """The sampled interval was set: look at it again now."""
        self._sampled_alarm.wake()

    def aligned_interval_changed(self) -> None:
        """The clock-aligned interval was set: wait for the new boundary."""
        self._aligned_alarm.wake()

    async def _sampled_loop(self) -> None:
        async def tick() -> None:
            if self._transaction_open():
                self._sample()

        await every(self._clock, self._sampled_alarm, self._sampled_interval_s, tick)

    async def _aligned_loop(self) -> None:
        await clock_aligned(
            self._clock, self._aligned_alarm, self._aligned_interval_s, self._aligned
        )
