"""Building the device-model answers of OCPP 2.0.1: pure functions.

GetVariables / SetVariables results (B05, B06) and the NotifyReport data of a
base report (B07). Requests arrive as the
``ocpp`` package gives them (snake_case dicts); answers are snake_case too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ukscp.ocpp.blocks.settings.device_model201 import UNKNOWN_COMPONENT, Entry, Name

Act = Callable[[Name, str, str | None], tuple[str, str | None]]
"""``(name, attribute type, value to set or None) -> (attribute status, value read)``."""


def _name(item: Mapping[str, Any]) -> tuple[Name, bool]:
    """The variable's name, and whether its component is one this charger does not have."""
    component = item.get("component", {})
    variable = item.get("variable", {})
    name = Name(
        str(component.get("name", "")), str(variable.get("name", "")), variable.get("instance")
    )
    # Every component of this charger belongs to the station, none to an EVSE, and
    # none has instances: any other address names a component it does not have.
    return name, "evse" in component or component.get("instance") is not None


def variable_results(
    items: Iterable[Mapping[str, Any]], act: Act, *, setting: bool = False
) -> list[dict[str, Any]]:
    """One GetVariableResultType (or SetVariableResultType with ``setting``) per item.

    The component and variable are echoed back as the CSMS sent them, so it
    can match each answer to its question.
    """
    answers: list[dict[str, Any]] = []
    for item in items:
        name, elsewhere = _name(item)
        kind = str(item.get("attribute_type") or "Actual")
        if elsewhere:
            status, value = UNKNOWN_COMPONENT, None
        else:
            wanted = str(item.get("attribute_value", "")) if setting else None
            status, value = act(name, kind, wanted)
        answer: dict[str, Any] = {
            "attribute_status": status,
            "attribute_type": kind,
            "component": item.get("component"),
            "variable": item.get("variable"),
        }
        if not setting and value is not None:
            answer["attribute_value"] = value
        answers.append(answer)
    return answers


def base_report(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """NotifyReport's ``report_data``: every variable with its actual value (none if write-only)."""
    data: list[dict[str, Any]] = []
    for entry in entries:
        attribute: dict[str, Any] = {"type": "Actual", "mutability": entry.mutability}
        if entry.value is not None:
            attribute["value"] = entry.value
        variable: dict[str, Any] = {"name": entry.name.variable}
        if entry.name.instance:
            variable["instance"] = entry.name.instance
        characteristics: dict[str, Any] = {
            "data_type": entry.data_type,
            "supports_monitoring": False,
        }
        if entry.unit is not None:
            characteristics["unit"] = entry.unit
        if entry.max_limit is not None:
            characteristics["max_limit"] = entry.max_limit
        data.append(
            {
                "component": {"name": entry.name.component},
                "variable": variable,
                "variable_attribute": [attribute],
                "variable_characteristics": characteristics,
            }
        )
    return data
