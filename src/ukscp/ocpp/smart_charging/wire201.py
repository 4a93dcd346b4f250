"""OCPP 2.0.1 charging profiles: the wire <-> :class:`ChargingProfile`.

:func:`from_ocpp201` reads the ``chargingProfile`` of SetChargingProfileRequest
(or of RequestStartTransactionRequest), accepting OCPP 2.1's ``randomizedDelay``
in the schedule; :func:`to_ocpp201` writes a profile back for
ReportChargingProfilesRequest; :func:`composite_to_ocpp201` writes
GetCompositeScheduleResponse's ``schedule``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ukscp.ocpp.smart_charging._fields import (
    KINDS,
    PERIOD_KEYS_16,
    RECURRENCIES,
    SCHEDULE_KEYS_16,
    Reader,
    check_common,
    check_kind,
    composite_periods_to_wire,
    format_datetime,
    read_schedule,
    schedule_to_wire,
)
from ukscp.ocpp.smart_charging.model import (
    ChargingProfile,
    CompositeSchedule,
    Kind,
    ProfileError,
    Purpose,
)

PURPOSES_201: Mapping[str, Purpose] = {
    "ChargingStationMaxProfile": Purpose.CHARGING_STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_WIRE_PURPOSE = {purpose: wire for wire, purpose in PURPOSES_201.items()}
_EXTERNAL = "ChargingStationExternalConstraints"

_PROFILE_KEYS = frozenset(
    {
        "id",
        "stackLevel",
        "chargingProfilePurpose",
        "chargingProfileKind",
        "recurrencyKind",
        "validFrom",
        "validTo",
        "chargingSchedule",
        "transactionId",
    }
)
_SCHEDULE_KEYS = SCHEDULE_KEYS_16 | {"id", "randomizedDelay"}
_PERIOD_KEYS = PERIOD_KEYS_16 | {"phaseToUse"}
_CUSTOM = frozenset({"customData"})
# salesTariff is for ISO 15118 EVs, which this charger (IEC 61851 PWM only) has not.
_SCHEDULE_IGNORED = _CUSTOM | {"salesTariff"}


def from_ocpp201(
    payload: Mapping[str, Any], *, evse_id: int = 0, remote_start: bool = False
) -> ChargingProfile:
    """Read a 2.0.1 ChargingProfileType (camelCase JSON) into a checked :class:`ChargingProfile`.

    ``evse_id`` is the request's ``evseId`` (0: the whole station).
    ``remote_start`` marks the profile of a RequestStartTransactionRequest: a
    TxProfile whose transaction does not exist yet, so without transactionId.
    ``chargingSchedule[0].randomizedDelay`` (OCPP 2.1) is accepted when present.

    Raises :class:`ProfileError` naming the offending field.
    """
    profile = Reader(payload, "", _PROFILE_KEYS, _CUSTOM)
    profile_id = profile.req_int("id")
    stack_level = profile.req_int("stackLevel")
    if profile.raw("chargingProfilePurpose") == _EXTERNAL:
        raise ProfileError(
            f"chargingProfilePurpose {_EXTERNAL} is set by an external system, not the CSMS"
        )
    purpose = profile.req_enum("chargingProfilePurpose", PURPOSES_201)
    kind = profile.req_enum("chargingProfileKind", KINDS)
    recurrency = profile.opt_enum("recurrencyKind", RECURRENCIES)
    transaction_id = profile.opt_str("transactionId")
    schedules = profile.req_list("chargingSchedule")
    if len(schedules) != 1:
        # Up to three schedules are alternatives for an ISO 15118 EV to choose
        # from; with no ISO 15118 there is no one to choose, so we take exactly one.
        raise ProfileError(
            f"chargingSchedule must hold exactly one schedule (this charger has no "
            f"ISO 15118 EV to choose between alternatives), got {len(schedules)}"
        )
    schedule_reader = Reader(schedules[0], "chargingSchedule[0]", _SCHEDULE_KEYS, _SCHEDULE_IGNORED)
    schedule_id = schedule_reader.req_int("id")
    schedule = read_schedule(schedule_reader, _PERIOD_KEYS, _CUSTOM, schedule_id)
    randomized_delay = schedule_reader.opt_int("randomizedDelay")
    check_common(profile, stack_level)
    check_kind(profile, schedule_reader, kind, recurrency, schedule, absolute_needs_start=True)
    _check_purpose(purpose, kind, evse_id, transaction_id, remote_start)
    if randomized_delay is not None:
        name = schedule_reader.name("randomizedDelay")
        if randomized_delay < 0:
            raise ProfileError(f"{name} must be >= 0 seconds, got {randomized_delay}")
        if purpose is Purpose.CHARGING_STATION_MAX:
            # OCPP 2.1 ChargingScheduleType: only for TxProfile and TxDefaultProfile.
            raise ProfileError(f"{name} is only allowed in a TxProfile or TxDefaultProfile")
    return ChargingProfile(
        id=profile_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        recurrency=recurrency if kind is Kind.RECURRING else None,
        valid_from=profile.opt_datetime("validFrom"),
        valid_to=profile.opt_datetime("validTo"),
        transaction_id=transaction_id,
        connector_id=evse_id,
        randomized_delay_s=randomized_delay,
    )


def _check_purpose(
    purpose: Purpose, kind: Kind, evse_id: int, transaction_id: str | None, remote_start: bool
) -> None:
    """Where each purpose may be set (OCPP 2.0.1 K01.FR.03, .16, .38; F01)."""
    if evse_id < 0:
        raise ProfileError(f"evseId must be >= 0, got {evse_id}")
    if purpose is Purpose.CHARGING_STATION_MAX:
        if evse_id != 0:
            raise ProfileError(f"evseId must be 0 for a ChargingStationMaxProfile, got {evse_id}")
        if kind is Kind.RELATIVE:
            raise ProfileError(
                "chargingProfileKind must not be Relative for a ChargingStationMaxProfile"
            )
    if purpose is Purpose.TX and evse_id == 0:
        raise ProfileError("evseId must name an EVSE (> 0) for a TxProfile, got 0")
    if transaction_id is not None and purpose is not Purpose.TX:
        raise ProfileError(
            f"transactionId is only allowed in a TxProfile, not a {_WIRE_PURPOSE[purpose]}"
        )
    if remote_start:
        if purpose is not Purpose.TX:
            raise ProfileError(
                "chargingProfilePurpose must be TxProfile in RequestStartTransaction, "
                f"got {_WIRE_PURPOSE[purpose]}"
            )
        if transaction_id is not None:
            raise ProfileError("transactionId must be absent in RequestStartTransaction")
    elif purpose is Purpose.TX and transaction_id is None:
        raise ProfileError("transactionId is required for a TxProfile")


def to_ocpp201(profile: ChargingProfile) -> dict[str, Any]:
    """A profile as a 2.0.1 ChargingProfileType (camelCase JSON), e.g. for reports."""
    wire: dict[str, Any] = {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": _WIRE_PURPOSE[profile.purpose],
        "chargingProfileKind": profile.kind.value,
    }
    if profile.recurrency is not None:
        wire["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        wire["validFrom"] = format_datetime(profile.valid_from)
    if profile.valid_to is not None:
        wire["validTo"] = format_datetime(profile.valid_to)
    if profile.transaction_id is not None:
        wire["transactionId"] = profile.transaction_id
    # A profile that came over 1.6 has no schedule id; its profile id is unique too.
    schedule: dict[str, Any] = {
        "id": profile.id if profile.schedule.id is None else profile.schedule.id,
        **schedule_to_wire(profile.schedule),
    }
    if profile.randomized_delay_s is not None:
        schedule["randomizedDelay"] = profile.randomized_delay_s
    wire["chargingSchedule"] = [schedule]
    return wire


def composite_to_ocpp201(
    composite: CompositeSchedule, *, evse_id: int, no_limit: float
) -> dict[str, Any]:
    """The ``schedule`` (CompositeScheduleType) of GetCompositeScheduleResponse (2.0.1 K08).

    ``no_limit`` fills the periods where no profile applies: the charger's
    maximum in the composite's unit.
    """
    return {
        "evseId": evse_id,
        "duration": composite.duration_s,
        "scheduleStart": format_datetime(composite.start),
        "chargingRateUnit": composite.unit.value,
        "chargingSchedulePeriod": composite_periods_to_wire(composite, no_limit),
    }
