"""The installed-profile set: SetChargingProfile, ClearChargingProfile, GetChargingProfiles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ProfileError,
    ProfileSet,
    Purpose,
    SameLevel,
    from_ocpp16,
    from_ocpp201,
)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)

_PURPOSE_16 = {
    "max": "ChargePointMaxProfile",
    "default": "TxDefaultProfile",
    "tx": "TxProfile",
}


def p16(
    profile_id: int,
    *,
    purpose: str = "default",
    stack: int = 0,
    connector: int = 0,
    limit: float = 16,
    **extra: Any,
) -> ChargingProfile:
    """A 1.6 csChargingProfiles payload, converted as the 1.6 client will."""
    payload: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": _PURPOSE_16[purpose],
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }
    return from_ocpp16(payload, connector_id=connector)


def p201(
    profile_id: int, *, stack: int = 0, evse: int = 1, valid: tuple[str, str] | None = None
) -> ChargingProfile:
    payload: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-03-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            }
        ],
    }
    if valid is not None:
        payload["validFrom"], payload["validTo"] = valid
    return from_ocpp201(payload, evse_id=evse)


def install(*profiles: ChargingProfile, active: str | None = None) -> ProfileSet:
    result = ProfileSet()
    for profile in profiles:
        result = result.install(profile, now=NOW, active_transaction_id=active)
    return result


def ids(profile_set: ProfileSet) -> list[int]:
    return [p.id for p in profile_set]


def test_installing_keeps_the_old_set_unchanged() -> None:
    empty = ProfileSet()
    after = empty.install(p16(1), now=NOW, active_transaction_id=None)
    assert len(empty) == 0
    assert ids(after) == [1]


def test_profile_with_the_same_id_is_replaced() -> None:
    profile_set = install(p16(1, limit=16), p16(1, limit=8, stack=3))
    assert [(p.id, p.stack_level) for p in profile_set] == [(1, 3)]


def test_ocpp16_same_stack_level_and_purpose_replaces_the_old_profile() -> None:
    profile_set = install(p16(1, stack=2), p16(2, stack=2))
    assert ids(profile_set) == [2]


def test_same_stack_level_on_another_connector_or_purpose_is_kept() -> None:
    profile_set = install(
        p16(1, stack=2, connector=0),
        p16(2, stack=2, connector=1),
        p16(3, stack=2, purpose="max"),
    )
    assert ids(profile_set) == [1, 2, 3]


def test_ocpp201_same_stack_level_with_overlapping_validity_is_rejected() -> None:
    first = install(p201(1, stack=1, valid=("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")))
    with pytest.raises(ProfileError, match="stackLevel 1 is taken by TxDefaultProfile #1"):
        first.install(
            p201(2, stack=1, valid=("2026-03-15T00:00:00Z", "2026-05-01T00:00:00Z")),
            now=NOW,
            active_transaction_id=None,
            same_level=SameLevel.REJECT,
        )


def test_ocpp201_same_stack_level_with_separate_validity_is_accepted() -> None:
    first = install(p201(1, stack=1, valid=("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")))
    both = first.install(
        p201(2, stack=1, valid=("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z")),
        now=NOW,
        active_transaction_id=None,
        same_level=SameLevel.REJECT,
    )
    assert ids(both) == [1, 2]


def test_tx_profile_without_transaction_id_is_bound_to_the_running_transaction() -> None:
    profile_set = install(p16(5, purpose="tx", connector=1), active="42")
    assert profile_set.items[0].transaction_id == "42"


def test_tx_profile_with_no_transaction_running_is_rejected() -> None:
    with pytest.raises(ProfileError, match="needs a transaction running on connector 1"):
        install(p16(5, purpose="tx", connector=1, transactionId=42))


def test_tx_profile_for_another_transaction_is_rejected() -> None:
    with pytest.raises(ProfileError, match="transactionId 41 is not the transaction running"):
        install(p16(5, purpose="tx", connector=1, transactionId=41), active="42")


def test_expired_profiles_are_dropped_when_installing() -> None:
    old = p16(1, stack=1, validTo="2026-03-01T00:00:00Z")
    profile_set = ProfileSet((old,)).install(p16(2), now=NOW, active_transaction_id=None)
    assert ids(profile_set) == [2]


@pytest.fixture
def loaded() -> ProfileSet:
    return install(
        p16(1, purpose="max", stack=0),
        p16(2, purpose="default", stack=0, connector=0),
        p16(3, purpose="default", stack=1, connector=1),
        p16(4, purpose="tx", stack=1, connector=1),
        p16(5, purpose="default", stack=1, connector=2),
        active="42",
    )


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        ({"id": 3}, [1, 2, 4, 5]),
        # An id picks that profile whatever the other criteria say (1.6 §5.5).
        ({"id": 3, "connector": 2, "purpose": Purpose.TX}, [1, 2, 4, 5]),
        ({"connector": 1}, [1, 2, 5]),
        ({"connector": 0}, [3, 4, 5]),
        ({"purpose": Purpose.TX_DEFAULT}, [1, 4]),
        ({"stack_level": 1}, [1, 2]),
        ({"purpose": Purpose.TX_DEFAULT, "stack_level": 1}, [1, 2, 4]),
        ({"connector": 1, "purpose": Purpose.TX_DEFAULT, "stack_level": 1}, [1, 2, 4, 5]),
        ({}, []),
    ],
)
def test_clear_removes_the_matching_profiles(
    loaded: ProfileSet, criteria: dict[str, Any], left: list[int]
) -> None:
    cleared_set, count = loaded.clear(**criteria)
    assert ids(cleared_set) == left
    assert count == len(loaded) - len(left)


def test_clear_that_matches_nothing_reports_zero(loaded: ProfileSet) -> None:
    same, count = loaded.clear(id=99)
    assert count == 0
    assert same == loaded
    _, count = loaded.clear(connector=3)
    assert count == 0


def test_tx_profiles_end_with_their_transaction(loaded: ProfileSet) -> None:
    assert ids(loaded.for_transaction_end("42")) == [1, 2, 3, 5]
    assert ids(loaded.for_transaction_end("other")) == [1, 2, 3, 4, 5]
    assert ids(loaded.for_transaction_end()) == [1, 2, 3, 5]


def test_profiles_reports_by_criteria(loaded: ProfileSet) -> None:
    assert [p.id for p in loaded.profiles()] == [1, 2, 3, 4, 5]
    assert [p.id for p in loaded.profiles(ids=[2, 4, 9])] == [2, 4]
    assert [p.id for p in loaded.profiles(connector=0)] == [1, 2]
    assert [p.id for p in loaded.profiles(purpose=Purpose.TX_DEFAULT, stack_level=1)] == [3, 5]
