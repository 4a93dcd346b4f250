"""Properties of the composite schedule against a brute-force reading of the OCPP rules.

The brute force evaluates the rules at one instant, from scratch, written
separately from the implementation (no placement, no sweep): which period of
each profile is in force, highest stack level per purpose, TxProfile over
TxDefault, minimum with the station maximum.
"""

from __future__ import annotations

import calendar
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ukscp.clock import LONDON
from ukscp.limits.limit import Limit
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ChargingSchedule,
    CompositeSchedule,
    Kind,
    ProfileSet,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    composite_schedule,
    limit_now,
    next_change,
)

VOLTAGE = 230.0
CONNECTOR = 1
# Days around both 2026 clock changes, and an ordinary winter day.
BASE_DAYS = [
    datetime(2026, 1, 12, tzinfo=UTC),
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
]


# --- brute force ---------------------------------------------------------


def _local(instant: datetime) -> datetime:
    return instant.astimezone(LONDON).replace(tzinfo=None, fold=0)


def _uk_transitions(year: int) -> list[datetime]:
    """01:00 UTC on the last Sunday of March and of October."""
    result = []
    for month in (3, 10):
        last = max(
            week[calendar.SUNDAY]
            for week in calendar.monthcalendar(year, month)
            if week[calendar.SUNDAY]
        )
        result.append(datetime(year, month, last, 1, tzinfo=UTC))
    return result


def first_instant_reading(wall: datetime) -> datetime:
    """The first instant at which the London clock reads ``wall`` or later."""
    candidates = [wall.replace(tzinfo=LONDON, fold=fold).astimezone(UTC) for fold in (0, 1)]
    candidates += _uk_transitions(wall.year)
    return min(c for c in candidates if _local(c) >= wall)


def period_in_force(
    profile: ChargingProfile, t: datetime, anchor: datetime | None
) -> SchedulePeriod | None:
    """The period of ``profile`` in force at ``t`` (None: none), by the rules alone."""
    if not profile.valid_at(t):
        return None
    schedule = profile.schedule
    if profile.kind is Kind.RECURRING:
        assert schedule.start_schedule is not None
        if t < schedule.start_schedule:
            return None
        step = timedelta(days=1 if profile.recurrency is Recurrency.DAILY else 7)
        first = _local(schedule.start_schedule)
        k = max(0, (_local(t) - first) // step + 1)
        while k > 0 and first_instant_reading(first + k * step) > t:
            k -= 1
        occurrence = first + k * step
        if schedule.duration_s is not None and t >= first_instant_reading(
            occurrence + timedelta(seconds=schedule.duration_s)
        ):
            return None
        chosen = None
        for period in schedule.periods:
            if first_instant_reading(occurrence + timedelta(seconds=period.start_period_s)) <= t:
                chosen = period
        return chosen
    if profile.kind is Kind.ABSOLUTE and schedule.start_schedule is not None:
        origin: datetime | None = schedule.start_schedule
    else:
        origin = anchor
    if origin is None:  # floating: every instant is the start
        return schedule.periods[0]
    offset = (t - origin).total_seconds()
    if offset < 0 or (schedule.duration_s is not None and offset >= schedule.duration_s):
        return None
    return [p for p in schedule.periods if p.start_period_s <= offset][-1]


@dataclass(frozen=True)
class Expected:
    limit: float
    phases: int | None
    binding: int  # profile id


def brute_force(
    profiles: list[ChargingProfile],
    t: datetime,
    *,
    unit: RateUnit,
    phases: int,
    transaction: tuple[str, datetime] | None,
    anchor: datetime | None,
) -> Expected | None:
    """The composite at ``t``, evaluated from the rules at that instant."""
    if transaction is not None:
        anchor = transaction[1]
    best: dict[Purpose, tuple[tuple[int, bool, float], float, int | None, ChargingProfile]] = {}
    for profile in profiles:
        if profile.purpose is Purpose.TX_DEFAULT and profile.connector_id not in (0, CONNECTOR):
            continue
        if profile.purpose is Purpose.TX and (
            transaction is None or profile.transaction_id != transaction[0]
        ):
            continue
        period = period_in_force(profile, t, anchor)
        if period is None:
            continue
        used = min(period.number_phases or 3, phases)
        value = period.limit
        if profile.schedule.rate_unit is RateUnit.A and unit is RateUnit.W:
            value = value * VOLTAGE * used
        elif profile.schedule.rate_unit is RateUnit.W and unit is RateUnit.A:
            value = value / (VOLTAGE * used)
        key = (profile.stack_level, profile.connector_id != 0, -value)
        explicit = None if period.number_phases is None else used
        if profile.purpose not in best or key > best[profile.purpose][0]:
            best[profile.purpose] = (key, value, explicit, profile)
    tx_level = best.get(Purpose.TX) or best.get(Purpose.TX_DEFAULT)
    station = best.get(Purpose.CHARGING_STATION_MAX)
    if tx_level is None and station is None:
        return None
    if tx_level is not None and (station is None or tx_level[1] <= station[1]):
        binding = tx_level
    else:
        assert station is not None
        binding = station
    phase_counts = [b[2] for b in (tx_level, station) if b is not None and b[2] is not None]
    return Expected(binding[1], min(phase_counts) if phase_counts else None, binding[3].id)


def station_max(case: Case, t: datetime) -> float | None:
    """The winning station maximum alone at ``t``."""
    only = [p for p in case.profiles if p.purpose is Purpose.CHARGING_STATION_MAX]
    result = brute_force(
        only,
        t,
        unit=case.unit,
        phases=case.phases,
        transaction=case.transaction,
        anchor=case.now,
    )
    return None if result is None else result.limit


# --- strategies ----------------------------------------------------------


# On the grid every edge of every schedule falls on a multiple of GRID seconds
# (UTC offsets are whole hours), so scanning the grid sees every change.
GRID = 1800


@st.composite
def instants(draw: st.DrawFn, grid: int = 1) -> datetime:
    day = draw(st.sampled_from(BASE_DAYS))
    return day + timedelta(seconds=grid * draw(st.integers(-36 * 3600 // grid, 36 * 3600 // grid)))


@st.composite
def schedules(draw: st.DrawFn, kind: Kind, grid: int = 1) -> ChargingSchedule:
    unit = draw(st.sampled_from(RateUnit))
    limits = (
        st.sampled_from([0, 6, 10, 16, 32])
        if unit is RateUnit.A
        else st.sampled_from([0, 1380, 4140, 7360, 11040, 22080])
    )
    starts = [0]
    for _ in range(draw(st.integers(0, 3))):
        starts.append(starts[-1] + grid * draw(st.integers(1, 10 * 3600 // grid)))
    periods = tuple(
        SchedulePeriod(start, float(draw(limits)), draw(st.none() | st.integers(1, 3)))
        for start in starts
    )
    needs_start = kind is Kind.RECURRING or (kind is Kind.ABSOLUTE and draw(st.booleans()))
    return ChargingSchedule(
        rate_unit=unit,
        periods=periods,
        start_schedule=draw(instants(grid)) if needs_start else None,
        duration_s=draw(st.none() | st.integers(1, 30 * 3600 // grid).map(lambda n: n * grid)),
    )


@st.composite
def profile_lists(draw: st.DrawFn, grid: int = 1) -> list[ChargingProfile]:
    count = draw(st.integers(1, 5))
    # Distinct stack levels within a purpose and connector: OCPP replaces or
    # refuses a second profile there (1.6 §5.16, 2.0.1 K01.FR.06).
    taken: set[tuple[Purpose, int, int]] = set()
    profiles = []
    for number in range(count):
        purpose = draw(st.sampled_from(Purpose))
        connector = {
            Purpose.CHARGING_STATION_MAX: 0,
            Purpose.TX_DEFAULT: draw(st.sampled_from([0, 1, 2])),
            Purpose.TX: 1,
        }[purpose]
        stack = draw(st.integers(0, 3))
        if (purpose, connector, stack) in taken:
            continue
        taken.add((purpose, connector, stack))
        kind = draw(st.sampled_from(Kind))
        recurrency = draw(st.sampled_from(Recurrency)) if kind is Kind.RECURRING else None
        valid_from = draw(st.none() | instants(grid))
        valid_to = draw(st.none() | instants(grid))
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            valid_from, valid_to = valid_to, valid_from + timedelta(seconds=grid)
        profiles.append(
            ChargingProfile(
                id=number + 1,
                stack_level=stack,
                purpose=purpose,
                kind=kind,
                schedule=draw(schedules(kind, grid)),
                recurrency=recurrency,
                valid_from=valid_from,
                valid_to=valid_to,
                transaction_id=draw(st.sampled_from(["tx-1", "tx-2"]))
                if purpose is Purpose.TX
                else None,
                connector_id=connector,
                randomized_delay_s=draw(st.none() | st.integers(0, 1800)),
            )
        )
    return profiles


@st.composite
def transactions(draw: st.DrawFn, now: datetime, grid: int = 1) -> tuple[str, datetime] | None:
    if draw(st.booleans()):
        return None
    return ("tx-1", now - timedelta(seconds=grid * draw(st.integers(0, 12 * 3600 // grid))))


@dataclass(frozen=True)
class Case:
    profiles: list[ChargingProfile]
    now: datetime
    duration_s: int
    unit: RateUnit
    phases: int
    transaction: tuple[str, datetime] | None
    probes: list[datetime]


@st.composite
def cases(draw: st.DrawFn, grid: int = 1) -> Case:
    now = draw(instants(grid))
    if grid == 1:
        now += timedelta(microseconds=draw(st.integers(0, 999_999)))
    duration_s = grid * draw(st.integers(max(1, 60 // grid), 72 * 3600 // grid))
    probes = [
        now + timedelta(milliseconds=ms)
        for ms in draw(st.lists(st.integers(0, duration_s * 1000 - 1), max_size=25))
    ]
    return Case(
        profiles=draw(profile_lists(grid)),
        now=now,
        duration_s=duration_s,
        unit=draw(st.sampled_from(RateUnit)),
        phases=draw(st.sampled_from([1, 3])),
        transaction=draw(transactions(now, grid)),
        probes=probes,
    )


def close(first: float, second: float) -> bool:
    return abs(first - second) <= 1e-9 * max(1.0, abs(first), abs(second))


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def composite_of(case: Case) -> CompositeSchedule:
    return composite_schedule(
        ProfileSet(tuple(case.profiles)),
        now=case.now,
        duration_s=case.duration_s,
        unit=case.unit,
        voltage_v=VOLTAGE,
        phases=case.phases,
        transaction=case.transaction,
        connector_id=CONNECTOR,
    )


# --- properties ----------------------------------------------------------


@PROPERTY
@given(cases())
def test_composite_equals_the_rules_evaluated_at_every_instant(case: Case) -> None:
    result = composite_of(case)
    assert result.periods[0].start_offset_s == 0
    starts = [case.now + timedelta(seconds=p.start_offset_s) for p in result.periods]
    just_before = [s - timedelta(microseconds=1) for s in starts[1:]]
    for t in [*case.probes, *starts, *just_before]:
        period = result.at(t)
        assert period is not None
        expected = brute_force(
            case.profiles,
            t,
            unit=case.unit,
            phases=case.phases,
            transaction=case.transaction,
            anchor=case.now,
        )
        if expected is None:
            assert period.limit is None, t
        else:
            assert period.limit is not None and close(period.limit, expected.limit), t
            assert period.number_phases == expected.phases, t


@PROPERTY
@given(cases())
def test_composite_periods_are_merged(case: Case) -> None:
    periods = composite_of(case).periods
    for before, after in pairwise(periods):
        assert before.start_offset_s < after.start_offset_s
        assert (before.limit, before.number_phases) != (after.limit, after.number_phases)


@PROPERTY
@given(cases())
def test_composite_never_exceeds_the_station_maximum(case: Case) -> None:
    result = composite_of(case)
    starts = [case.now + timedelta(seconds=p.start_offset_s) for p in result.periods]
    for t in [*case.probes, *starts]:
        cap = station_max(case, t)
        period = result.at(t)
        assert period is not None
        if cap is not None:
            assert period.limit is not None and period.limit <= cap * (1 + 1e-12), t


def limit_at(case: Case, t: datetime) -> Limit | None:
    return limit_now(
        ProfileSet(tuple(case.profiles)),
        t,
        voltage_v=VOLTAGE,
        phases=case.phases,
        transaction=case.transaction,
        connector_id=CONNECTOR,
    )


@PROPERTY
@given(cases())
def test_limit_now_equals_the_rules_at_that_instant(case: Case) -> None:
    for t in [case.now, *case.probes]:
        limit = limit_at(case, t)
        expected = brute_force(
            case.profiles,
            t,
            unit=RateUnit.A,
            phases=case.phases,
            transaction=case.transaction,
            anchor=t,  # no transaction: relative schedules float with the instant
        )
        if expected is None:
            assert limit is None
            continue
        assert limit is not None
        assert close(limit.amps, expected.limit)
        assert limit.reason.split("#")[1].startswith(f"{expected.binding} ")
        binding = next(p for p in case.profiles if p.id == expected.binding)
        assert limit.random_delay_max_s == (binding.randomized_delay_s or None)
        assert not limit.randomised  # only a CSMS configured as randomising is that
        assert limit.phases == (
            None if expected.phases is None else (3 if expected.phases == 3 else 1)
        )


@PROPERTY
@given(cases())
def test_next_change_is_the_next_instant_the_limit_changes(case: Case) -> None:
    profile_set = ProfileSet(tuple(case.profiles))
    changed = next_change(
        profile_set,
        case.now,
        voltage_v=VOLTAGE,
        phases=case.phases,
        transaction=case.transaction,
        connector_id=CONNECTOR,
    )
    current = limit_at(case, case.now)
    horizon = case.now + timedelta(days=20) if changed is None else changed
    assert horizon > case.now
    span = (horizon - case.now).total_seconds()
    fractions = [(t - case.now).total_seconds() / case.duration_s for t in case.probes]
    samples = [case.now + timedelta(seconds=span * f) for f in fractions]
    samples.append(horizon - timedelta(microseconds=1))
    for t in samples:
        if t < horizon:
            assert limit_at(case, t) == current, t
    if changed is not None:
        assert limit_at(case, changed) != current


GRID_PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_composite_on_grid(case: Case) -> None:
    """The composite equals the brute force at every grid point of its window."""
    result = composite_of(case)
    for step in range(case.duration_s // GRID):
        t = case.now + timedelta(seconds=step * GRID)
        period = result.at(t)
        assert period is not None
        expected = brute_force(
            case.profiles,
            t,
            unit=case.unit,
            phases=case.phases,
            transaction=case.transaction,
            anchor=case.now,
        )
        assert (None if expected is None else expected.limit) == (
            None if period.limit is None else pytest.approx(period.limit)
        ), t


SCAN_DAYS = 8  # longer than a week, so a weekly pattern shows its change


def check_next_change_on_grid(case: Case) -> None:
    """next_change is the first grid point where limit_now differs (grid scan of 8 days)."""
    current = limit_at(case, case.now)
    expected = None
    for step in range(1, SCAN_DAYS * 86400 // GRID + 1):
        t = case.now + timedelta(seconds=step * GRID)
        if limit_at(case, t) != current:
            expected = t
            break
    changed = next_change(
        ProfileSet(tuple(case.profiles)),
        case.now,
        voltage_v=VOLTAGE,
        phases=case.phases,
        transaction=case.transaction,
        connector_id=CONNECTOR,
    )
    if expected is not None:
        assert changed == expected
    else:
        assert changed is None or changed > case.now + timedelta(days=SCAN_DAYS)


@GRID_PROPERTY
@given(cases(GRID))
def test_composite_equals_the_rules_at_every_grid_point(case: Case) -> None:
    check_composite_on_grid(case)


@GRID_PROPERTY
@given(cases(GRID))
def test_next_change_is_the_first_change_on_a_grid_scan(case: Case) -> None:
    check_next_change_on_grid(case)


CLOCK_CHANGES = [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]


@st.composite
def clock_change_cases(draw: st.DrawFn) -> Case:
    """Recurring profiles whose recurrences straddle a clock change, on the grid."""
    change = draw(st.sampled_from(CLOCK_CHANGES))

    def near(hours: int) -> datetime:
        return change + timedelta(seconds=GRID * draw(st.integers(-hours * 2, hours * 2)))

    profiles = []
    for number in range(draw(st.integers(1, 3))):
        schedule = draw(schedules(Kind.RECURRING, GRID))
        start = near(24) - timedelta(days=draw(st.integers(0, 20)))
        profiles.append(
            ChargingProfile(
                id=number + 1,
                stack_level=number,
                purpose=Purpose.TX_DEFAULT,
                kind=Kind.RECURRING,
                schedule=dataclasses.replace(schedule, start_schedule=start),
                recurrency=draw(st.sampled_from(Recurrency)),
                connector_id=CONNECTOR,
            )
        )
    return Case(
        profiles=profiles,
        now=near(30),
        duration_s=GRID * draw(st.integers(1, 60 * 3600 // GRID)),
        unit=RateUnit.A,
        phases=1,
        transaction=None,
        probes=[],
    )


@GRID_PROPERTY
@given(clock_change_cases())
def test_recurrences_follow_the_rules_across_clock_changes(case: Case) -> None:
    check_composite_on_grid(case)
    check_next_change_on_grid(case)
