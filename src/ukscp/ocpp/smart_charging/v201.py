"""Smart charging over OCPP 2.0.1 (part 2, functional block K): profiles in, a Limit out.

The shell that keeps the profiles and the charger's ``ocpp`` limit is the
shared :class:`~ukscp.ocpp.smart_charging.keeper.ProfileKeeper`; this module
reads and writes the 2.0.1 wire (:func:`from_ocpp201`, which also takes OCPP
2.1's ``randomizedDelay``) and is the block's 2.0.1 route table
(:func:`routes`): SetChargingProfile (K01), ClearChargingProfile (K10),
GetCompositeSchedule (K08) and GetChargingProfiles (K09). A TxProfile
names the charger's own transactionId, so it binds to the open transaction
with no translation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ukscp.ocpp.port import EVSE_ID, ChargerPort
from ukscp.ocpp.queue import MessageQueue
from ukscp.ocpp.routes import Call, Result, Route
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ProfileError,
    composite_to_ocpp201,
    from_ocpp201,
    to_ocpp201,
)
from ukscp.ocpp.smart_charging.keeper import ProfileKeeper, TransactionInfo
from ukscp.ocpp.smart_charging.wire201 import PURPOSES_201

_log = logging.getLogger(__name__)

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
        external = self._port.external_limits()
        if external:
            # ChargingStationExternalConstraints (K08): the limits set outside the CSMS
            # cap the schedule where they bind.
            cap = self.in_unit(min(external.values()), unit)
            for period in schedule["chargingSchedulePeriod"]:
                period["limit"] = min(float(period["limit"]), cap)
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


def profile_reports(
    request_id: int, by_evse: Mapping[int, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """ReportChargingProfilesRequest fields, one per EVSE, ``tbc`` on all but the last."""
    evses = sorted(by_evse)
    return [
        {
            "request_id": request_id,
            # Every profile this charger holds came from the CSMS (K09: source CSO).
            "charging_limit_source": "CSO",
            "evse_id": evse,
            "charging_profile": by_evse[evse],
            "tbc": index < len(evses) - 1,
        }
        for index, evse in enumerate(evses)
    ]


def status_info(reason: str | None) -> dict[str, Any] | None:
    """A StatusInfoType saying why (reasonCode is a CiString20; the detail goes after)."""
    if reason is None:
        return None
    return {"reason_code": "InvalidValue", "additional_info": reason[:512]}


def routes(
    smart: SmartCharging201 | None,
    result: Result,
    request: Result,
    send_later: Callable[[list[Any]], None],
) -> list[Route]:
    """Functional block K's routes; with no ``smart``, answered as a charger without it.

    ``result`` and ``request`` build 2.0.1 messages; ``send_later`` sends
    GetChargingProfiles' reports, in order, once its answer has gone.
    """
    found_by_request: dict[int, dict[int, list[dict[str, Any]]]] = {}

    def set_charging_profile(call: Call) -> Any:
        status: str
        reason: str | None
        if smart is None:
            status, reason = "Rejected", "smart charging is not enabled"
        else:
            status, reason = smart.set_charging_profile(
                call.args["evse_id"], dict(call.wire.get("chargingProfile", {}))
            )
        return result("SetChargingProfile", status=status, status_info=status_info(reason))

    def clear_charging_profile(call: Call) -> Any:
        status = "Unknown"
        if smart is not None:
            status = smart.clear_charging_profile(
                call.wire.get("chargingProfileId"), call.wire.get("chargingProfileCriteria")
            )
        return result("ClearChargingProfile", status=status)

    def get_composite_schedule(call: Call) -> Any:
        answer: dict[str, Any] = {"status": "Rejected"}
        if smart is not None:
            answer = smart.get_composite_schedule(
                call.args["evse_id"], call.args["duration"], call.args.get("charging_rate_unit")
            )
        return result("GetCompositeSchedule", **answer)

    def get_charging_profiles(call: Call) -> Any:
        found = {}
        if smart is not None:
            found = smart.matching_profiles(
                call.args.get("evse_id"), call.wire.get("chargingProfile", {})
            )
        if found:
            found_by_request[call.args["request_id"]] = found
        return result("GetChargingProfiles", status="Accepted" if found else "NoProfiles")

    def report_charging_profiles(call: Call) -> None:
        request_id = call.args["request_id"]
        found = found_by_request.pop(request_id, None)
        if found is not None:
            reports = profile_reports(request_id, found)
            send_later([request("ReportChargingProfiles", **fields) for fields in reports])

    return [
        Route("SetChargingProfile", set_charging_profile),
        Route("ClearChargingProfile", clear_charging_profile),
        Route("GetCompositeSchedule", get_composite_schedule),
        Route("GetChargingProfiles", get_charging_profiles, report_charging_profiles),
    ]


NOTIFY_CHARGING_LIMIT = "NotifyChargingLimit"
CLEARED_CHARGING_LIMIT = "ClearedChargingLimit"


class ExternalLimits201:
    """K12/K13: each limit set outside the CSMS (an energy manager's, a grid operator's DSR)
    is told to the CSMS (NotifyChargingLimit with its chargingLimitSource and a schedule
    of its value), and its end (ClearedChargingLimit), through the persistent queue."""

    def __init__(
        self, port: ChargerPort, queue: MessageQueue, wake_sender: Callable[[], None]
    ) -> None:
        self._port = port
        self._queue = queue
        self._wake_sender = wake_sender
        self._reported: dict[str, float] = {}

    def changed(self) -> None:
        """A limit was set or cleared: tell the CSMS what changed outside it."""
        now = dict(self._port.external_limits())
        queued = False
        for source, amps in now.items():
            if self._reported.get(source) != amps:
                self._queue.put(NOTIFY_CHARGING_LIMIT, notify_charging_limit(source, amps))
                queued = True
        for source in self._reported.keys() - now.keys():
            payload = {"charging_limit_source": source, "evse_id": EVSE_ID}
            self._queue.put(CLEARED_CHARGING_LIMIT, payload)
            queued = True
        self._reported = now
        if queued:
            self._wake_sender()


def notify_charging_limit(source: str, amps: float) -> dict[str, Any]:
    """NotifyChargingLimitRequest's fields (snake_case) for ``amps`` set by ``source``."""
    return {
        "charging_limit": {"charging_limit_source": source},
        "evse_id": EVSE_ID,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": amps}],
            }
        ],
    }
