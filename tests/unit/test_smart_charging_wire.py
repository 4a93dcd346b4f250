"""OCPP 1.6 / 2.0.1 charging profiles on the wire: conversion and validation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest

from ukscp.ocpp.smart_charging import (
    CompositePeriod,
    CompositeSchedule,
    Kind,
    ProfileError,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    composite_to_ocpp16,
    composite_to_ocpp201,
    from_ocpp16,
    from_ocpp201,
    to_ocpp16,
    to_ocpp201,
)

SCHEMAS = Path(ocpp.__file__).parent


def schema(version: str, name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / version / "schemas" / f"{name}.json").read_text())


# A SetChargingProfile.req exactly as a 1.6 central system sends it.
SET_16: dict[str, Any] = {
    "connectorId": 1,
    "csChargingProfiles": {
        "chargingProfileId": 7,
        "transactionId": 42,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2026-03-01T00:00:00Z",
        "validTo": "2026-04-01T00:00:00Z",
        "chargingSchedule": {
            "duration": 7200,
            "startSchedule": "2026-03-10T18:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0, "numberPhases": 1},
                {"startPeriod": 3600, "limit": 6.5},
            ],
            "minChargingRate": 6.0,
        },
    },
}

# A SetChargingProfileRequest exactly as a 2.0.1 CSMS sends it.
SET_201: dict[str, Any] = {
    "evseId": 1,
    "chargingProfile": {
        "id": 8,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": [
            {
                "id": 80,
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 7400.0},
                    {"startPeriod": 28800, "limit": 0.0, "numberPhases": 3},
                ],
            }
        ],
    },
}


def profile16(**changes: Any) -> dict[str, Any]:
    """The 1.6 profile with top-level fields changed (None deletes)."""
    payload = copy.deepcopy(SET_16["csChargingProfiles"])
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def schedule16(**changes: Any) -> dict[str, Any]:
    schedule = copy.deepcopy(SET_16["csChargingProfiles"]["chargingSchedule"])
    for key, value in changes.items():
        if value is None:
            schedule.pop(key, None)
        else:
            schedule[key] = value
    return profile16(chargingSchedule=schedule)


def profile201(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(SET_201["chargingProfile"])
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def schedule201(**changes: Any) -> dict[str, Any]:
    schedule = copy.deepcopy(SET_201["chargingProfile"]["chargingSchedule"][0])
    for key, value in changes.items():
        if value is None:
            schedule.pop(key, None)
        else:
            schedule[key] = value
    return profile201(chargingSchedule=[schedule])


def test_example_payloads_are_valid_against_the_ocpp_schemas() -> None:
    jsonschema.validate(SET_16, schema("v16", "SetChargingProfile"))
    jsonschema.validate(SET_201, schema("v201", "SetChargingProfileRequest"))


def test_ocpp16_profile_becomes_plain_data() -> None:
    profile = from_ocpp16(SET_16["csChargingProfiles"], connector_id=SET_16["connectorId"])
    assert profile.id == 7
    assert profile.stack_level == 2
    assert profile.purpose is Purpose.TX
    assert profile.kind is Kind.ABSOLUTE
    assert profile.transaction_id == "42"
    assert profile.connector_id == 1
    assert profile.valid_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert profile.valid_to == datetime(2026, 4, 1, tzinfo=UTC)
    assert profile.randomized_delay_s is None
    schedule = profile.schedule
    assert schedule.start_schedule == datetime(2026, 3, 10, 18, tzinfo=UTC)
    assert schedule.duration_s == 7200
    assert schedule.rate_unit is RateUnit.A
    assert schedule.min_charging_rate == 6.0
    assert schedule.periods == (SchedulePeriod(0, 16.0, 1), SchedulePeriod(3600, 6.5, None))


def test_ocpp201_profile_becomes_plain_data() -> None:
    profile = from_ocpp201(SET_201["chargingProfile"], evse_id=SET_201["evseId"])
    assert profile.id == 8
    assert profile.purpose is Purpose.TX_DEFAULT
    assert profile.kind is Kind.RECURRING
    assert profile.recurrency is Recurrency.DAILY
    assert profile.connector_id == 1
    assert profile.schedule.id == 80
    assert profile.schedule.rate_unit is RateUnit.W
    assert profile.schedule.periods[1] == SchedulePeriod(28800, 0.0, 3)


def test_ocpp21_randomized_delay_is_read_from_the_schedule() -> None:
    payload = schedule201(randomizedDelay=600)
    jsonschema.validate(
        {"evseId": 1, "chargingProfile": payload}, schema("v21", "SetChargingProfileRequest")
    )
    assert from_ocpp201(payload, evse_id=1).randomized_delay_s == 600


def test_time_offsets_are_kept_as_the_same_instant_in_utc() -> None:
    profile = from_ocpp16(schedule16(startSchedule="2026-07-01T19:00:00+01:00"), connector_id=1)
    assert profile.schedule.start_schedule == datetime(2026, 7, 1, 18, tzinfo=UTC)


def test_custom_data_and_sales_tariff_are_accepted_and_ignored() -> None:
    payload = schedule201(customData={"vendorId": "x"}, salesTariff={"id": 1})
    payload["customData"] = {"vendorId": "x"}
    assert from_ocpp201(payload, evse_id=1).id == 8


def test_recurrency_kind_on_a_non_recurring_profile_is_dropped() -> None:
    profile = from_ocpp16(profile16(recurrencyKind="Daily"), connector_id=1)
    assert profile.recurrency is None


def test_ocpp16_absolute_profile_may_omit_start_schedule() -> None:
    profile = from_ocpp16(schedule16(startSchedule=None), connector_id=1)
    assert profile.schedule.start_schedule is None


def test_remote_start_profile_has_no_transaction_id() -> None:
    profile = from_ocpp16(profile16(transactionId=None), connector_id=1, remote_start=True)
    assert profile.transaction_id is None
    jsonschema.validate(
        {"idTag": "TAG1", "connectorId": 1, "chargingProfile": profile16(transactionId=None)},
        schema("v16", "RemoteStartTransaction"),
    )


def test_ocpp201_remote_start_tx_profile_without_transaction_id_is_accepted() -> None:
    payload = profile201(chargingProfilePurpose="TxProfile")
    assert from_ocpp201(payload, evse_id=1, remote_start=True).transaction_id is None


# (payload builder, expected words in the message): one per rule.
OCPP16_ERRORS: list[tuple[str, dict[str, Any], int, str]] = [
    ("missing id", profile16(chargingProfileId=None), 1, "chargingProfileId is required"),
    (
        "id not an integer",
        profile16(chargingProfileId="7"),
        1,
        "chargingProfileId must be an integer",
    ),
    ("bool is not an integer", profile16(stackLevel=True), 1, "stackLevel must be an integer"),
    ("negative stack level", profile16(stackLevel=-1), 1, "stackLevel must be >= 0, got -1"),
    (
        "unknown purpose",
        profile16(chargingProfilePurpose="ChargingStationMaxProfile"),
        1,
        "chargingProfilePurpose must be one of ChargePointMaxProfile, TxDefaultProfile, TxProfile",
    ),
    (
        "unknown kind",
        profile16(chargingProfileKind="Sometimes"),
        1,
        "chargingProfileKind must be one of",
    ),
    (
        "unknown recurrency",
        profile16(chargingProfileKind="Recurring", recurrencyKind="Monthly"),
        1,
        "recurrencyKind must be one of Daily, Weekly",
    ),
    ("missing schedule", profile16(chargingSchedule=None), 1, "chargingSchedule is required"),
    (
        "misspelt field",
        profile16(stacklevel=1),
        1,
        "stacklevel is not a field OCPP allows here",
    ),
    (
        "bad unit",
        schedule16(chargingRateUnit="kW"),
        1,
        "chargingSchedule.chargingRateUnit must be one of A, W; got 'kW'",
    ),
    (
        "no periods",
        schedule16(chargingSchedulePeriod=[]),
        1,
        "chargingSchedule.chargingSchedulePeriod must have at least one period",
    ),
    (
        "first period not at 0",
        schedule16(chargingSchedulePeriod=[{"startPeriod": 60, "limit": 6}]),
        1,
        "chargingSchedule.chargingSchedulePeriod[0].startPeriod of the first period must be 0",
    ),
    (
        "periods out of order",
        schedule16(
            chargingSchedulePeriod=[
                {"startPeriod": 0, "limit": 6},
                {"startPeriod": 7200, "limit": 8},
                {"startPeriod": 3600, "limit": 10},
            ]
        ),
        1,
        "chargingSchedulePeriod[2].startPeriod must increase: 3600 after 7200",
    ),
    (
        "repeated start period",
        schedule16(
            chargingSchedulePeriod=[
                {"startPeriod": 0, "limit": 6},
                {"startPeriod": 0, "limit": 8},
            ]
        ),
        1,
        "chargingSchedulePeriod[1].startPeriod must increase: 0 after 0",
    ),
    (
        "negative limit",
        schedule16(chargingSchedulePeriod=[{"startPeriod": 0, "limit": -1}]),
        1,
        "chargingSchedulePeriod[0].limit must be >= 0, got -1",
    ),
    (
        "limit not a number",
        schedule16(chargingSchedulePeriod=[{"startPeriod": 0, "limit": "16"}]),
        1,
        "chargingSchedulePeriod[0].limit must be a number",
    ),
    (
        "four phases",
        schedule16(chargingSchedulePeriod=[{"startPeriod": 0, "limit": 6, "numberPhases": 4}]),
        1,
        "chargingSchedulePeriod[0].numberPhases must be 1, 2 or 3, got 4",
    ),
    (
        "zero phases",
        schedule16(chargingSchedulePeriod=[{"startPeriod": 0, "limit": 6, "numberPhases": 0}]),
        1,
        "numberPhases must be 1, 2 or 3, got 0",
    ),
    (
        "zero duration",
        schedule16(duration=0),
        1,
        "chargingSchedule.duration must be > 0 seconds when present",
    ),
    (
        "negative min rate",
        schedule16(minChargingRate=-2),
        1,
        "chargingSchedule.minChargingRate must be >= 0",
    ),
    (
        "start time without zone",
        schedule16(startSchedule="2026-03-10T18:00:00"),
        1,
        "chargingSchedule.startSchedule must carry a time zone offset",
    ),
    (
        "start time not a date",
        schedule16(startSchedule="tomorrow"),
        1,
        "chargingSchedule.startSchedule must be an RFC 3339 date-time",
    ),
    (
        "validity reversed",
        profile16(validFrom="2026-04-01T00:00:00Z", validTo="2026-03-01T00:00:00Z"),
        1,
        "validTo must be after validFrom",
    ),
    (
        "relative with a start",
        profile16(chargingProfileKind="Relative"),
        1,
        "chargingSchedule.startSchedule must be absent for a Relative profile",
    ),
    (
        "recurring without recurrency",
        profile16(chargingProfileKind="Recurring"),
        1,
        "recurrencyKind is required for a Recurring profile",
    ),
    (
        "recurring without start",
        {
            **schedule16(startSchedule=None),
            "chargingProfileKind": "Recurring",
            "recurrencyKind": "Daily",
        },
        1,
        "chargingSchedule.startSchedule is required for a Recurring profile",
    ),
    (
        "station max on a connector",
        profile16(chargingProfilePurpose="ChargePointMaxProfile", transactionId=None),
        1,
        "connectorId must be 0 for a ChargePointMaxProfile, got 1",
    ),
    (
        "tx profile on connector 0",
        profile16(),
        0,
        "connectorId must name a connector (> 0) for a TxProfile",
    ),
    (
        "transaction id on a default profile",
        profile16(chargingProfilePurpose="TxDefaultProfile"),
        1,
        "transactionId is only allowed in a TxProfile, not a TxDefaultProfile",
    ),
    ("negative connector", profile16(), -1, "connectorId must be >= 0, got -1"),
]


@pytest.mark.parametrize(
    ("payload", "connector", "message"),
    [case[1:] for case in OCPP16_ERRORS],
    ids=[case[0] for case in OCPP16_ERRORS],
)
def test_ocpp16_profile_that_breaks_a_rule_is_refused_naming_the_field(
    payload: dict[str, Any], connector: int, message: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        from_ocpp16(payload, connector_id=connector)
    assert message in str(caught.value)


def test_ocpp16_remote_start_profile_must_be_a_tx_profile_without_transaction() -> None:
    with pytest.raises(ProfileError, match="must be TxProfile in RemoteStartTransaction"):
        from_ocpp16(
            profile16(chargingProfilePurpose="TxDefaultProfile", transactionId=None),
            connector_id=1,
            remote_start=True,
        )
    with pytest.raises(ProfileError, match="transactionId must be absent in RemoteStart"):
        from_ocpp16(profile16(), connector_id=1, remote_start=True)


OCPP201_ERRORS: list[tuple[str, dict[str, Any], int, str]] = [
    ("missing id", profile201(id=None), 1, "id is required"),
    (
        "external constraints from the CSMS",
        profile201(chargingProfilePurpose="ChargingStationExternalConstraints"),
        1,
        "ChargingStationExternalConstraints is set by an external system",
    ),
    (
        "1.6 purpose name",
        profile201(chargingProfilePurpose="ChargePointMaxProfile"),
        0,
        "chargingProfilePurpose must be one of ChargingStationMaxProfile",
    ),
    (
        "schedule not a list",
        profile201(chargingSchedule={}),
        1,
        "chargingSchedule must be an array",
    ),
    (
        "two schedules",
        profile201(
            chargingSchedule=SET_201["chargingProfile"]["chargingSchedule"] * 2,
        ),
        1,
        "chargingSchedule must hold exactly one schedule",
    ),
    ("schedule without id", schedule201(id=None), 1, "chargingSchedule[0].id is required"),
    (
        "periods out of order",
        schedule201(
            chargingSchedulePeriod=[
                {"startPeriod": 0, "limit": 6},
                {"startPeriod": 7200, "limit": 8},
                {"startPeriod": 3600, "limit": 10},
            ]
        ),
        1,
        "chargingSchedule[0].chargingSchedulePeriod[2].startPeriod must increase: 3600 after 7200",
    ),
    (
        "phase switching",
        schedule201(
            chargingSchedulePeriod=[
                {"startPeriod": 0, "limit": 6, "numberPhases": 1, "phaseToUse": 2}
            ]
        ),
        1,
        "chargingSchedule[0].chargingSchedulePeriod[0].phaseToUse is not allowed",
    ),
    (
        "absolute without start",
        {**schedule201(startSchedule=None), "chargingProfileKind": "Absolute"},
        1,
        "chargingSchedule[0].startSchedule is required for an Absolute profile",
    ),
    (
        "relative with start",
        profile201(chargingProfileKind="Relative"),
        1,
        "chargingSchedule[0].startSchedule must be absent for a Relative profile",
    ),
    (
        "station max on an EVSE",
        profile201(chargingProfilePurpose="ChargingStationMaxProfile"),
        1,
        "evseId must be 0 for a ChargingStationMaxProfile, got 1",
    ),
    (
        "relative station max",
        {
            **schedule201(startSchedule=None),
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Relative",
        },
        0,
        "chargingProfileKind must not be Relative for a ChargingStationMaxProfile",
    ),
    (
        "tx profile without transaction",
        profile201(chargingProfilePurpose="TxProfile"),
        1,
        "transactionId is required for a TxProfile",
    ),
    (
        "tx profile on evse 0",
        profile201(chargingProfilePurpose="TxProfile", transactionId="tx-1"),
        0,
        "evseId must name an EVSE (> 0) for a TxProfile",
    ),
    (
        "transaction id on a default profile",
        profile201(transactionId="tx-1"),
        1,
        "transactionId is only allowed in a TxProfile, not a TxDefaultProfile",
    ),
    (
        "transaction id not a string",
        profile201(chargingProfilePurpose="TxProfile", transactionId=5),
        1,
        "transactionId must be a string",
    ),
    (
        "negative randomized delay",
        schedule201(randomizedDelay=-1),
        1,
        "chargingSchedule[0].randomizedDelay must be >= 0 seconds",
    ),
    (
        "randomized delay on station max",
        {
            **schedule201(randomizedDelay=60),
            "chargingProfilePurpose": "ChargingStationMaxProfile",
        },
        0,
        "randomizedDelay is only allowed in a TxProfile or TxDefaultProfile",
    ),
    (
        "other 2.1 field",
        profile201(maxOfflineDuration=60),
        1,
        "maxOfflineDuration is not a field OCPP allows here",
    ),
    ("profile not an object", [], 1, "the profile must be a JSON object"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("payload", "evse", "message"),
    [case[1:] for case in OCPP201_ERRORS],
    ids=[case[0] for case in OCPP201_ERRORS],
)
def test_ocpp201_profile_that_breaks_a_rule_is_refused_naming_the_field(
    payload: dict[str, Any], evse: int, message: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        from_ocpp201(payload, evse_id=evse)
    assert message in str(caught.value)


def test_ocpp16_round_trip_gives_back_the_payload() -> None:
    payload = SET_16["csChargingProfiles"]
    assert to_ocpp16(from_ocpp16(payload, connector_id=1)) == payload


def test_ocpp201_round_trip_gives_back_the_payload() -> None:
    payload = schedule201(randomizedDelay=300, duration=86400, minChargingRate=1380.0)
    assert to_ocpp201(from_ocpp201(payload, evse_id=1)) == payload


def test_ocpp16_profile_reported_over_201_is_schema_valid() -> None:
    profile = from_ocpp16(SET_16["csChargingProfiles"], connector_id=1)
    report = {
        "requestId": 1,
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [to_ocpp201(profile)],
    }
    jsonschema.validate(report, schema("v201", "ReportChargingProfilesRequest"))


COMPOSITE = CompositeSchedule(
    start=datetime(2026, 3, 10, 18, 0, 0, tzinfo=UTC),
    duration_s=7200,
    unit=RateUnit.A,
    periods=(
        CompositePeriod(0.0, 16.0, 1),
        CompositePeriod(1800.4, None, None),
        CompositePeriod(3600.0, 32.0, None),
        CompositePeriod(5400.0, 6.0, None),
    ),
)


def test_composite_schedule_goes_out_as_ocpp16_with_gaps_at_the_charger_maximum() -> None:
    schedule = composite_to_ocpp16(COMPOSITE, no_limit=32.0)
    response = {"status": "Accepted", "connectorId": 1, "scheduleStart": schedule["startSchedule"]}
    jsonschema.validate(
        {**response, "chargingSchedule": schedule}, schema("v16", "GetCompositeScheduleResponse")
    )
    assert schedule == {
        "duration": 7200,
        "startSchedule": "2026-03-10T18:00:00Z",
        "chargingRateUnit": "A",
        # The gap (32 A) and the next period (32 A) are one period on the wire.
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0, "numberPhases": 1},
            {"startPeriod": 1800, "limit": 32.0},
            {"startPeriod": 5400, "limit": 6.0},
        ],
    }


def test_composite_schedule_goes_out_as_ocpp201() -> None:
    schedule = composite_to_ocpp201(COMPOSITE, evse_id=1, no_limit=32.0)
    jsonschema.validate(
        {"status": "Accepted", "schedule": schedule}, schema("v201", "GetCompositeScheduleResponse")
    )
    assert schedule["evseId"] == 1
    assert schedule["scheduleStart"] == "2026-03-10T18:00:00Z"
    assert [p["startPeriod"] for p in schedule["chargingSchedulePeriod"]] == [0, 1800, 5400]
