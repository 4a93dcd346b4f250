"""OCPP smart charging, the pure core shared by the 1.6J and 2.0.1 clients.

No websocket, no I/O, no clock: time is passed in.

* :mod:`.model`: version-neutral profiles (:class:`ChargingProfile`, ...).
* :mod:`.wire16`, :mod:`.wire201`: the wire (camelCase JSON) to and from the
  model, validating what OCPP requires; nothing past them sees camelCase.
* :mod:`.store`: :class:`ProfileSet`, the installed profiles as a value
  (SetChargingProfile, ClearChargingProfile, GetChargingProfiles).
* :mod:`.composite`: the composite schedule (GetCompositeSchedule), the
  limit in force now as a :class:`~ukscp.limits.limit.Limit`, and when it
  next changes.
"""

from ukscp.ocpp.smart_charging.composite import composite_schedule, limit_now, next_change
from ukscp.ocpp.smart_charging.model import (
    ChargingProfile,
    ChargingSchedule,
    CompositePeriod,
    CompositeSchedule,
    Kind,
    ProfileError,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    Transaction,
)
from ukscp.ocpp.smart_charging.store import ProfileSet, SameLevel
from ukscp.ocpp.smart_charging.wire16 import composite_to_ocpp16, from_ocpp16, to_ocpp16
from ukscp.ocpp.smart_charging.wire201 import composite_to_ocpp201, from_ocpp201, to_ocpp201

__all__ = [
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "Kind",
    "ProfileError",
    "ProfileSet",
    "Purpose",
    "RateUnit",
    "Recurrency",
    "SameLevel",
    "SchedulePeriod",
    "Transaction",
    "composite_schedule",
    "composite_to_ocpp16",
    "composite_to_ocpp201",
    "from_ocpp16",
    "from_ocpp201",
    "limit_now",
    "next_change",
    "to_ocpp16",
    "to_ocpp201",
]
