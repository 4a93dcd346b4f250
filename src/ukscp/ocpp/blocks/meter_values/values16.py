"""Meter readings as OCPP 1.6 MeterValues (the 1.6 shape of a SampledValue).

Payloads are the snake_case fields of the ``ocpp`` package's dataclasses (the
library turns them into camelCase on the wire); values are decimal strings, as
OCPP 1.6's SampledValue requires. The readings themselves are
:mod:`ukscp.ocpp.blocks.meter_values.readings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ukscp.ocpp.blocks.meter_values.readings import decimal_text, ocpp_time, readings
from ukscp.ocpp.port import ChargerSnapshot


def sampled_values(
    snapshot: ChargerSnapshot, measurands: Sequence[str], context: str
) -> list[dict[str, Any]]:
    """One SampledValue per measurand the meter can give (unknown readings are left out)."""
    return [
        {
            "value": decimal_text(reading.value),
            "context": context,
            "measurand": reading.measurand,
            "location": "Outlet",
            "unit": reading.unit,
        }
        for reading in readings(snapshot, measurands)
    ]


def meter_value(
    snapshot: ChargerSnapshot, measurands: Sequence[str], context: str, at: datetime
) -> dict[str, Any]:
    """One MeterValue: the sampled values taken at ``at``."""
    return {
        "timestamp": ocpp_time(at),
        "sampled_value": sampled_values(snapshot, measurands, context),
    }
