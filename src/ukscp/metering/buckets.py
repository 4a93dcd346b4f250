"""Time arithmetic of the metering store: epoch conversions, buckets, local days, retention.

Pure functions, no I/O and no clock. Times inside the store are UTC epoch
integers (milliseconds for raw samples, seconds for rollups); the owner sees
Europe/London wall time, so day buckets and the 13-month horizon are computed
on the local calendar and converted back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from ukscp.clock import LONDON

Resolution = Literal["1s", "1m", "1h", "1d"]
RESOLUTIONS: tuple[Resolution, ...] = get_args(Resolution)

MINUTE_S = 60
HOUR_S = 3600
_MS = 1000


# The times a history query may name: from the Unix epoch (the store counts from it)
# to a year no charger will see, far enough inside datetime's range that spans and
# time-zone conversions around it cannot overflow.
EARLIEST_QUERY_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_QUERY_TIME = datetime(3000, 1, 1, tzinfo=UTC)


def check_query_time(name: str, when: datetime) -> datetime:
    """``when`` if it is an aware time a history query may name; ValueError in words."""
    if when.tzinfo is None:
        raise ValueError("metering times must be timezone-aware")
    if not EARLIEST_QUERY_TIME <= when < LATEST_QUERY_TIME:
        raise ValueError(
            f"{name} must be from {EARLIEST_QUERY_TIME:%Y-%m-%d} up to "
            f"{LATEST_QUERY_TIME:%Y-%m-%d} (UTC), got {when.isoformat()}"
        )
    return when


def check_resolution(resolution: str) -> Resolution:
    """``resolution`` if it is one of :data:`RESOLUTIONS`; ValueError otherwise."""
    for known in RESOLUTIONS:
        if resolution == known:
            return known
    raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime."""
    if when.tzinfo is None:
        raise ValueError("metering times must be timezone-aware")
    # Integer arithmetic on the timedelta: float timestamps lose the last millisecond
    # for some values, and a sample must land in the same second every time.
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _MS + delta.microseconds // _MS


def epoch_s(when: datetime) -> int:
    """Whole seconds since the Unix epoch (floored) of an aware datetime."""
    return epoch_ms(when) // _MS


def local_from_ms(ms: int, tz: ZoneInfo = LONDON) -> datetime:
    """The local wall time of an epoch in milliseconds."""
    return datetime.fromtimestamp(ms / _MS, tz)


def local_from_s(seconds: int, tz: ZoneInfo = LONDON) -> datetime:
    """The local wall time of an epoch in seconds."""
    return datetime.fromtimestamp(seconds, tz)


def minute_of(ms: int) -> int:
    """Epoch seconds of the start of the minute containing ``ms``."""
    return ms // (MINUTE_S * _MS) * MINUTE_S


def hour_of(seconds: int) -> int:
    """Epoch seconds of the start of the UTC hour containing ``seconds``.

    Europe/London is always a whole number of hours from UTC, so UTC hours are
    local hours too.
    """
    return seconds // HOUR_S * HOUR_S


def local_midnight(seconds: int, tz: ZoneInfo = LONDON) -> int:
    """Epoch seconds of the local midnight that starts the day containing ``seconds``."""
    day = datetime.fromtimestamp(seconds, tz).date()
    return _midnight(day, tz)


def local_day_starts(start_s: int, end_s: int, tz: ZoneInfo = LONDON) -> list[int]:
    """Local midnights from the one starting the day of ``start_s`` up to and including
    the first one at or after ``end_s``: the boundaries of every day touching the range.

    Consecutive boundaries are 23, 24 or 25 hours apart around clock changes.
    """
    day = datetime.fromtimestamp(start_s, tz).date()
    bounds = [_midnight(day, tz)]
    while bounds[-1] < end_s:
        day += timedelta(days=1)
        bounds.append(_midnight(day, tz))
    return bounds


def _midnight(day: date, tz: ZoneInfo) -> int:
    # UK clocks change at 01:00 UTC, so local midnight always exists and is unique;
    # the check keeps us honest should the zone ever be one where it is not.
    local = datetime.combine(day, time(0), tzinfo=tz)
    seconds = epoch_s(local)
    if seconds % HOUR_S:
        raise ValueError(f"{tz.key} midnight is not on a UTC hour; day buckets need that")
    return seconds


def months_before(now: datetime, months: int, tz: ZoneInfo = LONDON) -> datetime:
    """The local wall time ``months`` calendar months before ``now``.

    The day of the month is clamped to the target month's length (31 May minus
    3 months is 28/29 February). A wall time that the clock change makes
    ambiguous or skipped resolves to the earlier instant, so a retention horizon
    built on it never keeps less than asked for.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if months < 0:
        raise ValueError(f"months must be >= 0, got {months!r}")
    local = now.astimezone(tz)
    index = local.year * 12 + (local.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, _days_in_month(year, month))
    wall = local.replace(year=year, month=month, day=day, tzinfo=None)
    candidates = [wall.replace(tzinfo=tz, fold=fold) for fold in (0, 1)]
    return min(candidates, key=epoch_ms).astimezone(tz)


def _days_in_month(year: int, month: int) -> int:
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    return (first_of_next - timedelta(days=1)).day
