"""Meter readings as OCPP 2.0.1 MeterValueType (the 2.0.1 shape of a SampledValue).

In 2.0.1 a sampled value is a number (not a string, as in 1.6) and its unit
sits in ``unitOfMeasure``. Payloads are snake_case (the ``ocpp`` package turns
them into camelCase on the wire). The readings are :mod:`ukscp.ocpp.blocks.meter_values.readings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ukscp.ocpp.blocks.meter_values.readings import ocpp_time, readings
from ukscp.ocpp.port import ChargerSnapshot


def sampled_values(
    snapshot: ChargerSnapshot, measurands: Sequence[str], context: str
) -> list[dict[str, Any]]:
    """One SampledValueType per measurand the meter can give (unknown readings left out)."""
    return [
        {
            # Three decimals are more than any register or clamp resolves.
            "value": round(reading.value, 3),
            "context": context,
            "measurand": reading.measurand,
            "location": "Outlet",
            "unit_of_measure": {"unit": reading.unit},
        }
        for reading in readings(snapshot, measurands)
    ]


def meter_value(
    snapshot: ChargerSnapshot, measurands: Sequence[str], context: str, at: datetime
) -> dict[str, Any] | None:
    """One MeterValueType taken at ``at``, or None when no measurand could be read.

    (The schema asks for at least one sampled value.)
    """
    values = sampled_values(snapshot, measurands, context)
    if not values:
        return None
    return {"timestamp": ocpp_time(at), "sampled_value": values}
