"""Meter readings for OCPP MeterValues, any version: pure functions of a snapshot and a time.

The measurands, their units and readings, the reading contexts, OCPP's time
format and clock alignment are the same in 1.6J and 2.0.1; only the shape of
a SampledValue differs (:mod:`ukscp.ocpp.blocks.meter_values.values16`,
:mod:`ukscp.ocpp.blocks.meter_values.values201`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ukscp.clock import LONDON
from ukscp.ocpp.port import ChargerSnapshot

ENERGY_IMPORT = "Energy.Active.Import.Register"
ENERGY_EXPORT = "Energy.Active.Export.Register"
POWER_IMPORT = "Power.Active.Import"
CURRENT_IMPORT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"

# measurand -> (unit, reading). Power.Active.Import is import only: export is not
# a negative import in OCPP, so a discharging EV reads 0 here.
_READINGS: dict[str, tuple[str, Callable[[ChargerSnapshot], float | None]]] = {
    ENERGY_IMPORT: ("Wh", lambda s: s.energy_import_wh),
    ENERGY_EXPORT: ("Wh", lambda s: s.energy_export_wh),
    POWER_IMPORT: ("W", lambda s: max(s.power_w, 0.0)),
    CURRENT_IMPORT: ("A", lambda s: s.current_a),
    CURRENT_OFFERED: ("A", lambda s: s.offered_a),
}

SUPPORTED_MEASURANDS: tuple[str, ...] = tuple(_READINGS)
DEFAULT_MEASURANDS: tuple[str, ...] = SUPPORTED_MEASURANDS

SAMPLE_PERIODIC = "Sample.Periodic"
SAMPLE_CLOCK = "Sample.Clock"
TRANSACTION_BEGIN = "Transaction.Begin"
TRANSACTION_END = "Transaction.End"


def ocpp_time(at: datetime) -> str:
    """An aware time as OCPP writes it: UTC, ISO 8601, ``Z``, milliseconds."""
    if at.tzinfo is None:
        raise ValueError("OCPP timestamps must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decimal_text(value: float) -> str:
    """A reading as a short decimal string (no exponent, no trailing zeros)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_measurands(text: str) -> tuple[str, ...]:
    """A comma-separated measurand list; ValueError naming the first unsupported one."""
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    for item in items:
        if item not in _READINGS:
            raise ValueError(f"unsupported measurand {item!r}")
    return items


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurand read from a snapshot."""

    measurand: str
    unit: str
    value: float


def readings(snapshot: ChargerSnapshot, measurands: Sequence[str]) -> list[Reading]:
    """One reading per measurand the meter can give (unknown readings are left out)."""
    out: list[Reading] = []
    for measurand in measurands:
        unit, read = _READINGS[measurand]
        value = read(snapshot)
        if value is not None:
            out.append(Reading(measurand, unit, value))
    return out


def next_aligned(now: datetime, interval_s: int) -> datetime:
    """The next clock-aligned reading time strictly after ``now``.

    OCPP aligns the intervals to midnight; we take the charger's local
    (Europe/London) midnight and count whole intervals of elapsed time from it,
    so a 15-minute interval falls on :00, :15, :30, :45 on every day, DST or not.
    """
    if interval_s <= 0:
        raise ValueError("the interval must be positive")
    local = now.astimezone(LONDON)
    # In UTC: adding to a Europe/London time would add wall-clock time, wrong across DST.
    midnight = datetime(local.year, local.month, local.day, tzinfo=LONDON).astimezone(UTC)
    elapsed = (now - midnight).total_seconds()
    steps = int(elapsed // interval_s) + 1
    return midnight + timedelta(seconds=steps * interval_s)
