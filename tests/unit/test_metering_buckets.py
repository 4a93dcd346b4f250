"""Bucket boundaries and the retention horizon, on the Europe/London calendar."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from ukscp.clock import LONDON
from ukscp.metering.buckets import (
    check_resolution,
    epoch_ms,
    epoch_s,
    local_day_starts,
    local_from_ms,
    local_midnight,
    minute_of,
    months_before,
)


def london(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LONDON, fold=fold)  # type: ignore[misc]


def hours_between(bounds: list[int]) -> list[float]:
    return [(b - a) / 3600 for a, b in itertools.pairwise(bounds)]


def test_spring_forward_day_has_23_hours() -> None:
    start = epoch_s(london(2026, 3, 28, 12))
    bounds = local_day_starts(start, epoch_s(london(2026, 3, 30, 12)))
    assert hours_between(bounds) == [24, 23, 24]
    assert local_from_ms(bounds[1] * 1000) == london(2026, 3, 29)


def test_fall_back_day_has_25_hours() -> None:
    bounds = local_day_starts(epoch_s(london(2026, 10, 25)), epoch_s(london(2026, 10, 26, 1)))
    assert hours_between(bounds) == [25, 24]


def test_day_starts_cover_the_range_and_end_at_or_after_it() -> None:
    start, end = epoch_s(london(2026, 6, 1, 5)), epoch_s(london(2026, 6, 3))
    bounds = local_day_starts(start, end)
    assert bounds[0] == epoch_s(london(2026, 6, 1))
    assert bounds[-1] == end


def test_local_midnight_in_summer_is_23_00_utc() -> None:
    noon = epoch_s(datetime(2026, 7, 1, 11, tzinfo=UTC))
    assert local_midnight(noon) == epoch_s(datetime(2026, 6, 30, 23, tzinfo=UTC))


def test_thirteen_months_before_keeps_wall_time_across_clock_changes() -> None:
    horizon = months_before(london(2027, 4, 15, 12), 13)
    assert horizon == london(2026, 3, 15, 12)
    assert horizon.utcoffset() == timedelta(0)  # GMT then, BST now


def test_month_end_is_clamped_to_the_shorter_month() -> None:
    assert months_before(london(2027, 3, 31, 8), 13) == london(2026, 2, 28, 8)
    assert months_before(london(2028, 3, 31, 8), 1) == london(2028, 2, 29, 8)


def test_wall_time_skipped_by_the_clock_change_resolves_to_the_earlier_instant() -> None:
    # 2026-03-29 01:30 does not exist in London; the horizon goes back, never forward.
    horizon = months_before(london(2027, 4, 29, 1, 30), 13)
    assert horizon.astimezone(UTC) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def test_ambiguous_wall_time_resolves_to_the_earlier_instant() -> None:
    horizon = months_before(london(2027, 11, 25, 1, 30), 13)
    assert horizon.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_months_before_refuses_naive_time_and_negative_months() -> None:
    with pytest.raises(ValueError):
        months_before(datetime(2026, 1, 1), 13)  # noqa: DTZ001
    with pytest.raises(ValueError):
        months_before(london(2026, 1, 1), -1)


def test_epoch_ms_is_exact_and_refuses_naive_times() -> None:
    when = datetime(2026, 1, 5, 0, 0, 0, 999_999, tzinfo=UTC)
    assert epoch_ms(when) == 1_767_571_200_999
    assert minute_of(epoch_ms(when)) == 1_767_571_200
    with pytest.raises(ValueError):
        epoch_ms(datetime(2026, 1, 5))  # noqa: DTZ001


@pytest.mark.parametrize("resolution", ["1s", "1m", "1h", "1d"])
def test_known_resolutions_are_accepted(resolution: str) -> None:
    assert check_resolution(resolution) == resolution


@pytest.mark.parametrize("resolution", ["", "1w", "60s", "1D"])
def test_unknown_resolutions_are_refused(resolution: str) -> None:
    with pytest.raises(ValueError, match="resolution"):
        check_resolution(resolution)
