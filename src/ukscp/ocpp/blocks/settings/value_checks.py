"""Checks of a setting's new value, shared by 1.6 configuration keys and 2.0.1 variables.

Each check takes the text the CSMS sent and returns the value to store, in its
canonical form, or raises ValueError saying why it cannot be taken.
"""

from __future__ import annotations

from collections.abc import Callable

from ukscp.ocpp.blocks.meter_values.readings import parse_measurands


def whole_number(low: int, high: int) -> Callable[[str], str]:
    """A check for an integer between ``low`` and ``high`` inclusive."""

    def check(text: str) -> str:
        value = int(text.strip())  # ValueError for anything but an integer
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return str(value)

    return check


def measurand_list(text: str) -> str:
    """A check for a comma-separated list of supported measurands."""
    return ",".join(parse_measurands(text))
