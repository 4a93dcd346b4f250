"""Europe/London wall time to instants, for recurring charging profiles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ukscp.ocpp.smart_charging.local_time import to_wall, wall_to_instant


@pytest.mark.parametrize(
    ("wall", "instant"),
    [
        # Winter: London is on UTC. Summer: one hour ahead.
        ("2026-01-12T07:00:00", datetime(2026, 1, 12, 7, 0, tzinfo=UTC)),
        ("2026-07-01T07:00:00", datetime(2026, 7, 1, 6, 0, tzinfo=UTC)),
        # Spring gap: 01:00-01:59 never happens; it maps to the jump (02:00 BST).
        ("2026-03-29T01:00:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-29T01:30:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-29T01:59:59", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-29T02:00:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-29T00:59:00", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
        # Autumn: 01:00-01:59 happens twice; the first pass (BST) counts.
        ("2026-10-25T01:30:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25T02:00:00", datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),
    ],
)
def test_wall_time_maps_to_the_first_instant_the_clock_reads_it(
    wall: str, instant: datetime
) -> None:
    assert wall_to_instant(datetime.fromisoformat(wall)) == instant


def test_wall_time_of_an_instant() -> None:
    wall = to_wall(datetime(2026, 7, 1, 6, 0, tzinfo=UTC))
    assert wall.tzinfo is None
    assert wall.isoformat() == "2026-07-01T07:00:00"
