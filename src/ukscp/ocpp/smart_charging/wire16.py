"""OCPP 1.6J charging profiles: the wire <-> :class:`ChargingProfile`.

:func:`from_ocpp16` reads the ``csChargingProfiles`` of SetChargingProfile.req
(or the ``chargingProfile`` of RemoteStartTransaction.req) and checks what
OCPP 1.6 requires; :func:`to_ocpp16` writes a profile back for reports;
:func:`composite_to_ocpp16` writes GetCompositeSchedule.conf's schedule.
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

PURPOSES_16: Mapping[str, Purpose] = {
    "ChargePointMaxProfile": Purpose.CHARGING_STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
_WIRE_PURPOSE = {purpose: wire for wire, purpose in PURPOSES_16.items()}

_PROFILE_KEYS = frozenset(
    {
        "chargingProfileId",
        "transactionId",
        "stackLevel",
        "chargingProfilePurpose",
        "chargingProfileKind",
        "recurrencyKind",
        "validFrom",
        "validTo",
        "chargingSchedule",
    }
)
_NOTHING = frozenset[str]()


def from_ocpp16(
    payload: Mapping[str, Any], *, connector_id: int = 0, remote_start: bool = False
) -> ChargingProfile:
    """Read a 1.6 ChargingProfile (camelCase JSON) into a checked :class:`ChargingProfile`.

    ``connector_id`` is the request's ``connectorId`` (0: the whole charge
    point). ``remote_start`` marks the profile of a RemoteStartTransaction.req,
    which must be a TxProfile without a transactionId (OCPP 1.6 §5.11): its
    transaction does not exist yet. A TxProfile from SetChargingProfile.req may
    also omit transactionId; :meth:`ProfileSet.install` binds it to the
    connector's active transaction, or refuses it when there is none.

    Raises :class:`ProfileError` naming the offending field.
    """
    profile = Reader(payload, "", _PROFILE_KEYS)
    profile_id = profile.req_int("chargingProfileId")
    stack_level = profile.req_int("stackLevel")
    purpose = profile.req_enum("chargingProfilePurpose", PURPOSES_16)
    kind = profile.req_enum("chargingProfileKind", KINDS)
    recurrency = profile.opt_enum("recurrencyKind", RECURRENCIES)
    transaction_id = profile.opt_int("transactionId")
    if not profile.has("chargingSchedule"):
        raise ProfileError("chargingSchedule is required")
    schedule_reader = Reader(
        profile.raw("chargingSchedule"), profile.name("chargingSchedule"), SCHEDULE_KEYS_16
    )
    schedule = read_schedule(schedule_reader, PERIOD_KEYS_16, _NOTHING, None)
    check_common(profile, stack_level)
    check_kind(profile, schedule_reader, kind, recurrency, schedule, absolute_needs_start=False)
    _check_purpose(purpose, connector_id, transaction_id, remote_start)
    return ChargingProfile(
        id=profile_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        # recurrencyKind means nothing for other kinds; OCPP does not forbid it.
        recurrency=recurrency if kind is Kind.RECURRING else None,
        valid_from=profile.opt_datetime("validFrom"),
        valid_to=profile.opt_datetime("validTo"),
        transaction_id=None if transaction_id is None else str(transaction_id),
        connector_id=connector_id,
    )


def _check_purpose(
    purpose: Purpose, connector_id: int, transaction_id: int | None, remote_start: bool
) -> None:
    """Where each purpose may be set (OCPP 1.6 §3.13.1, §5.11, §7.8)."""
    if connector_id < 0:
        raise ProfileError(f"connectorId must be >= 0, got {connector_id}")
    if purpose is Purpose.CHARGING_STATION_MAX and connector_id != 0:
        raise ProfileError(f"connectorId must be 0 for a ChargePointMaxProfile, got {connector_id}")
    if purpose is Purpose.TX and connector_id == 0:
        raise ProfileError("connectorId must name a connector (> 0) for a TxProfile, got 0")
    if transaction_id is not None and purpose is not Purpose.TX:
        raise ProfileError(
            f"transactionId is only allowed in a TxProfile, not a {_WIRE_PURPOSE[purpose]}"
        )
    if remote_start:
        if purpose is not Purpose.TX:
            raise ProfileError(
                "chargingProfilePurpose must be TxProfile in RemoteStartTransaction, "
                f"got {_WIRE_PURPOSE[purpose]}"
            )
        if transaction_id is not None:
            raise ProfileError("transactionId must be absent in RemoteStartTransaction")


def to_ocpp16(profile: ChargingProfile) -> dict[str, Any]:
    """A profile as a 1.6 ``csChargingProfiles`` object (camelCase JSON)."""
    wire: dict[str, Any] = {
        "chargingProfileId": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": _WIRE_PURPOSE[profile.purpose],
        "chargingProfileKind": profile.kind.value,
    }
    if profile.transaction_id is not None:
        if not profile.transaction_id.isdigit():
            raise ProfileError(
                f"transactionId {profile.transaction_id!r} is not a 1.6 (integer) transaction id"
            )
        wire["transactionId"] = int(profile.transaction_id)
    if profile.recurrency is not None:
        wire["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        wire["validFrom"] = format_datetime(profile.valid_from)
    if profile.valid_to is not None:
        wire["validTo"] = format_datetime(profile.valid_to)
    wire["chargingSchedule"] = schedule_to_wire(profile.schedule)
    return wire


def composite_to_ocpp16(composite: CompositeSchedule, *, no_limit: float) -> dict[str, Any]:
    """The ``chargingSchedule`` of GetCompositeSchedule.conf (OCPP 1.6 §5.7).

    ``no_limit`` fills the periods where no profile applies: the charger's
    maximum in the composite's unit.
    """
    return {
        "duration": composite.duration_s,
        "startSchedule": format_datetime(composite.start),
        "chargingRateUnit": composite.unit.value,
        "chargingSchedulePeriod": composite_periods_to_wire(composite, no_limit),
    }
