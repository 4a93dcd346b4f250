"""The one source of time for the whole charger.

Nothing else in ukscp calls ``time``, ``datetime.now`` or ``asyncio.sleep``: the
charger runs on :class:`RealClock`, tests and the fleet simulator on
:class:`VirtualClock`, where a 600 s delay takes no real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    """Wall time (Europe/London), monotonic time and sleeping."""

    def now(self) -> datetime:
        """Current wall time, timezone-aware, in Europe/London."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class RealClock:
    """The system's clocks."""

    def now(self) -> datetime:
        """Current wall time in Europe/London."""
        return datetime.now(LONDON)

    def monotonic(self) -> float:
        """The system's monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that only moves when told to, for tests and simulation.

    Sleepers wake in deadline order as :meth:`advance` moves time forward; each
    woken task gets to run (and to start new sleeps) before time moves further.
    """

    # Enough loop iterations for a woken task to finish a chain of awaits that
    # does no real I/O before time moves on.
    _SETTLE_ROUNDS = 50

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock start time must be timezone-aware")
        self._epoch = start.astimezone(UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """Virtual wall time in Europe/London."""
        return (self._epoch + timedelta(seconds=self._elapsed)).astimezone(LONDON)

    def monotonic(self) -> float:
        """Virtual seconds since the clock was made."""
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time has moved ``seconds`` forward."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._seq), future))
        await future

    async def settle(self) -> None:
        """Let every runnable task run until it waits again."""
        for _ in range(self._SETTLE_ROUNDS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in deadline order."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        target = self._elapsed + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._elapsed = max(self._elapsed, deadline)
            if not future.done():
                future.set_result(None)
            await self.settle()
        self._elapsed = target
        await self.settle()

    def set_wall_time(self, when: datetime) -> None:
        """Jump the wall clock (as an NTP correction would); monotonic time is unchanged."""
        if when.tzinfo is None:
            raise ValueError("wall time must be timezone-aware")
        self._epoch = when.astimezone(UTC) - timedelta(seconds=self._elapsed)


class Alarm:
    """A sleep on a :class:`Clock` that another task can cut short.

    The loops of the charger (EVSE polling, metering, charging hours) sleep
    until their next deadline but must react at once to a stop or to an
    owner's action: :meth:`wake` ends the current sleep early, without an
    exception, and a cancellation of the sleeping task itself still propagates.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._sleeper: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` on the clock, or until :meth:`wake`."""
        self._sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await self._sleeper
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the sleeping task itself was cancelled, not just woken
        finally:
            self._sleeper = None

    def wake(self) -> None:
        """End the current sleep now (no effect when nothing sleeps)."""
        if self._sleeper is not None and not self._sleeper.done():
            self._sleeper.cancel()
