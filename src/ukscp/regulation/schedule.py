"""Charging hours for the default mode of regulation 10: the pure core.

A :class:`Schedule` is a set of weekly :class:`Window` s in Europe/London local
time. Each window names days of the week and a start and end time on the
whole-minute grid; it may cross midnight (``Mon 22:00 -> Tue 08:00`` is the
window ``days={Mon}, start=22:00, end=08:00``). An end of ``00:00`` or ``24:00``
is the midnight that ends the start day.

Three modes are kept apart on purpose, because they mean different things to
the owner and to the regulation:

* ``default``: the pre-set off-peak hours (:data:`DEFAULT_WINDOWS`), charging
  allowed outside the weekday peaks 08:00-11:00 and 16:00-22:00;
* ``custom``: hours the owner set. A custom schedule with no windows is legal
  and means "no charging hours set": the schedule never allows charging and the
  owner charges with a boost only;
* ``removed``: the owner removed the default mode: charge at any time.

There is no clock, no I/O and no global state here; :func:`allowed_at` and
:func:`next_boundary` are functions of (schedule, instant).

Daylight saving time (what a boundary inside the changing hour means):

* Spring (e.g. 2026-03-29, clocks go 01:00 GMT -> 02:00 BST; wall times
  01:00-01:59 never happen). The state at every instant is the state of its
  wall-clock reading, so every boundary at or after 01:00 and up to 02:00 takes
  effect at the jump, the instant the clock reads 02:00 BST. A window lying
  wholly inside the missing hour does not happen that day.
* Autumn (e.g. 2026-10-25, clocks go 02:00 BST -> 01:00 GMT; wall times
  01:00-01:59 happen twice). Each boundary takes effect once, on the first pass
  (BST). Through the second pass (GMT) the state stands still at what it was
  at the end of the first pass (01:59 BST); a boundary at exactly 02:00 takes
  effect at 02:00 GMT, the one instant the clock reads 02:00. So no window
  starts or ends twice, and the state never flaps across the repeated hour.

Bank holidays are weekdays for this purpose: the regulation names weekdays.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum, StrEnum
from typing import Any, Final

from ukscp.clock import LONDON

__all__ = [
    "ALL_DAYS",
    "DEFAULT_WINDOWS",
    "MAX_WINDOWS",
    "MINUTES_PER_DAY",
    "MINUTES_PER_WEEK",
    "WEEKDAYS",
    "WEEKEND",
    "Schedule",
    "ScheduleMode",
    "Weekday",
    "Window",
    "allowed_at",
    "next_boundary",
    "schedule_from_json",
    "validate_windows",
    "windows_from_json",
]

MINUTES_PER_DAY: Final = 24 * 60
MINUTES_PER_WEEK: Final = 7 * MINUTES_PER_DAY
# Validating input is a safety duty (reg 8); no sensible week needs more windows.
MAX_WINDOWS: Final = 64

_ONE_MINUTE: Final = timedelta(minutes=1)
# Enough days ahead of an instant to see a change of state whatever DST does: a
# non-constant weekly schedule changes state in every DST-free week, and no two
# consecutive weeks both contain a clock change.
_SEARCH_DAYS: Final = 23


class Weekday(IntEnum):
    """A day of the week, numbered as :meth:`datetime.weekday` does (Monday = 0)."""

    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6

    @property
    def short(self) -> str:
        """Three-letter name, e.g. ``Mon``."""
        return self.name.capitalize()

    @property
    def long(self) -> str:
        """Full English name, e.g. ``Monday``."""
        return _LONG_NAMES[self.value]

    @property
    def code(self) -> str:
        """The name used in JSON, e.g. ``mon``."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: Weekday | str) -> Weekday:
        """A day from a :class:`Weekday` or a name (``mon`` or ``monday``, any case)."""
        if isinstance(value, Weekday):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            for day in cls:
                if key in (day.code, day.long.lower()):
                    return day
        raise ValueError(
            f"{value!r} is not a day of the week (use mon, tue, wed, thu, fri, sat or sun)"
        )


_LONG_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

WEEKDAYS: Final = frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI})
WEEKEND: Final = frozenset({Weekday.SAT, Weekday.SUN})
ALL_DAYS: Final = WEEKDAYS | WEEKEND

_HHMM: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_minute(value: time | str, *, what: str, end: bool) -> int:
    """Minutes after midnight of a start or end time; ``end`` allows ``24:00``."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError(f"{what} must be a Europe/London local time without a time zone")
        if value.second or value.microsecond:
            raise ValueError(
                f"{what} {value.isoformat()} is not on the whole-minute grid (seconds must be 0)"
            )
        return value.hour * 60 + value.minute
    if isinstance(value, str):
        if end and value == "24:00":
            return MINUTES_PER_DAY
        match = _HHMM.fullmatch(value)
        if match is None:
            hint = " (or 24:00)" if end else ""
            raise ValueError(f"{what} must be a time as HH:MM{hint}, got {value!r}")
        return int(match.group(1)) * 60 + int(match.group(2))
    raise ValueError(f"{what} must be a time as HH:MM, got {value!r}")


def _days_label(days: Iterable[Weekday]) -> str:
    ordered = sorted(days)
    runs: list[list[Weekday]] = []
    for day in ordered:
        if runs and runs[-1][-1] + 1 == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0].short}-{run[-1].short}")
        else:
            parts.extend(day.short for day in run)
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Window:
    """Charging allowed on each of ``days`` from ``start`` to ``end`` (local time).

    ``start`` is minutes after midnight, 0..1439; ``end`` is minutes after
    midnight, 1..1440 (1440 = the midnight ending the start day). When ``end``
    is before ``start`` the window crosses midnight and ends on the next day.
    Build windows with :meth:`of` or :meth:`from_json`, which take ``HH:MM``.
    """

    days: frozenset[Weekday]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a window needs at least one day of the week")
        if not all(isinstance(day, Weekday) for day in self.days):
            raise ValueError(f"window days must be Weekday values, got {sorted(self.days)!r}")
        if not 0 <= self.start < MINUTES_PER_DAY:
            raise ValueError(f"window start must be 00:00..23:59, got minute {self.start!r}")
        if not 0 < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"window end must be 00:01..24:00, got minute {self.end!r}")
        if self.start == self.end:
            raise ValueError(
                f"window {self.label} starts and ends at the same time; "
                "a window cannot be empty or 24 hours long (use 00:00-24:00 for a whole day)"
            )

    @classmethod
    def of(
        cls,
        days: Weekday | str | Iterable[Weekday | str],
        start: time | str,
        end: time | str,
    ) -> Window:
        """A window from days (``Weekday`` or names) and ``HH:MM`` strings or times.

        An end of ``00:00`` (or ``24:00``) is the midnight ending the start day;
        ``00:00-00:00`` is refused like every other window that starts and ends
        at the same time (a whole day is ``00:00-24:00``).
        """
        day_items: Iterable[Weekday | str] = (
            [days] if isinstance(days, Weekday | str) else list(days)
        )
        parsed = frozenset(Weekday.parse(day) for day in day_items)
        if not parsed:
            raise ValueError("a window needs at least one day of the week")
        start_min = _parse_minute(start, what="start", end=False)
        end_min = _parse_minute(end, what="end", end=True)
        if start_min == end_min:
            raise ValueError(
                f"window {_days_label(parsed)} {_format_minute(start_min)}-"
                f"{_format_minute(end_min)} starts and ends at the same time; "
                "a window cannot be empty or 24 hours long (use 00:00-24:00 for a whole day)"
            )
        return cls(days=parsed, start=start_min, end=end_min or MINUTES_PER_DAY)

    @classmethod
    def from_json(cls, data: object) -> Window:
        """A window from ``{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM"}``."""
        if not isinstance(data, Mapping):
            raise ValueError(
                'a window must be an object {"days": [...], "start": "HH:MM", "end": "HH:MM"}'
            )
        unknown = sorted(set(data) - {"days", "start", "end"})
        if unknown:
            raise ValueError(f"unknown window field(s): {', '.join(map(str, unknown))}")
        missing = [key for key in ("days", "start", "end") if key not in data]
        if missing:
            raise ValueError(f"a window needs {', '.join(missing)}")
        days = data["days"]
        if isinstance(days, str) or not isinstance(days, Sequence):
            raise ValueError('"days" must be a list of day names, e.g. ["mon", "tue"]')
        return cls.of(days, data["start"], data["end"])

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by :meth:`from_json`; an end at midnight is ``24:00``."""
        return {
            "days": [day.code for day in sorted(self.days)],
            "start": _format_minute(self.start),
            "end": _format_minute(self.end),
        }

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window ends on the day after it starts."""
        return self.end < self.start

    @property
    def duration_min(self) -> int:
        """Length of one occurrence in wall-clock minutes."""
        return (self.end - self.start) % MINUTES_PER_DAY or MINUTES_PER_DAY

    @property
    def label(self) -> str:
        """The window in words, e.g. ``Mon-Fri 22:00-08:00 (next day)``."""
        text = f"{_days_label(self.days)} {_format_minute(self.start)}-{_format_minute(self.end)}"
        return f"{text} (next day)" if self.crosses_midnight else text

    def occurrences(self) -> list[tuple[int, int]]:
        """Half-open minute-of-week intervals covered, split where they wrap past Sunday."""
        pieces: list[tuple[int, int]] = []
        for day in sorted(self.days):
            begin = day * MINUTES_PER_DAY + self.start
            finish = begin + self.duration_min
            if finish <= MINUTES_PER_WEEK:
                pieces.append((begin, finish))
            else:  # Sunday night into Monday morning
                pieces.append((begin, MINUTES_PER_WEEK))
                pieces.append((0, finish - MINUTES_PER_WEEK))
        return pieces


def _week_minute_label(minute: int) -> str:
    day, rest = divmod(minute % MINUTES_PER_WEEK, MINUTES_PER_DAY)
    return f"{Weekday(day).long} {_format_minute(rest)}"


def validate_windows(windows: Iterable[Window]) -> tuple[Window, ...]:
    """The windows as a tuple, or ValueError naming the first bad or overlapping window.

    Windows may touch (``00:00-08:00`` then ``08:00-10:00``) but not overlap,
    on the same day or where one crosses midnight into the next.
    """
    items = tuple(windows)
    if len(items) > MAX_WINDOWS:
        raise ValueError(f"at most {MAX_WINDOWS} charging windows, got {len(items)}")
    for number, window in enumerate(items, start=1):
        if not isinstance(window, Window):
            raise ValueError(f"window {number} is not a Window: {window!r}")
    pieces = sorted(
        (begin, finish, index)
        for index, window in enumerate(items)
        for begin, finish in window.occurrences()
    )
    reach: tuple[int, int] | None = None  # (end, index) of the piece reaching furthest
    for begin, finish, index in pieces:
        if reach is not None and begin < reach[0]:
            first, second = sorted((reach[1], index))
            overlap_end = min(finish, reach[0])
            raise ValueError(
                f"window {second + 1} ({items[second].label}) overlaps window {first + 1} "
                f"({items[first].label}) from {_week_minute_label(begin)} "
                f"to {_week_minute_label(overlap_end)}"
            )
        if reach is None or finish > reach[0]:
            reach = (finish, index)
    return items


def windows_from_json(data: object) -> tuple[Window, ...]:
    """Validated windows from a JSON list; errors say which window (counting from 1)."""
    if isinstance(data, str) or not isinstance(data, Sequence):
        raise ValueError("windows must be a list of window objects")
    if len(data) > MAX_WINDOWS:
        raise ValueError(f"at most {MAX_WINDOWS} charging windows, got {len(data)}")
    windows: list[Window] = []
    for number, item in enumerate(data, start=1):
        try:
            windows.append(Window.from_json(item))
        except ValueError as exc:
            raise ValueError(f"window {number}: {exc}") from None
    return validate_windows(windows)


class ScheduleMode(StrEnum):
    """Which charging hours apply."""

    DEFAULT = "default"  # the regulation's pre-set off-peak hours
    CUSTOM = "custom"  # hours the owner set (possibly none)
    REMOVED = "removed"  # the owner removed the default mode: charge any time


DEFAULT_WINDOWS: Final[tuple[Window, ...]] = (
    Window.of(WEEKDAYS, "00:00", "08:00"),
    Window.of(WEEKDAYS, "11:00", "16:00"),
    Window.of(WEEKDAYS, "22:00", "24:00"),
    Window.of(WEEKEND, "00:00", "24:00"),
)
"""Outside the weekday peaks 08:00-11:00 and 16:00-22:00; weekends all day."""


def _merge(pieces: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for begin, finish in sorted(pieces):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return tuple(merged)


def _change_points(intervals: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """Minutes of the week at which the allowed state changes."""
    points = {edge % MINUTES_PER_WEEK for interval in intervals for edge in interval}
    # An interval ending at Sunday 24:00 joins one starting at Monday 00:00.
    if intervals and intervals[0][0] == 0 and intervals[-1][1] == MINUTES_PER_WEEK:
        points.discard(0)
    return tuple(sorted(points))


@dataclass(frozen=True, slots=True)
class Schedule:
    """The charging hours in force: a mode and its windows.

    Build with :meth:`default`, :meth:`custom` or :meth:`removed`. Direct
    construction is validated too: ``default`` must carry exactly
    :data:`DEFAULT_WINDOWS`, ``removed`` no windows.
    """

    mode: ScheduleMode
    windows: tuple[Window, ...] = ()
    # Derived once: merged allowed intervals (minutes of the week) and the
    # minutes of the week at which the state changes.
    _intervals: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _changes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mode = ScheduleMode(self.mode)
        windows = validate_windows(self.windows)
        if mode is ScheduleMode.DEFAULT and windows != DEFAULT_WINDOWS:
            raise ValueError("the default schedule has the default windows; use a custom schedule")
        if mode is ScheduleMode.REMOVED and windows:
            raise ValueError("a removed schedule has no windows (charging is allowed at any time)")
        if mode is ScheduleMode.REMOVED:
            intervals: tuple[tuple[int, int], ...] = ((0, MINUTES_PER_WEEK),)
        else:
            intervals = _merge(piece for window in windows for piece in window.occurrences())
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "_intervals", intervals)
        object.__setattr__(self, "_starts", tuple(begin for begin, _ in intervals))
        object.__setattr__(self, "_changes", _change_points(intervals))

    @classmethod
    def default(cls) -> Schedule:
        """The regulation's default off-peak hours."""
        return cls(ScheduleMode.DEFAULT, DEFAULT_WINDOWS)

    @classmethod
    def custom(cls, windows: Iterable[Window]) -> Schedule:
        """Owner-set hours; no windows means no charging hours (boost only)."""
        return cls(ScheduleMode.CUSTOM, tuple(windows))

    @classmethod
    def removed(cls) -> Schedule:
        """No schedule: charging is allowed at any time."""
        return cls(ScheduleMode.REMOVED)

    @property
    def restricts_charging(self) -> bool:
        """Whether some minute of the week is outside the charging hours."""
        return self._intervals != ((0, MINUTES_PER_WEEK),)

    def allows_week_minute(self, minute: int) -> bool:
        """Whether charging is allowed at a wall-clock minute of the week (Monday 00:00 = 0)."""
        position = bisect.bisect_right(self._starts, minute % MINUTES_PER_WEEK) - 1
        return position >= 0 and minute % MINUTES_PER_WEEK < self._intervals[position][1]

    def change_points(self) -> tuple[int, ...]:
        """Wall-clock minutes of the week at which the allowed state changes."""
        return self._changes

    def to_json(self) -> dict[str, Any]:
        """``{"mode": ..., "windows": [...]}``, the form :func:`schedule_from_json` reads."""
        return {"mode": self.mode.value, "windows": [window.to_json() for window in self.windows]}


def schedule_from_json(data: object) -> Schedule:
    """A schedule from ``{"mode": "default"|"custom"|"removed", "windows": [...]}``.

    ``windows`` is required for ``custom`` (an empty list means no charging
    hours); it must be absent or empty for ``removed``, and absent, empty or
    exactly :data:`DEFAULT_WINDOWS` for ``default``.
    """
    if not isinstance(data, Mapping):
        raise ValueError('a schedule must be an object {"mode": ..., "windows": [...]}')
    unknown = sorted(set(data) - {"mode", "windows"})
    if unknown:
        raise ValueError(f"unknown schedule field(s): {', '.join(map(str, unknown))}")
    raw_mode = data.get("mode")
    try:
        mode = ScheduleMode(str(raw_mode)) if isinstance(raw_mode, str) else None
    except ValueError:
        mode = None
    if mode is None:
        raise ValueError(f"schedule mode must be one of default, custom, removed; got {raw_mode!r}")
    raw_windows = data.get("windows")
    if mode is ScheduleMode.CUSTOM:
        if raw_windows is None:
            raise ValueError("a custom schedule needs windows (an empty list for none)")
        return Schedule.custom(windows_from_json(raw_windows))
    if mode is ScheduleMode.REMOVED:
        if raw_windows:
            raise ValueError("the removed mode has no windows (charging is allowed at any time)")
        return Schedule.removed()
    # GET shows the default windows; accepting them back lets a client round-trip.
    if raw_windows and set(windows_from_json(raw_windows)) != set(DEFAULT_WINDOWS):
        raise ValueError("the default mode has fixed windows; use custom to set other hours")
    return Schedule.default()


# --------------------------------------------------------------------- time


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:  # only for naive datetimes, which never reach here
        raise ValueError("datetime must be timezone-aware")
    return offset


def _repeated(wall: datetime) -> bool:
    """Whether a naive London wall time happens twice (the autumn hour).

    PEP 495: in a repeated hour fold=0 has the earlier (larger) offset; in the
    spring gap it is the other way round.
    """
    first = _offset(wall.replace(tzinfo=LONDON, fold=0))
    second = _offset(wall.replace(tzinfo=LONDON, fold=1))
    return first > second


def _skipped(wall: datetime) -> bool:
    """Whether a naive London wall time never happens (the spring hour)."""
    first = _offset(wall.replace(tzinfo=LONDON, fold=0))
    second = _offset(wall.replace(tzinfo=LONDON, fold=1))
    return first < second


def _schedule_wall(when: datetime) -> datetime:
    """The naive London wall minute whose state applies at ``when`` (see module doc)."""
    local = when.replace(tzinfo=LONDON) if when.tzinfo is None else when.astimezone(LONDON)
    wall = local.replace(tzinfo=None, second=0, microsecond=0, fold=0)
    if local.fold == 1 and _repeated(wall):
        # Second pass through the repeated hour: stand still at its last minute.
        while _repeated(wall):
            wall += _ONE_MINUTE
        wall -= _ONE_MINUTE
    return wall


def allowed_at(schedule: Schedule, when: datetime) -> bool:
    """Whether ``schedule`` allows charging at ``when``.

    ``when`` is an aware datetime (any zone; converted to Europe/London) or a
    naive Europe/London wall time (its ``fold`` picks the pass through the
    autumn repeated hour). State is constant within a minute. See the module
    docstring for the daylight-saving rules.
    """
    wall = _schedule_wall(when)
    return schedule.allows_week_minute(
        wall.weekday() * MINUTES_PER_DAY + wall.hour * 60 + wall.minute
    )


def _transition_on(day: date) -> datetime | None:
    """The instant the London UTC offset changes on ``day``, if it does."""
    start = datetime.combine(day, time(), tzinfo=LONDON)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=LONDON)
    after = _offset(end)
    if _offset(start) == after:
        return None
    low = start.astimezone(UTC)  # offset still the old one here
    high = end.astimezone(UTC)  # and the new one here
    # Binary search on whole minutes: zones change offset on the minute.
    while high - low > _ONE_MINUTE:
        middle = low + (high - low) // 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= low:
            middle = low + _ONE_MINUTE
        if _offset(middle.astimezone(LONDON)) == after:
            high = middle
        else:
            low = middle
    return high.astimezone(LONDON)


def _candidates_on(schedule: Schedule, day: date) -> list[datetime]:
    """Instants (in UTC) on ``day`` at which the state may change, in order.

    UTC because aware datetimes sharing a tzinfo compare by wall time and
    ignore ``fold``: 01:30 BST would sort after 01:10 GMT.
    """
    candidates: list[datetime] = []
    base = day.weekday() * MINUTES_PER_DAY
    for point in schedule.change_points():
        if not base <= point < base + MINUTES_PER_DAY:
            continue
        wall = datetime.combine(day, time()) + timedelta(minutes=point - base)
        if _skipped(wall):
            continue  # takes effect at the clock change, which is a candidate itself
        # fold=0: the first pass when the wall time is repeated.
        candidates.append(wall.replace(tzinfo=LONDON, fold=0).astimezone(UTC))
    transition = _transition_on(day)
    if transition is not None:
        candidates.append(transition.astimezone(UTC))
    return sorted(candidates)


def next_boundary(schedule: Schedule, when: datetime) -> datetime | None:
    """The first instant after ``when`` at which the allowed state changes.

    ``when`` must be timezone-aware; the answer is in Europe/London. ``None``
    when the state never changes (a removed schedule, no windows, or windows
    covering the whole week). At the returned instant :func:`allowed_at` gives
    the new state; between ``when`` and it, the state of ``when``.
    """
    if when.tzinfo is None:
        raise ValueError("next_boundary needs a timezone-aware datetime")
    if not schedule.change_points():
        return None
    state = allowed_at(schedule, when)
    after = when.astimezone(UTC)
    first_day = when.astimezone(LONDON).date()
    for offset in range(_SEARCH_DAYS):
        for candidate in _candidates_on(schedule, first_day + timedelta(days=offset)):
            if candidate > after and allowed_at(schedule, candidate) != state:
                return candidate.astimezone(LONDON)
    raise AssertionError(f"no change of state within {_SEARCH_DAYS} days of {when.isoformat()}")
