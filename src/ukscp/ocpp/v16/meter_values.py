"""Meter readings as OCPP 1.6 MeterValues: pure functions of a snapshot and a time.

Payloads are the snake_case fields of the ``ocpp`` package's dataclasses (the
library turns them into camelCase on the wire); values are decimal strings, as
OCPP's SampledValue requires.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ukscp.clock import LONDON
from ukscp.ocpp.v16.port import ChargerSnapshot

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


def sampled_values(
    snapshot: ChargerSnapshot, measurands: Sequence[str], context: str
) -> list[dict[str, Any]]:
    """One SampledValue per measurand the meter can give (unknown readings are left out)."""
    values: list[dict[str, Any]] = []
    for measurand in measurands:
        unit, read = _READINGS[measurand]
        reading = read(snapshot)
        if reading is None:
            continue
        values.append(
            {
                "value": decimal_text(reading),
                "context": context,
                "measurand": measurand,
                "location": "Outlet",
                "unit": unit,
            }
        )
    return values


def meter_value(
    snapshot: ChargerSnapshot, measurands: Sequence[str], context: str, at: datetime
) -> dict[str, Any]:
    """One MeterValue: the sampled values taken at ``at``."""
    return {
        "timestamp": ocpp_time(at),
        "sampled_value": sampled_values(snapshot, measurands, context),
    }


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
