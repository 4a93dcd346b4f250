"""Placing one profile's schedule on the time line.

A placed schedule is a list of :class:`Segment` s: half-open intervals of real
time [start, end) with the schedule period in force, already cut to the
profile's validity window (validFrom/validTo) and to the schedule's duration.
Between its segments a profile imposes nothing, and a lower stack level shows
through (see :mod:`.composite`).

Where each kind starts (OCPP 1.6 §3.13, §7.13; 2.0.1 K01, ChargingScheduleType):

* Absolute: at startSchedule. A 1.6 Absolute profile without startSchedule
  starts, like a Relative one, with the transaction.
* Relative: at the start of the transaction; with no transaction, at the
  *anchor* the caller gives (the start of a composite schedule), or, with no
  anchor, "floating": every instant is the schedule's start, so the profile
  gives its first period throughout.
* Recurring: at startSchedule, then every day or week after it, in
  Europe/London wall-clock time. OCPP leaves DST open (2.1 added
  ``useLocalTime`` for it); a daily profile starting at 00:00 is meant to
  start at midnight on the charger's clock in summer as in winter, so the
  recurrence, the period starts and the duration are all laid out in wall
  time: a period at startPeriod 25200 starts at 07:00 local every day,
  including 2026-03-29 (23 h) and 2026-10-25 (25 h). Wall times that do not
  exist or exist twice follow :mod:`.local_time`. A period reaching past the
  next recurrence is cut off by it. The recurrence does not apply before
  startSchedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ukscp.ocpp.smart_charging.local_time import to_wall, wall_to_instant
from ukscp.ocpp.smart_charging.model import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    Recurrency,
    SchedulePeriod,
)

# Open ends of the time line; far enough to be never, near enough for arithmetic.
BEGINNING = datetime(1900, 1, 1, tzinfo=UTC)
END = datetime(9000, 1, 1, tzinfo=UTC)

_RECURRENCE = {Recurrency.DAILY: timedelta(days=1), Recurrency.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class Segment:
    """A schedule period of one profile in force over [start, end), in UTC."""

    start: datetime
    end: datetime
    period: SchedulePeriod
    profile: ChargingProfile


def uses_transaction_start(profile: ChargingProfile) -> bool:
    """Whether the schedule starts with the transaction rather than at a set time."""
    return profile.kind is Kind.RELATIVE or (
        profile.kind is Kind.ABSOLUTE and profile.schedule.start_schedule is None
    )


def place(
    profile: ChargingProfile,
    window_start: datetime,
    window_end: datetime,
    *,
    anchor: datetime | None,
) -> list[Segment]:
    """The segments of ``profile`` that may overlap [window_start, window_end), in order.

    ``anchor`` is where a transaction-relative schedule starts (the transaction
    start, or the composite's start when there is none); None places it
    floating (see the module docstring). Non-recurring profiles give all their
    segments whatever the window; recurring ones only the recurrences that
    overlap it.
    """
    schedule = profile.schedule
    if profile.kind is Kind.RECURRING:
        raw = _recurring(profile, window_start, window_end)
    elif uses_transaction_start(profile):
        if anchor is None:
            raw = [(BEGINNING, END, schedule.periods[0])]
        else:
            raw = _linear(schedule, anchor)
    else:
        # Absolute with a startSchedule (the only case left).
        assert schedule.start_schedule is not None
        raw = _linear(schedule, schedule.start_schedule)
    valid_from = profile.valid_from or BEGINNING
    valid_to = profile.valid_to or END
    placed: list[Segment] = []
    for start, end, period in raw:
        start, end = max(start, valid_from), min(end, valid_to)
        if start < end:
            placed.append(Segment(start, end, period, profile))
    return placed


def _linear(
    schedule: ChargingSchedule, origin: datetime
) -> list[tuple[datetime, datetime, SchedulePeriod]]:
    """Periods in elapsed seconds from ``origin``, cut at the schedule's duration."""
    end = END if schedule.duration_s is None else origin + timedelta(seconds=schedule.duration_s)
    starts = [origin + timedelta(seconds=p.start_period_s) for p in schedule.periods]
    raw: list[tuple[datetime, datetime, SchedulePeriod]] = []
    for index, period in enumerate(schedule.periods):
        until = starts[index + 1] if index + 1 < len(starts) else END
        raw.append((starts[index], min(until, end), period))
    return raw


def _recurring(
    profile: ChargingProfile, window_start: datetime, window_end: datetime
) -> list[tuple[datetime, datetime, SchedulePeriod]]:
    """Recurrences overlapping the window, laid out in Europe/London wall time."""
    schedule = profile.schedule
    assert schedule.start_schedule is not None and profile.recurrency is not None
    first = schedule.start_schedule
    step = _RECURRENCE[profile.recurrency]
    first_wall = to_wall(first)
    # One recurrence early, so a DST shift cannot make us miss the one in force.
    index = max(0, (to_wall(window_start) - first_wall) // step - 1)
    raw: list[tuple[datetime, datetime, SchedulePeriod]] = []
    while True:
        start_wall = first_wall + index * step
        if wall_to_instant(start_wall) >= window_end:
            return raw
        end = wall_to_instant(start_wall + step)
        if schedule.duration_s is not None:
            end = min(end, wall_to_instant(start_wall + timedelta(seconds=schedule.duration_s)))
        walls = [start_wall + timedelta(seconds=p.start_period_s) for p in schedule.periods]
        for at, period in enumerate(schedule.periods):
            begin = wall_to_instant(walls[at])
            until = wall_to_instant(walls[at + 1]) if at + 1 < len(walls) else end
            # Recurrence does not reach back before startSchedule.
            begin, until = max(begin, first), min(until, end)
            if begin < until:
                raw.append((begin, until, period))
        index += 1
