"""The composite schedule: what all installed profiles together allow, and when it changes.

The rules (OCPP 1.6 §3.13.2-3.13.3, §5.7; 2.0.1 K08 and "Smart Charging"
section 3), applied at each instant:

1. A profile takes part when it applies to the connector (a station-wide
   ChargingStationMax or TxDefault profile, a TxDefault profile for this
   connector, a TxProfile for the transaction running on it), is valid
   (validFrom <= t < validTo) and its schedule is in force at t (started, and
   not past its duration). A profile whose schedule has not started or has
   ended lets a lower stack level show through.
2. Within each purpose the highest stack level wins. Two winners on the same
   level can only be a station-wide and a connector TxDefault profile (the
   profile set refuses or replaces any other tie): the connector's wins, as the
   more specific; failing that, the lower limit.
3. A TxProfile in force overrides the TxDefault profiles, instant by instant:
   where the TxProfile's schedule is not in force the TxDefault shows through.
4. The result is the lower of that and the ChargingStationMax profile.
   Limits are compared in the requested unit, converting with
   W = A x voltage x phases, where phases is the period's numberPhases (OCPP
   assumes 3 when absent) capped by the phases the charger has. The number of
   phases of the result is the smallest numberPhases given, capped likewise.
5. Where no profile takes part OCPP sets no limit: the composite period's
   limit is None. Filling it with the hardware maximum is the wire's business
   (:func:`.wire16.composite_to_ocpp16`), so the charger's own limits stay in
   one place, the arbiter.

A profile set is a pure value; nothing here reads a clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ukscp.limits.limit import Limit, LimitSource
from ukscp.ocpp.smart_charging.caps import MAX_COMPOSITE_S
from ukscp.ocpp.smart_charging.model import (
    ChargingProfile,
    CompositePeriod,
    CompositeSchedule,
    Kind,
    Purpose,
    RateUnit,
    SchedulePeriod,
    Transaction,
)
from ukscp.ocpp.smart_charging.placement import END, Segment, place, uses_transaction_start

# A value that varies in a daily or weekly wall-clock pattern shows every
# change within 15 days, even when one of the weeks has a clock change in it.
_PATTERN_SPAN = timedelta(days=15)
_ONE_SECOND = timedelta(seconds=1)
_FIRST_LOOK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Query:
    connector_id: int
    transaction: Transaction | None
    unit: RateUnit
    voltage_v: float
    phases: int


@dataclass(frozen=True, slots=True)
class _Part:
    """One profile's contribution at an instant, in the requested unit."""

    value: float
    number_phases: int | None
    profile: ChargingProfile


@dataclass(frozen=True, slots=True)
class _Value:
    limit: float | None
    number_phases: int | None
    binding: ChargingProfile | None


def _utc(instant: datetime) -> datetime:
    # A naive datetime would silently be read in the host's zone.
    if instant.tzinfo is None:
        raise ValueError("smart charging needs timezone-aware datetimes")
    return instant.astimezone(END.tzinfo)


def _query(
    connector_id: int,
    transaction: tuple[str, datetime] | None,
    unit: RateUnit,
    voltage_v: float,
    phases: int,
) -> _Query:
    if not voltage_v > 0:
        raise ValueError(f"voltage_v must be > 0, got {voltage_v!r}")
    if phases not in (1, 2, 3):
        raise ValueError(f"phases must be 1, 2 or 3, got {phases!r}")
    if connector_id < 0:
        raise ValueError(f"connector_id must be >= 0, got {connector_id!r}")
    return _Query(
        connector_id=connector_id,
        transaction=None
        if transaction is None
        else Transaction(transaction[0], _utc(transaction[1])),
        unit=RateUnit(unit),
        voltage_v=voltage_v,
        phases=phases,
    )


def applies(profile: ChargingProfile, connector_id: int, transaction: Transaction | None) -> bool:
    """Whether ``profile`` takes part in the connector's composite schedule.

    Connector 0 asks for the station as a whole: only station-wide profiles.
    """
    if profile.purpose is Purpose.CHARGING_STATION_MAX:
        return True
    if profile.purpose is Purpose.TX_DEFAULT:
        return profile.connector_id in (0, connector_id)
    return (
        transaction is not None
        and connector_id != 0
        and profile.connector_id == connector_id
        and profile.transaction_id == transaction.id
    )


def convert(period: SchedulePeriod, unit: RateUnit, query: _Query) -> tuple[float, int]:
    """A period's limit in ``query.unit`` and the phases it was converted with."""
    phases = min(period.number_phases or 3, query.phases)
    if unit is query.unit:
        return period.limit, phases
    if unit is RateUnit.A:
        return period.limit * query.voltage_v * phases, phases
    return period.limit / (query.voltage_v * phases), phases


class _Timeline:
    """The applicable profiles placed over a window, evaluated at increasing instants."""

    def __init__(
        self,
        profiles: Iterable[ChargingProfile],
        query: _Query,
        window: tuple[datetime, datetime],
        relative_anchor: datetime | None,
    ) -> None:
        self._query = query
        anchor = relative_anchor if query.transaction is None else query.transaction.started_at
        self._lanes: list[list[Segment]] = []
        for profile in profiles:
            if applies(profile, query.connector_id, query.transaction):
                lane = place(profile, *window, anchor=anchor)
                if lane:
                    self._lanes.append(lane)
        self._cursors = [0] * len(self._lanes)

    def boundaries(self) -> list[datetime]:
        """Every instant at which some profile's period starts or ends, sorted."""
        points = {edge for lane in self._lanes for seg in lane for edge in (seg.start, seg.end)}
        return sorted(points)

    def at(self, instant: datetime) -> _Value:
        """The composite value at ``instant``; instants must not decrease between calls."""
        best: dict[Purpose, tuple[tuple[int, bool, float], _Part]] = {}
        for number, lane in enumerate(self._lanes):
            cursor = self._cursors[number]
            while cursor < len(lane) and lane[cursor].end <= instant:
                cursor += 1
            self._cursors[number] = cursor
            if cursor == len(lane) or lane[cursor].start > instant:
                continue
            segment = lane[cursor]
            profile = segment.profile
            value, phases = convert(segment.period, profile.schedule.rate_unit, self._query)
            explicit = None if segment.period.number_phases is None else phases
            part = _Part(value, explicit, profile)
            # Rule 2: highest stack level, then connector-specific, then lower limit.
            key = (profile.stack_level, profile.connector_id != 0, -value)
            held = best.get(profile.purpose)
            if held is None or key > held[0]:
                best[profile.purpose] = (key, part)
        return _combine({purpose: part for purpose, (_, part) in best.items()})


def _combine(best: dict[Purpose, _Part]) -> _Value:
    """Rules 3 and 4: TxProfile over TxDefault, then the minimum with the station maximum."""
    transaction_level = best.get(Purpose.TX) or best.get(Purpose.TX_DEFAULT)
    station = best.get(Purpose.CHARGING_STATION_MAX)
    # Transaction level first: on a tie it binds, as the schedule that moves
    # (its randomised delay, if any, is the one that matters).
    parts = [part for part in (transaction_level, station) if part is not None]
    if not parts:
        return _Value(None, None, None)
    binding = min(parts, key=lambda part: part.value)
    explicit = [part.number_phases for part in parts if part.number_phases is not None]
    return _Value(binding.value, min(explicit) if explicit else None, binding.profile)


def composite_schedule(
    profile_set: Iterable[ChargingProfile],
    *,
    now: datetime,
    duration_s: int,
    unit: RateUnit | str,
    voltage_v: float,
    phases: int,
    transaction: tuple[str, datetime] | None,
    connector_id: int,
) -> CompositeSchedule:
    """The composite schedule from ``now`` for ``duration_s`` seconds (GetCompositeSchedule).

    At most :data:`~.caps.MAX_COMPOSITE_S` (a week): a longer one is cut to it,
    and its ``duration_s`` says so. ``transaction`` is (id, started_at) of the
    transaction on the connector, or None. Relative profiles start with it;
    with none, they start at ``now`` (what would happen if a transaction
    started now). Adjacent periods with the same limit and phases are merged.
    See the module docstring for the rules.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    duration_s = min(duration_s, MAX_COMPOSITE_S)
    query = _query(connector_id, transaction, RateUnit(unit), voltage_v, phases)
    start = _utc(now)
    end = start + timedelta(seconds=duration_s)
    timeline = _Timeline(profile_set, query, (start, end), relative_anchor=start)
    points = [start, *(b for b in timeline.boundaries() if start < b < end)]
    periods: list[CompositePeriod] = []
    for point in points:
        value = timeline.at(point)
        period = CompositePeriod((point - start).total_seconds(), value.limit, value.number_phases)
        if periods and (periods[-1].limit, periods[-1].number_phases) == (
            period.limit,
            period.number_phases,
        ):
            continue
        periods.append(period)
    return CompositeSchedule(
        start=now, duration_s=duration_s, unit=query.unit, periods=tuple(periods)
    )


def _to_limit(value: _Value, *, dsr_provider: bool, csms_randomises: bool) -> Limit | None:
    if value.limit is None or value.binding is None:
        return None
    profile = value.binding
    # Limit carries 1 or 3 phases; 2 phases becomes 1, which never exceeds the profile.
    phases = None if value.number_phases is None else (3 if value.number_phases == 3 else 1)
    return Limit(
        amps=value.limit,
        source=LimitSource.DSR if dsr_provider else LimitSource.OCPP,
        reason=f"OCPP {profile.describe()}",
        phases=phases,
        randomised=csms_randomises,
        random_delay_max_s=profile.randomized_delay_s or None,
    )


def limit_now(
    profile_set: Iterable[ChargingProfile],
    now: datetime,
    *,
    voltage_v: float,
    phases: int,
    transaction: tuple[str, datetime] | None,
    connector_id: int,
    dsr_provider: bool = False,
    csms_randomises: bool = False,
) -> Limit | None:
    """The profiles' limit on the connector at ``now``, in amps per phase; None if none applies.

    The reason names the binding profile (purpose, id, stack level). The source
    is DSR when this CSMS is the owner's DSR provider, else OCPP. ``randomised``
    is set when the CSMS is known to randomise (DESIGN section 3 item 4). The
    binding profile's OCPP 2.1 randomizedDelay (above 0 s) becomes
    ``random_delay_max_s``: OCPP 2.1 asks the station to delay each period's
    start by a random time up to it, so the charger's delay draws up to it.

    With no transaction a Relative profile has nothing to start from, so it
    gives its first period (every instant is its start), unlike
    :func:`composite_schedule`, which starts it at the composite's start.
    """
    query = _query(connector_id, transaction, RateUnit.A, voltage_v, phases)
    instant = _utc(now)
    timeline = _Timeline(profile_set, query, (instant, instant + _ONE_SECOND), None)
    return _to_limit(
        timeline.at(instant), dsr_provider=dsr_provider, csms_randomises=csms_randomises
    )


def next_change(
    profile_set: Iterable[ChargingProfile],
    now: datetime,
    *,
    voltage_v: float,
    phases: int,
    transaction: tuple[str, datetime] | None,
    connector_id: int,
) -> datetime | None:
    """The first instant after ``now`` at which :func:`limit_now` gives another result.

    Another result means another limit, phase count, binding profile or a
    change between a limit and none. None when the result never changes (until
    the profile set or transaction does). Returned in ``now``'s time zone.
    """
    profiles = list(profile_set)
    query = _query(connector_id, transaction, RateUnit.A, voltage_v, phases)
    start = _utc(now)

    def limit_at(timeline: _Timeline, instant: datetime) -> Limit | None:
        return _to_limit(timeline.at(instant), dsr_provider=False, csms_randomises=False)

    def single(instant: datetime) -> Limit | None:
        return limit_at(_Timeline(profiles, query, (instant, instant + _ONE_SECOND), None), instant)

    current = single(start)
    # Most changes come within a day: look there first, before placing 15 days of
    # every profile (at the caps, 10 daily profiles of 48 periods: 96 ms on the
    # loop without this first look, 15 ms with it).
    first_day = _Timeline(profiles, query, (start, start + _FIRST_LOOK + _ONE_SECOND), None)
    for point in first_day.boundaries():
        if start < point < start + _FIRST_LOOK and limit_at(first_day, point) != current:
            return point.astimezone(now.tzinfo)
    milestones = _milestones(profiles, query, start)
    cursor = start
    while True:
        # Scan every boundary in (cursor, cursor + 15 days]. One second past the
        # end so that recurrences starting exactly there are placed too.
        scan_end = cursor + _PATTERN_SPAN
        timeline = _Timeline(profiles, query, (cursor, scan_end + _ONE_SECOND), None)
        points = [b for b in timeline.boundaries() if cursor < b < scan_end]
        for point in [*points, scan_end]:
            if limit_at(timeline, point) != current:
                return point.astimezone(now.tzinfo)
        after = bisect.bisect_right(milestones, scan_end)
        if after > 0 and milestones[after - 1] > cursor:
            # The pattern may have changed inside the scan: scan on from its last change.
            cursor = milestones[after - 1]
            continue
        # 15 days without a milestone or a change: the daily/weekly pattern
        # holds without change until the next milestone, if any.
        if after == len(milestones):
            return None
        cursor = milestones[after]
        if single(cursor) != current:
            return cursor.astimezone(now.tzinfo)


def _milestones(
    profiles: Sequence[ChargingProfile], query: _Query, after: datetime
) -> list[datetime]:
    """Instants after which the value may stop following a daily/weekly pattern.

    Every edge of a non-recurring profile (they are finitely many) and, for
    recurring ones, the validity bounds and the first recurrence. Between two
    milestones the value repeats with a period of a day or a week.
    """
    anchor = None if query.transaction is None else query.transaction.started_at
    points: set[datetime] = set()
    for profile in profiles:
        if not applies(profile, query.connector_id, query.transaction):
            continue
        if profile.kind is Kind.RECURRING:
            points.update(
                edge
                for edge in (profile.valid_from, profile.valid_to, profile.schedule.start_schedule)
                if edge is not None
            )
            continue
        profile_anchor = anchor if uses_transaction_start(profile) else None
        for segment in place(profile, after, END, anchor=profile_anchor):
            points.update((segment.start, segment.end))
    return sorted(point for point in points if after < point < END)
