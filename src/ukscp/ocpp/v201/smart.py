"""Smart charging over OCPP 2.0.1 (part 2, functional block K): profiles in, a Limit out.

The shell that keeps the profiles and the charger's ``ocpp`` limit is the
shared :class:`~ukscp.ocpp.profile_keeper.ProfileKeeper`; this module reads and
writes the 2.0.1 wire (:func:`from_ocpp201`, which also takes OCPP 2.1's
``randomizedDelay``) and answers SetChargingProfile (K01), ClearChargingProfile
(K10), GetCompositeSchedule (K08) and GetChargingProfiles (K09). A TxProfile
names the charger's own transactionId, so it binds to the open transaction
with no translation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ukscp.ocpp.profile_keeper import ProfileKeeper, TransactionInfo
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ProfileError,
    composite_to_ocpp201,
    from_ocpp201,
    to_ocpp201,
)
from ukscp.ocpp.smart_charging.ocpp201 import PURPOSES_201

_log = logging.getLogger(__name__)

EVSE_ID = 1
_EVSES = (0, EVSE_ID)


class SmartCharging201(ProfileKeeper[TransactionInfo]):
    """The 2.0.1 smart-charging requests on the shared :class:`ProfileKeeper`."""

    store_key = "ocpp.v201.charging_profiles"

    def parse(
        self, wire: Mapping[str, Any], *, connector_id: int, remote_start: bool = False
    ) -> ChargingProfile:
        """A 2.0.1 ChargingProfileType for EVSE ``connector_id`` (0: the station)."""
        return from_ocpp201(wire, evse_id=connector_id, remote_start=remote_start)

    def encode(self, profile: ChargingProfile) -> dict[str, Any]:
        """As 2.0.1 writes it."""
        return to_ocpp201(profile)

    def set_charging_profile(self, evse_id: int, profile: dict[str, Any]) -> tuple[str, str | None]:
        """K01: ``(status, reason)`` for a profile for the station (0) or EVSE 1."""
        if evse_id not in _EVSES:
            return "Rejected", f"no EVSE {evse_id} (this charger has EVSE 1)"
        try:
            self.install(self.parse(profile, connector_id=evse_id))
        except ProfileError as exc:
            _log.warning("SetChargingProfile rejected: %s", exc)
            return "Rejected", str(exc)
        return "Accepted", None

    def clear_charging_profile(
        self, profile_id: int | None, criteria: Mapping[str, Any] | None
    ) -> str:
        """K10: clear by id, or by EVSE / purpose / stack level: Accepted or Unknown."""
        criteria = criteria or {}
        purpose_name = criteria.get("chargingProfilePurpose")
        purpose = None if purpose_name is None else PURPOSES_201.get(str(purpose_name))
        if purpose_name is not None and purpose is None:
            return "Unknown"  # e.g. ChargingStationExternalConstraints: never set by a CSMS
        cleared = self.clear(
            id=profile_id,
            connector=criteria.get("evseId"),
            purpose=purpose,
            stack_level=criteria.get("stackLevel"),
        )
        return "Accepted" if cleared else "Unknown"

    def get_composite_schedule(
        self, evse_id: int, duration_s: int, unit: str | None
    ) -> dict[str, Any]:
        """K08: the answer's fields (snake_case), the schedule as the wire writes it."""
        if evse_id not in _EVSES or duration_s <= 0:
            return {"status": "Rejected"}
        unit = unit or "A"
        composite = self.composite(connector_id=evse_id, duration_s=duration_s, unit=unit)
        schedule = composite_to_ocpp201(composite, evse_id=evse_id, no_limit=self.most(unit))
        return {"status": "Accepted", "schedule": schedule}

    def matching_profiles(
        self, evse_id: int | None, criterion: Mapping[str, Any]
    ) -> dict[int, list[dict[str, Any]]]:
        """K09: the installed profiles matching the request, as the wire writes them, by EVSE.

        Every profile here was set by the CSMS (chargingLimitSource CSO); a
        request for another source matches none.
        """
        sources = criterion.get("chargingLimitSource")
        if sources is not None and "CSO" not in sources:
            return {}
        purpose_name = criterion.get("chargingProfilePurpose")
        purpose = None if purpose_name is None else PURPOSES_201.get(str(purpose_name))
        if purpose_name is not None and purpose is None:
            return {}
        ids = criterion.get("chargingProfileId")
        found = self.profiles.profiles(
            ids=None if ids is None else {int(i) for i in ids},
            connector=evse_id,
            purpose=purpose,
            stack_level=criterion.get("stackLevel"),
        )
        by_evse: dict[int, list[dict[str, Any]]] = {}
        for profile in found:
            by_evse.setdefault(profile.connector_id, []).append(self.encode(profile))
        return by_evse
