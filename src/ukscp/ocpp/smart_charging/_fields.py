"""Reading OCPP JSON fields with messages that name the field.

Shared by the 1.6 and 2.0.1 converters. Every failure is a :class:`ProfileError`
whose message starts with the field's path on the wire, e.g.
``chargingSchedule.chargingSchedulePeriod[1].startPeriod must increase: 3600 after 7200``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from ukscp.ocpp.smart_charging.caps import MAX_PERIODS, MAX_STACK_LEVEL
from ukscp.ocpp.smart_charging.model import (
    ChargingSchedule,
    CompositeSchedule,
    Kind,
    ProfileError,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

E = TypeVar("E", bound=StrEnum)


class Reader:
    """A JSON object on the wire, read field by field.

    Unknown keys are refused (the OCPP schemas set ``additionalProperties: false``;
    refusing them also catches a misspelt optional field that would otherwise
    be silently ignored). ``ignored`` keys are accepted and not read.
    """

    def __init__(
        self,
        data: object,
        path: str,
        known: frozenset[str],
        ignored: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError(f"{path or 'the profile'} must be a JSON object")
        self._data: Mapping[object, object] = data
        self._path = path
        for key in data:
            if key not in known and key not in ignored:
                raise ProfileError(f"{self.name(str(key))} is not a field OCPP allows here")

    def name(self, key: str) -> str:
        """The field's full path, for messages."""
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        """Whether the field is present (a JSON null counts as absent)."""
        return self._data.get(key) is not None

    def raw(self, key: str) -> object:
        """The field's value as received, None when absent."""
        return self._data.get(key)

    def _required(self, key: str) -> object:
        value = self._data.get(key)
        if value is None:
            raise ProfileError(f"{self.name(key)} is required")
        return value

    def req_int(self, key: str) -> int:
        """A required integer."""
        return self._int(key, self._required(key))

    def opt_int(self, key: str) -> int | None:
        """An optional integer."""
        value = self._data.get(key)
        return None if value is None else self._int(key, value)

    def _int(self, key: str, value: object) -> int:
        # bool is an int subclass in Python but not an integer in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{self.name(key)} must be an integer, got {value!r}")
        return value

    def req_number(self, key: str) -> float:
        """A required finite number."""
        return self._number(key, self._required(key))

    def opt_number(self, key: str) -> float | None:
        """An optional finite number."""
        value = self._data.get(key)
        return None if value is None else self._number(key, value)

    def _number(self, key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(f"{self.name(key)} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ProfileError(f"{self.name(key)} must be a finite number, got {value!r}")
        return float(value)

    def opt_str(self, key: str) -> str | None:
        """An optional string."""
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ProfileError(f"{self.name(key)} must be a string, got {value!r}")
        return value

    def req_enum(self, key: str, wire: Mapping[str, E]) -> E:
        """A required enumeration, mapped from its wire spelling."""
        value = self._required(key)
        return self._enum(key, value, wire)

    def opt_enum(self, key: str, wire: Mapping[str, E]) -> E | None:
        """An optional enumeration, mapped from its wire spelling."""
        value = self._data.get(key)
        return None if value is None else self._enum(key, value, wire)

    def _enum(self, key: str, value: object, wire: Mapping[str, E]) -> E:
        if not isinstance(value, str) or value not in wire:
            allowed = ", ".join(wire)
            raise ProfileError(f"{self.name(key)} must be one of {allowed}; got {value!r}")
        return wire[value]

    def opt_datetime(self, key: str) -> datetime | None:
        """An optional RFC 3339 date-time, returned in UTC."""
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ProfileError(f"{self.name(key)} must be a date-time string, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ProfileError(
                f"{self.name(key)} must be an RFC 3339 date-time, got {value!r}"
            ) from None
        if parsed.tzinfo is None:
            # RFC 3339 (the schemas' "date-time" format) requires an offset; guessing
            # the zone of a schedule could shift it by an hour.
            raise ProfileError(f"{self.name(key)} must carry a time zone offset, got {value!r}")
        return parsed.astimezone(UTC)

    def req_list(self, key: str) -> Sequence[object]:
        """A required JSON array."""
        value = self._required(key)
        if not isinstance(value, list):
            raise ProfileError(f"{self.name(key)} must be an array")
        return value


def format_datetime(instant: datetime) -> str:
    """An instant as an OCPP date-time in UTC, e.g. ``2026-03-29T01:00:00Z``."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


RATE_UNITS: Mapping[str, RateUnit] = {"A": RateUnit.A, "W": RateUnit.W}
KINDS: Mapping[str, Kind] = {kind.value: kind for kind in Kind}
RECURRENCIES: Mapping[str, Recurrency] = {r.value: r for r in Recurrency}

SCHEDULE_KEYS_16 = frozenset(
    {"duration", "startSchedule", "chargingRateUnit", "chargingSchedulePeriod", "minChargingRate"}
)
PERIOD_KEYS_16 = frozenset({"startPeriod", "limit", "numberPhases"})


def read_periods(
    schedule: Reader, period_keys: frozenset[str], ignored: frozenset[str]
) -> tuple[SchedulePeriod, ...]:
    """The schedule's periods, checked as OCPP requires (2.0.1 K01.FR.31, K01.FR.35)."""
    items = schedule.req_list("chargingSchedulePeriod")
    if not items:
        raise ProfileError(
            f"{schedule.name('chargingSchedulePeriod')} must have at least one period"
        )
    if len(items) > MAX_PERIODS:
        raise ProfileError(
            f"{schedule.name('chargingSchedulePeriod')} has {len(items)} periods: this charger "
            f"takes at most {MAX_PERIODS} per schedule"
        )
    periods: list[SchedulePeriod] = []
    for index, item in enumerate(items):
        path = f"{schedule.name('chargingSchedulePeriod')}[{index}]"
        reader = Reader(item, path, period_keys, ignored)
        if reader.has("phaseToUse"):
            # 2.0.1 K01.FR.20: only for an EVSE that can switch phases; ours cannot.
            raise ProfileError(
                f"{reader.name('phaseToUse')} is not allowed: this charger cannot switch phases"
            )
        start = reader.req_int("startPeriod")
        limit = reader.req_number("limit")
        phases = reader.opt_int("numberPhases")
        if index == 0 and start != 0:
            raise ProfileError(
                f"{reader.name('startPeriod')} of the first period must be 0, got {start}"
            )
        if periods and start <= periods[-1].start_period_s:
            raise ProfileError(
                f"{reader.name('startPeriod')} must increase: {start} after "
                f"{periods[-1].start_period_s}"
            )
        if limit < 0:
            raise ProfileError(f"{reader.name('limit')} must be >= 0, got {limit:g}")
        if phases is not None and not 1 <= phases <= 3:
            raise ProfileError(f"{reader.name('numberPhases')} must be 1, 2 or 3, got {phases}")
        periods.append(SchedulePeriod(start, limit, phases))
    return tuple(periods)


def read_schedule(
    schedule: Reader,
    period_keys: frozenset[str],
    ignored: frozenset[str],
    schedule_id: int | None,
) -> ChargingSchedule:
    """The parts of a ChargingSchedule that 1.6 and 2.0.1 share."""
    unit = schedule.req_enum("chargingRateUnit", RATE_UNITS)
    periods = read_periods(schedule, period_keys, ignored)
    duration = schedule.opt_int("duration")
    if duration is not None and duration <= 0:
        # Some CSMSs may mean "open-ended" by 0; refusing says so instead of guessing.
        raise ProfileError(
            f"{schedule.name('duration')} must be > 0 seconds when present "
            f"(omit it for an open-ended schedule), got {duration}"
        )
    min_rate = schedule.opt_number("minChargingRate")
    if min_rate is not None and min_rate < 0:
        raise ProfileError(f"{schedule.name('minChargingRate')} must be >= 0, got {min_rate:g}")
    return ChargingSchedule(
        rate_unit=unit,
        periods=periods,
        start_schedule=schedule.opt_datetime("startSchedule"),
        duration_s=duration,
        min_charging_rate=min_rate,
        id=schedule_id,
    )


def check_kind(
    profile: Reader,
    schedule: Reader,
    kind: Kind,
    recurrency: Recurrency | None,
    parsed: ChargingSchedule,
    *,
    absolute_needs_start: bool,
) -> None:
    """The kind's rules on startSchedule and recurrencyKind.

    Relative: no startSchedule (2.0.1 K01.FR.41; OCPP 1.6 §7.9 says a relative
    schedule starts with the transaction). Recurring: recurrencyKind and
    startSchedule (the start of the first recurrence). Absolute: startSchedule
    in 2.0.1 (K01.FR.40); in 1.6 it may be absent, and the schedule then starts
    with charging (1.6 §7.13, startSchedule).
    """
    start_name = schedule.name("startSchedule")
    if kind is Kind.RELATIVE and parsed.start_schedule is not None:
        raise ProfileError(f"{start_name} must be absent for a Relative profile")
    if kind is Kind.RECURRING:
        if recurrency is None:
            raise ProfileError(
                f"{profile.name('recurrencyKind')} is required for a Recurring profile"
            )
        if parsed.start_schedule is None:
            raise ProfileError(f"{start_name} is required for a Recurring profile")
    if kind is Kind.ABSOLUTE and absolute_needs_start and parsed.start_schedule is None:
        raise ProfileError(f"{start_name} is required for an Absolute profile")


def check_common(profile: Reader, stack_level: int) -> None:
    """Rules on the profile object that do not depend on the version."""
    if stack_level < 0:
        raise ProfileError(f"{profile.name('stackLevel')} must be >= 0, got {stack_level}")
    if stack_level > MAX_STACK_LEVEL:
        raise ProfileError(
            f"{profile.name('stackLevel')} must be at most {MAX_STACK_LEVEL} on this charger, "
            f"got {stack_level}"
        )
    valid_from = profile.opt_datetime("validFrom")
    valid_to = profile.opt_datetime("validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise ProfileError(
            f"{profile.name('validTo')} must be after validFrom: "
            f"{format_datetime(valid_to)} is not after {format_datetime(valid_from)}"
        )


def schedule_to_wire(schedule: ChargingSchedule) -> dict[str, object]:
    """The fields of a ChargingSchedule that 1.6 and 2.0.1 share, in camelCase."""
    wire: dict[str, object] = {"chargingRateUnit": schedule.rate_unit.value}
    if schedule.duration_s is not None:
        wire["duration"] = schedule.duration_s
    if schedule.start_schedule is not None:
        wire["startSchedule"] = format_datetime(schedule.start_schedule)
    periods: list[dict[str, object]] = []
    for period in schedule.periods:
        item: dict[str, object] = {"startPeriod": period.start_period_s, "limit": period.limit}
        if period.number_phases is not None:
            item["numberPhases"] = period.number_phases
        periods.append(item)
    wire["chargingSchedulePeriod"] = periods
    if schedule.min_charging_rate is not None:
        wire["minChargingRate"] = schedule.min_charging_rate
    return wire


def composite_periods_to_wire(
    composite: CompositeSchedule, no_limit: float
) -> list[dict[str, object]]:
    """A composite schedule's periods as OCPP chargingSchedulePeriod items.

    OCPP periods are contiguous and always carry a limit, so a gap (no profile
    applies) is sent as ``no_limit``: the most the charger could deliver, in the
    composite's unit. Offsets are rounded down to whole seconds, as startPeriod
    is an integer; a period that rounds onto its predecessor replaces it.
    """
    wire: list[dict[str, object]] = []
    for period in composite.periods:
        item: dict[str, object] = {
            "startPeriod": math.floor(period.start_offset_s),
            "limit": no_limit if period.limit is None else period.limit,
        }
        if period.number_phases is not None:
            item["numberPhases"] = period.number_phases
        if wire and wire[-1]["startPeriod"] == item["startPeriod"]:
            wire.pop()
        if wire and _same_rate(wire[-1], item):
            continue  # equal once gaps are filled in: one period, not two
        wire.append(item)
    return wire


def _same_rate(first: Mapping[str, object], second: Mapping[str, object]) -> bool:
    return first["limit"] == second["limit"] and first.get("numberPhases") == second.get(
        "numberPhases"
    )
