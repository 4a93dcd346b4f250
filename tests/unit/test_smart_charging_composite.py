"""Composite-schedule vectors: stacking, purposes, kinds, DST, validity, units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    ProfileSet,
    RateUnit,
    composite_schedule,
    from_ocpp16,
    from_ocpp201,
)
from ukscp.ocpp.smart_charging.caps import MAX_COMPOSITE_S

HOUR = 3600
T0 = datetime(2026, 1, 12, 12, 0, tzinfo=UTC)  # a Monday in winter: London is on UTC

_PURPOSE = {
    "max": "ChargingStationMaxProfile",
    "default": "TxDefaultProfile",
    "tx": "TxProfile",
}


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def profile(
    profile_id: int,
    periods: list[tuple[int, float] | tuple[int, float, int]],
    *,
    purpose: str = "default",
    stack: int = 0,
    kind: str = "Absolute",
    start: datetime | None = T0,
    unit: str = "A",
    evse: int | None = None,
    **extra: Any,
) -> ChargingProfile:
    """A 2.0.1 chargingProfile payload, converted as the 2.0.1 client will."""
    schedule: dict[str, Any] = {
        "id": profile_id,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = iso(start)
    for key in ("duration", "randomizedDelay"):
        if key in extra:
            schedule[key] = extra.pop(key)
    payload: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": _PURPOSE[purpose],
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }
    if evse is None:
        evse = 0 if purpose != "tx" else 1
    return from_ocpp201(payload, evse_id=evse)


def composite(
    profiles: list[ChargingProfile],
    *,
    now: datetime = T0,
    hours: float = 6,
    unit: str = "A",
    phases: int = 1,
    transaction: tuple[str, datetime] | None = None,
    connector: int = 1,
) -> CompositeSchedule:
    return composite_schedule(
        ProfileSet(tuple(profiles)),
        now=now,
        duration_s=int(hours * HOUR),
        unit=unit,
        voltage_v=230.0,
        phases=phases,
        transaction=transaction,
        connector_id=connector,
    )


def shape(result: CompositeSchedule) -> list[tuple[float, float | None]]:
    """(hours from the start, limit) of each period."""
    return [(p.start_offset_s / HOUR, p.limit) for p in result.periods]


# Stacking (OCPP 1.6 §3.13.2)


def test_higher_stack_level_wins_while_in_force_and_the_lower_shows_through_after() -> None:
    base = profile(1, [(0, 16)], stack=0)
    burst = profile(2, [(0, 8)], stack=1, start=T0 + timedelta(hours=1), duration=2 * HOUR)
    assert shape(composite([base, burst])) == [(0, 16), (1, 8), (3, 16)]


def test_lower_stack_level_never_wins_over_a_higher_one_even_when_higher() -> None:
    base = profile(1, [(0, 6)], stack=0)
    top = profile(2, [(0, 20)], stack=5)
    assert shape(composite([base, top])) == [(0, 20)]


def test_higher_stack_level_gives_way_at_its_valid_to() -> None:
    base = profile(1, [(0, 16)], stack=0)
    top = profile(2, [(0, 10)], stack=3, validTo=iso(T0 + timedelta(hours=2)))
    assert shape(composite([base, top])) == [(0, 10), (2, 16)]


def test_profile_takes_effect_at_its_valid_from() -> None:
    base = profile(1, [(0, 16)], stack=0)
    top = profile(2, [(0, 10)], stack=3, validFrom=iso(T0 + timedelta(hours=2)))
    assert shape(composite([base, top])) == [(0, 16), (2, 10)]


def test_validity_window_bounds_a_lone_profile_with_no_limit_outside() -> None:
    only = profile(
        1,
        [(0, 12)],
        validFrom=iso(T0 + timedelta(hours=1)),
        validTo=iso(T0 + timedelta(hours=3)),
    )
    assert shape(composite([only])) == [(0, None), (1, 12), (3, None)]


def test_schedule_ends_at_its_duration() -> None:
    only = profile(1, [(0, 10), (HOUR, 12)], duration=2 * HOUR)
    assert shape(composite([only])) == [(0, 10), (1, 12), (2, None)]


def test_absolute_schedule_starting_later_has_no_limit_before_its_start() -> None:
    only = profile(1, [(0, 10)], start=T0 + timedelta(hours=4))
    assert shape(composite([only])) == [(0, None), (4, 10)]


def test_adjacent_equal_periods_are_merged() -> None:
    only = profile(1, [(0, 10), (HOUR, 10), (2 * HOUR, 11), (3 * HOUR, 11)])
    assert shape(composite([only])) == [(0, 10), (2, 11)]


def test_connector_default_wins_a_tie_with_the_station_default() -> None:
    station = profile(1, [(0, 16)], stack=2, evse=0)
    connector = profile(2, [(0, 20)], stack=2, evse=1)
    assert shape(composite([station, connector])) == [(0, 20)]


def test_default_for_another_connector_does_not_apply() -> None:
    other = profile(2, [(0, 20)], evse=2)
    assert shape(composite([other])) == [(0, None)]


# Purposes (OCPP 1.6 §3.13.3)

TX_START = T0 - timedelta(minutes=30)


def test_tx_profile_overrides_tx_default_while_in_force() -> None:
    default = profile(1, [(0, 16)], stack=5)
    tx = profile(
        2,
        [(0, 10)],
        purpose="tx",
        kind="Relative",
        start=None,
        duration=HOUR,
        transactionId="tx-1",
    )
    result = composite([default, tx], transaction=("tx-1", TX_START))
    assert shape(result) == [(0, 10), (0.5, 16)]


def test_tx_profile_of_another_transaction_is_ignored() -> None:
    default = profile(1, [(0, 16)])
    tx = profile(2, [(0, 10)], purpose="tx", transactionId="tx-1")
    assert shape(composite([default, tx], transaction=("tx-2", TX_START))) == [(0, 16)]
    assert shape(composite([default, tx], transaction=None)) == [(0, 16)]


def test_station_maximum_caps_the_transaction_level() -> None:
    cap = profile(1, [(0, 20)], purpose="max")
    default = profile(2, [(0, 32), (2 * HOUR, 10)])
    assert shape(composite([cap, default])) == [(0, 20), (2, 10)]


def test_station_maximum_alone_is_the_composite() -> None:
    cap = profile(1, [(0, 20)], purpose="max")
    assert shape(composite([cap])) == [(0, 20)]


def test_connector_zero_sees_only_station_wide_profiles() -> None:
    cap = profile(1, [(0, 20)], purpose="max")
    station_default = profile(2, [(0, 16)], evse=0)
    connector_default = profile(3, [(0, 6)], stack=3, evse=1)
    assert shape(composite([cap, station_default, connector_default], connector=0)) == [(0, 16)]


# Kinds


def test_relative_profile_starts_with_the_transaction() -> None:
    relative = profile(1, [(0, 6), (1800, 16)], kind="Relative", start=None)
    started = T0 - timedelta(minutes=10)
    result = composite([relative], transaction=("tx-1", started), hours=1)
    assert [(p.start_offset_s, p.limit) for p in result.periods] == [(0, 6), (1200, 16)]


def test_relative_profile_with_no_transaction_starts_now() -> None:
    relative = profile(1, [(0, 6), (1800, 16)], kind="Relative", start=None)
    result = composite([relative], hours=1)
    assert [(p.start_offset_s, p.limit) for p in result.periods] == [(0, 6), (1800, 16)]


def test_ocpp16_absolute_profile_without_start_starts_with_the_transaction() -> None:
    payload = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 6},
                {"startPeriod": 3600, "limit": 16},
            ],
        },
    }
    absolute = from_ocpp16(payload, connector_id=0)
    result = composite([absolute], transaction=("1", T0 - timedelta(minutes=15)), hours=2)
    assert [(p.start_offset_s, p.limit) for p in result.periods] == [(0, 6), (2700, 16)]


def test_daily_recurrence_across_midnight() -> None:
    # Every night from 22:00 to 06:00 (winter, London = UTC): 32 A, else 6 A.
    nightly = profile(
        1,
        [(0, 32), (8 * HOUR, 6)],
        kind="Recurring",
        recurrencyKind="Daily",
        start=datetime(2026, 1, 1, 22, tzinfo=UTC),
    )
    result = composite([nightly], now=datetime(2026, 1, 12, 21, tzinfo=UTC), hours=26)
    assert shape(result) == [(0, 6), (1, 32), (9, 6), (25, 32)]


def test_recurrence_does_not_apply_before_its_start_schedule() -> None:
    nightly = profile(
        1,
        [(0, 32)],
        kind="Recurring",
        recurrencyKind="Daily",
        start=T0 + timedelta(hours=2),
        duration=HOUR,
    )
    assert shape(composite([nightly], hours=30)) == [
        (0, None),
        (2, 32),
        (3, None),
        (26, 32),
        (27, None),
    ]


# A day in local time: 0 A overnight, 32 A from 07:00 to 22:00 (Europe/London).
LOCAL_DAY = [(0, 0.0), (7 * HOUR, 32.0), (22 * HOUR, 0.0)]


def local_day_profile() -> ChargingProfile:
    return profile(
        1,
        list(LOCAL_DAY),
        kind="Recurring",
        recurrencyKind="Daily",
        start=datetime(2026, 1, 1, 0, tzinfo=UTC),  # 00:00 GMT
    )


def test_daily_recurrence_keeps_local_time_on_the_spring_change_day() -> None:
    # 2026-03-29 is 23 hours long: 07:00 BST is 06:00 UTC, 22:00 BST is 21:00 UTC.
    result = composite([local_day_profile()], now=datetime(2026, 3, 29, 0, tzinfo=UTC), hours=23)
    assert shape(result) == [(0, 0), (6, 32), (21, 0)]


def test_daily_recurrence_keeps_local_time_after_the_spring_change() -> None:
    # Midnight BST is 23:00 UTC the day before.
    result = composite([local_day_profile()], now=datetime(2026, 3, 29, 23, tzinfo=UTC), hours=24)
    assert shape(result) == [(0, 0), (7, 32), (22, 0)]


def test_daily_recurrence_keeps_local_time_on_the_autumn_change_day() -> None:
    # 2026-10-25 is 25 hours long, from 23:00 UTC on the 24th: 07:00 GMT is 07:00 UTC.
    result = composite([local_day_profile()], now=datetime(2026, 10, 24, 23, tzinfo=UTC), hours=25)
    assert shape(result) == [(0, 0), (8, 32), (23, 0)]


def test_period_in_the_missing_spring_hour_starts_at_the_jump() -> None:
    # 01:30 does not exist on 2026-03-29: the period starts at 02:00 BST = 01:00 UTC.
    early = profile(
        1,
        [(0, 0), (5400, 16)],
        kind="Recurring",
        recurrencyKind="Daily",
        start=datetime(2026, 1, 1, 0, tzinfo=UTC),
    )
    result = composite([early], now=datetime(2026, 3, 29, 0, tzinfo=UTC), hours=2)
    assert shape(result) == [(0, 0), (1, 16)]


def test_period_in_the_repeated_autumn_hour_starts_on_its_first_pass() -> None:
    # 01:30 happens twice on 2026-10-25; the first pass is 01:30 BST = 00:30 UTC.
    early = profile(
        1,
        [(0, 0), (5400, 16)],
        kind="Recurring",
        recurrencyKind="Daily",
        start=datetime(2026, 1, 1, 0, tzinfo=UTC),
    )
    result = composite([early], now=datetime(2026, 10, 24, 23, tzinfo=UTC), hours=3)
    assert shape(result) == [(0, 0), (1.5, 16)]


def test_weekly_recurrence_in_local_time() -> None:
    # Monday 18:00-22:00 local: 0 A, over a 32 A base.
    base = profile(1, [(0, 32)], start=datetime(2026, 1, 1, tzinfo=UTC))
    monday_peak = profile(
        2,
        [(0, 0)],
        stack=1,
        kind="Recurring",
        recurrencyKind="Weekly",
        start=datetime(2026, 1, 5, 18, tzinfo=UTC),
        duration=4 * HOUR,
    )
    winter = composite([base, monday_peak], now=datetime(2026, 1, 11, tzinfo=UTC), hours=72)
    assert shape(winter) == [(0, 32), (42, 0), (46, 32)]
    # In summer 18:00 BST is 17:00 UTC; a week later it comes again.
    summer = composite([base, monday_peak], now=datetime(2026, 7, 5, tzinfo=UTC), hours=7 * 24)
    assert shape(summer) == [(0, 32), (41, 0), (45, 32)]
    later = composite([base, monday_peak], now=datetime(2026, 7, 11, tzinfo=UTC), hours=7 * 24)
    assert shape(later) == [(0, 32), (41 + 24, 0), (45 + 24, 32)]


def test_a_composite_longer_than_a_week_is_a_week_long_and_says_so() -> None:
    # 10^12 s is past the year 9999: the schedule is cut before any date arithmetic.
    base = profile(1, [(0, 16)], start=datetime(2026, 1, 1, tzinfo=UTC))
    result = composite([base], hours=10**12 / HOUR)
    assert result.duration_s == MAX_COMPOSITE_S == 7 * 24 * 3600
    assert shape(result) == [(0, 16)]


# Units


def test_amps_become_watts_with_voltage_and_phases() -> None:
    cap = profile(1, [(0, 16)], purpose="max")
    result = composite([cap], unit="W", phases=3)
    assert shape(result) == [(0, 16 * 230 * 3)]
    assert result.unit is RateUnit.W


def test_watts_become_amps_with_voltage_and_phases() -> None:
    default = profile(1, [(0, 7360)], unit="W")
    assert shape(composite([default], unit="A", phases=1)) == [(0, 32)]
    assert shape(composite([default], unit="A", phases=3)) == [(0, 7360 / 690)]


def test_number_phases_limits_the_conversion_and_the_result() -> None:
    single = profile(1, [(0, 32, 1)])
    result = composite([single], unit="W", phases=3)
    assert shape(result) == [(0, 7360)]
    assert result.periods[0].number_phases == 1


def test_limits_in_different_units_are_compared_in_the_requested_one() -> None:
    cap = profile(1, [(0, 6000)], purpose="max", unit="W")
    default = profile(2, [(0, 32), (HOUR, 20)])
    assert shape(composite([cap, default], unit="A", phases=1)) == [(0, 6000 / 230), (1, 20)]
    assert shape(composite([cap, default], unit="W", phases=1)) == [(0, 6000), (1, 4600)]


def test_composite_start_is_the_requested_instant() -> None:
    result = composite([profile(1, [(0, 10)])])
    assert result.start == T0
    assert result.duration_s == 6 * HOUR
    assert result.at(T0 + timedelta(hours=1)) == result.periods[0]
    assert result.at(T0 + timedelta(hours=6)) is None
