"""The timed loops every OCPP client runs, whatever its version.

Each is a plain coroutine over the clock, an :class:`~ukscp.clock.Alarm` (so a
changed setting or a trigger can cut a wait short) and callables for what
differs by version: where the interval is configured and what is sent. They
know nothing of message shapes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from ukscp.clock import Alarm, Clock
from ukscp.ocpp.blocks.meter_values.readings import next_aligned
from ukscp.ocpp.link import CsmsLink, CsmsRefused

_log = logging.getLogger(__name__)

IDLE_S = 3600.0
"""How long a loop with nothing to do sleeps before looking again."""

S = TypeVar("S")


async def every(
    clock: Clock,
    alarm: Alarm,
    interval_s: Callable[[], int],
    tick: Callable[[], Awaitable[None]],
) -> None:
    """Run ``tick`` every ``interval_s()`` seconds (re-read each time; 0 or less: never).

    The first tick comes one interval after the start. Waking ``alarm`` makes
    the loop look at the interval again at once, so a shortened interval that
    is already over ticks now.
    """
    last = clock.monotonic()
    while True:
        interval = interval_s()
        remaining = last + interval - clock.monotonic()
        if interval > 0 and remaining <= 0:
            last = clock.monotonic()
            await tick()
            continue
        await alarm.sleep(remaining if interval > 0 else IDLE_S)


async def clock_aligned(
    clock: Clock,
    alarm: Alarm,
    interval_s: Callable[[], int],
    tick: Callable[[datetime], None],
) -> None:
    """Call ``tick(boundary)`` at each boundary of ``interval_s()`` counted from midnight.

    Waking ``alarm`` (the interval changed) starts the wait again for the new
    boundary; a boundary is only ticked once the clock has reached it.
    """
    while True:
        interval = interval_s()
        if interval <= 0:
            await alarm.sleep(IDLE_S)
            continue
        now = clock.now()
        due = next_aligned(now, interval)
        await alarm.sleep((due - now).total_seconds())
        if clock.now() < due:
            continue  # woken early: the interval changed
        tick(due)


async def report_status(
    link: CsmsLink,
    dirty: asyncio.Event,
    statuses: Callable[[], Mapping[int, S]],
    message: Callable[[int, S], Any],
) -> None:
    """StatusNotification for each connector at first and whenever its status changes.

    ``statuses`` gives the status now by connector (what counts as a status is
    the version's); ``dirty`` is set by whatever may have changed one.
    """
    sent: dict[int, S] = {}
    while True:
        dirty.clear()
        for connector_id, current in statuses().items():
            if connector_id in sent and sent[connector_id] == current:
                continue
            try:
                await link.call(message(connector_id, current))
            except (CsmsRefused, TimeoutError) as exc:
                _log.warning("StatusNotification refused: %s", exc)
            # Even if refused: do not loop on a CSMS that refuses it.
            sent[connector_id] = current
        if not dirty.is_set():
            await dirty.wait()


async def register(
    link: CsmsLink,
    clock: Clock,
    alarm: Alarm,
    message: Any,
    *,
    retry_s: float,
    accepted: Callable[[int], None],
) -> None:
    """BootNotification until Accepted, waiting the interval the CSMS gives in between.

    Unanswered, it is sent again after ``retry_s``; Pending or Rejected, after
    the answer's interval (``retry_s`` if none). Nothing else is sent until it
    is accepted, except what is triggered: waking ``alarm`` (a triggered
    BootNotification) cuts the wait short. ``accepted`` gets the heartbeat
    interval of the accepting answer.
    """
    while True:
        try:
            answer = await link.call(message)
        except (CsmsRefused, TimeoutError) as exc:
            _log.warning("BootNotification not answered: %s", exc)
            await clock.sleep(retry_s)
            continue
        status, interval = str(answer.status), int(answer.interval)
        if status == "Accepted":
            _log.info("registered with the CSMS (heartbeat every %d s)", interval)
            accepted(interval)
            return
        wait = interval if interval > 0 else retry_s
        _log.info("BootNotification %s: trying again in %s s", status, wait)
        await alarm.sleep(wait)
