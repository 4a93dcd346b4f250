"""Property tests of the charging-hours core: boundaries really are the changes of state."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ukscp.regulation.schedule import (
    MINUTES_PER_DAY,
    Schedule,
    Weekday,
    Window,
    allowed_at,
    next_boundary,
    schedule_from_json,
)


# Minute-grid times; the end may be 24:00 (1440).
@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, MINUTES_PER_DAY - 1))
    end = draw(st.integers(1, MINUTES_PER_DAY).filter(lambda minute: minute != start))
    days = draw(st.frozensets(st.sampled_from(list(Weekday)), min_size=1))
    return Window(days=days, start=start, end=end)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    kind = draw(st.sampled_from(["default", "removed", "custom"]))
    if kind == "default":
        return Schedule.default()
    if kind == "removed":
        return Schedule.removed()
    chosen = draw(st.lists(windows(), max_size=5))
    try:
        return Schedule.custom(chosen)
    except ValueError:
        assume(False)
        raise  # unreachable: assume(False) stops the example


# Instants through 2026 and 2027, with the clock-change weekends drawn often.
DST_WEEKENDS = [
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2027, 3, 27, tzinfo=UTC),
    datetime(2027, 10, 30, tzinfo=UTC),
]
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.builds(
        lambda base, seconds: base + timedelta(seconds=seconds),
        st.sampled_from(DST_WEEKENDS),
        st.integers(0, 3 * 24 * 3600),
    ),
)
fractions = st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(schedules(), instants, fractions)
def test_allowed_at_is_constant_until_the_next_boundary_and_differs_at_it(schedule, when, parts):
    boundary = next_boundary(schedule, when)
    state = allowed_at(schedule, when)
    if boundary is None:
        horizon = timedelta(days=15)
        for part in parts:
            assert allowed_at(schedule, when + horizon * part) == state
        return
    assert boundary > when
    # Arithmetic in UTC: London times subtract as wall-clock times across a DST change.
    boundary = boundary.astimezone(UTC)
    assert allowed_at(schedule, boundary) != state
    assert allowed_at(schedule, boundary - timedelta(microseconds=1)) == state
    for part in parts:
        # timedelta * float rounds to the microsecond: keep the sample before the boundary.
        sample = min(when + (boundary - when) * part, boundary - timedelta(microseconds=1))
        assert allowed_at(schedule, sample) == state


@settings(max_examples=100, deadline=None)
@given(schedules(), instants)
def test_consecutive_boundaries_alternate_over_a_week(schedule, when):
    boundary = next_boundary(schedule, when)
    states = [allowed_at(schedule, when)]
    while boundary is not None and boundary < when + timedelta(days=8):
        states.append(allowed_at(schedule, boundary))
        nxt = next_boundary(schedule, boundary)
        if nxt is not None:
            # Between two boundaries the state is that of the first.
            assert allowed_at(schedule, boundary + (nxt - boundary) / 2) == states[-1]
        boundary = nxt
    assert all(a != b for a, b in pairwise(states))


@given(schedules())
def test_schedule_json_round_trips(schedule):
    assert schedule_from_json(schedule.to_json()) == schedule


@given(schedules(), instants)
def test_boundaries_fall_on_whole_minutes(schedule, when):
    boundary = next_boundary(schedule, when)
    assume(boundary is not None)
    assert boundary.second == 0
    assert boundary.microsecond == 0
