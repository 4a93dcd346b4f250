"""The profiles' limit now, as a Limit, and when it next changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ukscp.clock import LONDON
from ukscp.limits.limit import Limit, LimitSource
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ProfileSet,
    from_ocpp201,
    limit_now,
    next_change,
)

HOUR = 3600
T0 = datetime(2026, 1, 12, 12, 0, tzinfo=UTC)
_PURPOSE = {"max": "ChargingStationMaxProfile", "default": "TxDefaultProfile", "tx": "TxProfile"}


def profile(
    profile_id: int,
    periods: list[dict[str, Any]],
    *,
    purpose: str = "default",
    stack: int = 0,
    kind: str = "Absolute",
    start: str | None = "2026-01-01T00:00:00Z",
    unit: str = "A",
    schedule_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> ChargingProfile:
    schedule: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
        **(schedule_extra or {}),
    }
    if start is not None:
        schedule["startSchedule"] = start
    payload = {
        "id": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": _PURPOSE[purpose],
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }
    return from_ocpp201(payload, evse_id=1 if purpose == "tx" else 0)


def flat(limit: float, **period: Any) -> list[dict[str, Any]]:
    return [{"startPeriod": 0, "limit": limit, **period}]


def now_limit(
    profiles: list[ChargingProfile],
    at: datetime = T0,
    *,
    phases: int = 1,
    transaction: tuple[str, datetime] | None = None,
    **flags: bool,
) -> Limit | None:
    return limit_now(
        ProfileSet(tuple(profiles)),
        at,
        voltage_v=230.0,
        phases=phases,
        transaction=transaction,
        connector_id=1,
        **flags,
    )


def change_after(
    profiles: list[ChargingProfile],
    at: datetime = T0,
    *,
    transaction: tuple[str, datetime] | None = None,
) -> datetime | None:
    return next_change(
        ProfileSet(tuple(profiles)),
        at,
        voltage_v=230.0,
        phases=1,
        transaction=transaction,
        connector_id=1,
    )


def test_no_profile_means_no_limit_from_ocpp() -> None:
    assert now_limit([]) is None


def test_limit_names_the_binding_profile() -> None:
    result = now_limit([profile(3, flat(16), stack=2)])
    assert result == Limit(
        amps=16.0, source=LimitSource.OCPP, reason="OCPP TxDefaultProfile #3 (stack level 2)"
    )


def test_station_maximum_binds_when_lower() -> None:
    result = now_limit([profile(1, flat(10), purpose="max"), profile(2, flat(16))])
    assert result is not None
    assert result.amps == 10
    assert result.reason == "OCPP ChargingStationMaxProfile #1 (stack level 0)"


def test_on_a_tie_the_transaction_level_profile_binds() -> None:
    result = now_limit([profile(1, flat(16), purpose="max"), profile(2, flat(16))])
    assert result is not None
    assert result.reason == "OCPP TxDefaultProfile #2 (stack level 0)"


def test_dsr_provider_profiles_are_dsr_limits() -> None:
    result = now_limit([profile(1, flat(16))], dsr_provider=True)
    assert result is not None
    assert result.source is LimitSource.DSR


def test_randomized_delay_asks_the_charger_for_a_delay_of_up_to_that_long() -> None:
    # OCPP 2.1: the station delays each period by a random time in 0..randomizedDelay.
    asking = profile(1, flat(16), schedule_extra={"randomizedDelay": 600})
    result = now_limit([asking])
    assert result is not None
    assert result.random_delay_max_s == 600 and not result.randomised


def test_zero_randomized_delay_asks_for_nothing() -> None:
    plain = profile(1, flat(16), schedule_extra={"randomizedDelay": 0})
    result = now_limit([plain])
    assert result is not None and result.random_delay_max_s is None


def test_csms_that_randomises_marks_every_limit_randomised() -> None:
    result = now_limit([profile(1, flat(16))], csms_randomises=True)
    assert result is not None and result.randomised


def test_randomized_delay_follows_the_binding_profile_only() -> None:
    cap = profile(1, flat(10), purpose="max")
    asking = profile(2, flat(16), schedule_extra={"randomizedDelay": 600})
    result = now_limit([cap, asking])
    assert result is not None and result.random_delay_max_s is None


@pytest.mark.parametrize(
    ("number_phases", "charger_phases", "limit_phases"),
    [(None, 3, None), (1, 3, 1), (2, 3, 1), (3, 3, 3), (3, 1, 1)],
)
def test_number_phases_becomes_the_limit_phases(
    number_phases: int | None, charger_phases: int, limit_phases: int | None
) -> None:
    period = {} if number_phases is None else {"numberPhases": number_phases}
    result = now_limit([profile(1, flat(16, **period))], phases=charger_phases)
    assert result is not None
    assert result.phases == limit_phases
    assert result.amps == 16


def test_watts_become_amps_per_phase() -> None:
    result = now_limit([profile(1, flat(11040), unit="W")], phases=3)
    assert result is not None
    assert result.amps == pytest.approx(16.0)


def test_relative_profile_with_no_transaction_gives_its_first_period_at_any_time() -> None:
    relative = profile(1, [{"startPeriod": 0, "limit": 6}, {"startPeriod": 60, "limit": 16}],
                       kind="Relative", start=None)  # fmt: skip
    for later in (T0, T0 + timedelta(hours=5)):
        result = now_limit([relative], later)
        assert result is not None and result.amps == 6
    assert change_after([relative]) is None


def test_relative_profile_follows_the_transaction() -> None:
    relative = profile(1, [{"startPeriod": 0, "limit": 6}, {"startPeriod": 600, "limit": 16}],
                       kind="Relative", start=None)  # fmt: skip
    transaction = ("tx-1", T0 - timedelta(seconds=300))
    result = now_limit([relative], transaction=transaction)
    assert result is not None and result.amps == 6
    assert change_after([relative], transaction=transaction) == T0 + timedelta(seconds=300)


def test_next_change_follows_a_daily_schedule_across_the_spring_change() -> None:
    day = profile(
        1,
        [
            {"startPeriod": 0, "limit": 0},
            {"startPeriod": 7 * HOUR, "limit": 32},
            {"startPeriod": 22 * HOUR, "limit": 0},
        ],
        kind="Recurring",
        recurrencyKind="Daily",
    )
    at = datetime(2026, 3, 28, 23, tzinfo=UTC)
    changes = []
    for _ in range(4):
        changed = change_after([day], at)
        assert changed is not None
        changes.append(changed)
        at = changed
    assert changes == [
        datetime(2026, 3, 29, 6, tzinfo=UTC),
        datetime(2026, 3, 29, 21, tzinfo=UTC),
        datetime(2026, 3, 30, 6, tzinfo=UTC),
        datetime(2026, 3, 30, 21, tzinfo=UTC),
    ]


def test_next_change_is_given_in_the_zone_of_now() -> None:
    ends = profile(1, flat(16), validTo="2026-07-01T12:00:00Z")
    changed = change_after([ends], datetime(2026, 7, 1, 9, tzinfo=LONDON))
    assert changed is not None
    assert changed.tzinfo is LONDON
    assert changed == datetime(2026, 7, 1, 13, tzinfo=LONDON)


def test_constant_profile_never_changes() -> None:
    assert change_after([profile(1, flat(16))]) is None


def test_no_profiles_never_change() -> None:
    assert change_after([]) is None


def test_change_far_in_the_future_is_found() -> None:
    later = profile(2, flat(8), stack=1, validFrom="2027-06-01T00:00:00Z")
    assert change_after([profile(1, flat(16)), later]) == datetime(2027, 6, 1, tzinfo=UTC)


def test_change_of_a_recurring_pattern_far_in_the_future_is_found() -> None:
    # A daily pattern that only starts to differ from the base a year from now.
    nightly = profile(
        2,
        [{"startPeriod": 0, "limit": 16}, {"startPeriod": 6 * HOUR, "limit": 8}],
        stack=1,
        kind="Recurring",
        recurrencyKind="Daily",
        validFrom="2027-01-01T00:00:00Z",
    )
    base = profile(1, flat(16))
    # First the binding profile changes (same 16 A), then the value.
    takes_over = change_after([base, nightly])
    assert takes_over == datetime(2027, 1, 1, tzinfo=UTC)
    assert change_after([base, nightly], takes_over) == datetime(2027, 1, 1, 6, tzinfo=UTC)


def test_change_of_binding_profile_at_the_same_value_is_a_change() -> None:
    base = profile(1, flat(16))
    same = profile(2, flat(16), stack=1, validFrom="2026-01-12T13:00:00Z")
    assert change_after([base, same]) == datetime(2026, 1, 12, 13, tzinfo=UTC)


def test_naive_time_is_refused() -> None:
    naive = datetime.fromisoformat("2026-01-12T12:00:00")
    with pytest.raises(ValueError, match="timezone-aware"):
        now_limit([profile(1, flat(16))], naive)
