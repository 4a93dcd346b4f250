"""Smart charging over OCPP 1.6: profiles in, one :class:`~ukscp.limits.limit.Limit` out.

The maths is :mod:`ukscp.ocpp.smart_charging` (pure), the shell that keeps the
profiles and the limit is :class:`~ukscp.ocpp.smart_charging.keeper.ProfileKeeper`
(shared with 2.0.1); this module reads and writes the 1.6 wire and answers
SetChargingProfile / ClearChargingProfile / GetCompositeSchedule.

Transactions are known here by the client's local reference (the CSMS's
transactionId may not have arrived yet when a RemoteStartTransaction's
TxProfile must bind to its transaction); a profile naming the CSMS's id is
translated. TxProfiles end with their transaction; ChargePointMaxProfile and
TxDefaultProfile persist across restarts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol

from ukscp.ocpp.blocks.transactions.record16 import OpenTransaction
from ukscp.ocpp.port import CONNECTOR_ID
from ukscp.ocpp.routes import Result, Route
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ProfileError,
    composite_to_ocpp16,
    from_ocpp16,
    to_ocpp16,
)
from ukscp.ocpp.smart_charging.keeper import ProfileKeeper
from ukscp.ocpp.smart_charging.wire16 import PURPOSES_16

_log = logging.getLogger(__name__)



class TransactionInfo(Protocol):
    """What smart charging needs to know of the client's transaction."""

    @property
    def transaction(self) -> OpenTransaction | None:
        """The open transaction."""
        ...

    def transaction_id(self) -> int | None:
        """The CSMS's id of the open transaction, once known."""
        ...


class SmartCharging16(ProfileKeeper[TransactionInfo]):
    """The 1.6 smart-charging requests on the shared :class:`ProfileKeeper`."""

    store_key = "ocpp.v16.charging_profiles"

    def parse(
        self, wire: Mapping[str, Any], *, connector_id: int, remote_start: bool = False
    ) -> ChargingProfile:
        """A 1.6 ``csChargingProfiles``."""
        return from_ocpp16(wire, connector_id=connector_id, remote_start=remote_start)

    def encode(self, profile: ChargingProfile) -> dict[str, Any]:
        """As 1.6 writes it."""
        return to_ocpp16(profile)

    def localise(self, profile: ChargingProfile) -> ChargingProfile:
        """A profile naming the CSMS's transactionId names our local reference instead."""
        if profile.transaction_id is None or self._transactions is None:
            return profile
        current = self._transactions.transaction
        if current is not None and profile.transaction_id == str(
            self._transactions.transaction_id()
        ):
            return dataclasses.replace(profile, transaction_id=current.ref)
        return profile  # not the running transaction: install() refuses it

    # -- the CSMS's requests -------------------------------------------------------------

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """Install a profile for the whole charger (0) or connector 1."""
        if connector_id not in (0, CONNECTOR_ID):
            return "Rejected"
        try:
            self.install(self.parse(profile, connector_id=connector_id))
        except ProfileError as exc:
            _log.warning("SetChargingProfile rejected: %s", exc)
            return "Rejected"
        return "Accepted"

    def clear_charging_profile(self, request: dict[str, Any]) -> str:
        """Clear by id, or by connector / purpose / stack level."""
        purpose_name = request.get("chargingProfilePurpose")
        purpose = None if purpose_name is None else PURPOSES_16.get(str(purpose_name))
        if purpose_name is not None and purpose is None:
            return "Unknown"
        cleared = self.clear(
            id=request.get("id"),
            connector=request.get("connectorId"),
            purpose=purpose,
            stack_level=request.get("stackLevel"),
        )
        return "Accepted" if cleared else "Unknown"

    def get_composite_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """The composite schedule of connector 0 or 1 from now, in A or W."""
        connector = int(request.get("connectorId", -1))
        duration = int(request.get("duration", 0))
        unit = str(request.get("chargingRateUnit", "A"))
        if connector not in (0, CONNECTOR_ID) or duration <= 0:
            return {"status": "Rejected"}
        composite = self.composite(connector_id=connector, duration_s=duration, unit=unit)
        schedule = composite_to_ocpp16(composite, no_limit=self.most(unit))
        for period in schedule["chargingSchedulePeriod"]:
            # OCPP 1.6 limits have one decimal; round down so the report never overstates.
            period["limit"] = math.floor(float(period["limit"]) * 10) / 10
        return {
            "status": "Accepted",
            "connector_id": connector,
            "schedule_start": schedule["startSchedule"],
            "charging_schedule": schedule,
        }


def routes(smart: SmartCharging16, result: Result) -> list[Route]:
    """The Smart Charging feature profile's routes (section 3.13), answered by ``smart``."""
    return [
        Route(
            "SetChargingProfile",
            lambda call: result(
                "SetChargingProfile",
                status=smart.set_charging_profile(
                    call.args["connector_id"], dict(call.wire.get("csChargingProfiles", {}))
                ),
            ),
        ),
        Route(
            "ClearChargingProfile",
            lambda call: result(
                "ClearChargingProfile", status=smart.clear_charging_profile(dict(call.wire))
            ),
        ),
        Route(
            "GetCompositeSchedule",
            lambda call: result(
                "GetCompositeSchedule", **smart.get_composite_schedule(dict(call.wire))
            ),
        ),
    ]
