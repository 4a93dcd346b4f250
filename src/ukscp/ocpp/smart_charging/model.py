"""Charging profiles as plain, version-neutral data.

These types are what the rest of the smart-charging core works with. They are
built from the wire by :mod:`.wire16` and :mod:`.wire201`, which validate
them; nothing past those modules sees camelCase or OCPP version differences.

All datetimes are timezone-aware and held in UTC: aware datetimes that share
a tzinfo compare by wall time and ignore ``fold``, so local times would sort
wrongly across the autumn clock change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class ProfileError(ValueError):
    """A charging profile (or an operation on the profile set) that OCPP does not allow.

    The message names the offending wire field in words, ready to be logged and
    turned into a ``Rejected`` status for the CSMS.
    """


class Purpose(StrEnum):
    """What a profile constrains (OCPP 1.6 §3.13.2, 2.0.1 K01)."""

    # 1.6 ChargePointMaxProfile / 2.0.1 ChargingStationMaxProfile: the whole station.
    CHARGING_STATION_MAX = "ChargingStationMax"
    TX_DEFAULT = "TxDefault"  # default for new and running transactions
    TX = "Tx"  # one transaction; overrides TxDefault


class Kind(StrEnum):
    """How a schedule is anchored in time (OCPP 1.6 §7.14, 2.0.1 ChargingProfileKindEnumType)."""

    ABSOLUTE = "Absolute"  # from startSchedule
    RECURRING = "Recurring"  # from startSchedule, repeating daily or weekly
    RELATIVE = "Relative"  # from the start of the transaction


class Recurrency(StrEnum):
    """Period of a recurring schedule."""

    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    """Unit of schedule limits: amperes per phase or watts in total."""

    A = "A"
    W = "W"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    """One period of a schedule: from ``start_period_s`` until the next period starts."""

    start_period_s: int
    limit: float
    # None = not given; OCPP then assumes 3 phases for AC, capped here by the
    # phases the charger actually has.
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    """A list of periods with their unit and, for absolute/recurring kinds, a start."""

    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    start_schedule: datetime | None = None
    duration_s: int | None = None  # None: the last period runs on indefinitely
    min_charging_rate: float | None = None
    id: int | None = None  # 2.0.1 ChargingScheduleType.id; None for 1.6


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    """A charging profile as installed on the charger.

    ``connector_id`` is the 1.6 connector or the 2.0.1 EVSE; 0 means the whole
    station. ``transaction_id`` is a string in both versions (1.6 sends an
    integer, kept as its decimal text). ``randomized_delay_s`` is OCPP 2.1's
    ``randomizedDelay`` (None when absent).
    """

    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    connector_id: int = 0
    randomized_delay_s: int | None = None

    def valid_at(self, instant: datetime) -> bool:
        """Whether ``instant`` lies in [validFrom, validTo); absent bounds are open."""
        if self.valid_from is not None and instant < self.valid_from:
            return False
        return self.valid_to is None or instant < self.valid_to

    def describe(self) -> str:
        """A short name for logs and limit reasons, e.g. ``TxProfile #12 (stack level 2)``."""
        return f"{self.purpose.value}Profile #{self.id} (stack level {self.stack_level})"


class Transaction(NamedTuple):
    """The transaction on the connector: its id and when it started."""

    id: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    """A period of a composite schedule.

    ``start_offset_s`` counts from the schedule's start. ``limit`` is None where
    no profile applies: OCPP sets no limit there (see :mod:`.composite`).
    """

    start_offset_s: float
    limit: float | None
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """The limit that all installed profiles together impose, over a time window."""

    start: datetime
    duration_s: int
    unit: RateUnit
    periods: tuple[CompositePeriod, ...]

    def at(self, instant: datetime) -> CompositePeriod | None:
        """The period in force at ``instant``; None outside the window."""
        offset = (instant - self.start).total_seconds()
        if not 0 <= offset < self.duration_s:
            return None
        current = None
        for period in self.periods:
            if period.start_offset_s > offset:
                break
            current = period
        return current
