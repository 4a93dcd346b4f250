"""Europe/London wall time, for recurring schedules.

OCPP does not say how a daily or weekly recurrence behaves when the clocks
change. We recur in the charger's local time (see :mod:`.placement`), so we
need to turn a naive wall-clock reading into an instant. The rule, the same as
the default-mode charging hours use: a wall time maps to the first instant at
which the clock reads it or later. So

* a wall time in the spring gap (01:00-01:59 on the last Sunday of March)
  maps to the jump itself, the instant the clock reads 02:00 BST;
* a wall time in the repeated autumn hour maps to its first pass (BST).

The mapping is monotonic (later wall times never map to earlier instants),
which keeps schedule periods in order across both changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ukscp.clock import LONDON

_ONE_SECOND = timedelta(seconds=1)


def to_wall(instant: datetime) -> datetime:
    """The naive Europe/London wall-clock reading at an aware ``instant``."""
    return instant.astimezone(LONDON).replace(tzinfo=None, fold=0)


def wall_to_instant(wall: datetime) -> datetime:
    """The first instant (UTC) at which the London clock reads ``wall`` or later."""
    # PEP 495: fold=0 is the first pass of a repeated hour; for a skipped wall
    # time it uses the offset from before the jump, landing after the jump.
    first = wall.replace(tzinfo=LONDON, fold=0).astimezone(UTC)
    if to_wall(first) == wall.replace(fold=0):
        return first
    # ``wall`` never happens: fold=1 lands before the jump, fold=0 after it.
    # Find the jump itself, on whole seconds (zones change offset on the minute).
    low = wall.replace(tzinfo=LONDON, fold=1).astimezone(UTC)
    high = first
    while high - low > _ONE_SECOND:
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + _ONE_SECOND
        if to_wall(middle) >= wall:
            high = middle
        else:
            low = middle
    return high
