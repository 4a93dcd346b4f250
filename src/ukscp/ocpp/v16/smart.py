"""Smart charging over OCPP 1.6: profiles in, one :class:`~ukscp.limits.limit.Limit` out.

The maths is :mod:`ukscp.ocpp.smart_charging` (pure); this module is its shell
for the 1.6 client: it keeps the installed :class:`ProfileSet`, answers
SetChargingProfile / ClearChargingProfile / GetCompositeSchedule, and keeps the
charger's ``ocpp`` limit equal to :func:`limit_now`, re-evaluating it at each
:func:`next_change` on the clock and whenever the profiles or the transaction
change.

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
from typing import Any, Protocol

from ukscp.clock import Alarm, Clock
from ukscp.limits.limit import Limit
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ProfileError,
    ProfileSet,
    Purpose,
    composite_schedule,
    composite_to_ocpp16,
    from_ocpp16,
    limit_now,
    next_change,
    to_ocpp16,
)
from ukscp.ocpp.smart_charging.ocpp16 import PURPOSES_16
from ukscp.ocpp.v16.port import ChargerPort, KeyValueStore
from ukscp.ocpp.v16.transactions import OpenTransaction

_log = logging.getLogger(__name__)

CONNECTOR_ID = 1
_STORE_KEY = "ocpp.v16.charging_profiles"
_IDLE_S = 3600.0


class TransactionInfo(Protocol):
    """What smart charging needs to know of the client's transaction."""

    @property
    def transaction(self) -> OpenTransaction | None:
        """The open transaction."""
        ...

    def transaction_id(self) -> int | None:
        """The CSMS's id of the open transaction, once known."""
        ...


class SmartChargingHandler(Protocol):
    """What the client hands the smart-charging requests to."""

    def attach(self, transactions: TransactionInfo) -> None:
        """Called once by the client that owns the handler, when it is built."""
        ...

    async def run(self) -> None:
        """Keep the charger's limit up to date until cancelled."""
        ...

    def transaction_changed(self) -> None:
        """The open transaction began or ended (TxProfiles follow it)."""
        ...

    def accept_remote_start_profile(self, profile: dict[str, Any]) -> bool:
        """Take the TxProfile of a RemoteStartTransaction; False if it is refused."""
        ...

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile (``profile`` as on the wire): Accepted or Rejected."""
        ...

    def clear_charging_profile(self, request: dict[str, Any]) -> str:
        """ClearChargingProfile (the request as on the wire): Accepted or Unknown."""
        ...

    def get_composite_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """GetCompositeSchedule (the request as on the wire): the answer's fields."""
        ...


class SmartCharging16:
    """Implements :class:`SmartChargingHandler` on the pure smart-charging core."""

    def __init__(
        self,
        *,
        port: ChargerPort,
        clock: Clock,
        store: KeyValueStore,
        voltage_v: float,
        phases: int,
        max_current_a: float,
        dsr_provider: bool = False,
        csms_randomises: bool = False,
    ) -> None:
        self._port = port
        self._clock = clock
        self._store = store
        self._voltage_v = voltage_v
        self._phases = phases
        self._max_current_a = max_current_a
        self._dsr_provider = dsr_provider
        self._csms_randomises = csms_randomises
        self._transactions: TransactionInfo | None = None
        self._profiles = self._load()
        self._remote_start_profile: ChargingProfile | None = None
        self._bound_ref: str | None = None
        self._applied: Limit | None = None
        self._first = True
        self._alarm = Alarm(clock)

    @property
    def profiles(self) -> ProfileSet:
        """The profiles installed now."""
        return self._profiles

    def attach(self, transactions: TransactionInfo) -> None:
        """The client whose transaction TxProfiles follow; applies the stored profiles' limit.

        Applied here, at construction, so that after a restart the CSMS's cap is
        in force before the charger offers its first current.
        """
        self._transactions = transactions
        self._apply()

    async def run(self) -> None:
        """Apply the limit now and at every change, until cancelled."""
        while True:
            self._apply()
            now = self._clock.now()
            change = next_change(self._profiles, now, **self._query())
            wait = _IDLE_S if change is None else max((change - now).total_seconds(), 0.0)
            await self._alarm.sleep(min(wait, _IDLE_S))

    # -- the client's notifications ------------------------------------------------------

    def transaction_changed(self) -> None:
        """TxProfiles of an ended transaction go; a RemoteStart profile binds to a new one."""
        current = self._transaction()
        ref = current.ref if current else None
        if self._bound_ref is not None and self._bound_ref != ref:
            self._profiles = self._profiles.for_transaction_end(self._bound_ref)
        self._bound_ref = ref
        pending, self._remote_start_profile = self._remote_start_profile, None
        if pending is not None and ref is not None:
            try:
                self._profiles = self._profiles.install(
                    pending, now=self._clock.now(), active_transaction_id=ref
                )
            except ProfileError as exc:
                _log.warning("RemoteStartTransaction profile not installed: %s", exc)
        self._changed()

    # -- the CSMS's requests -------------------------------------------------------------

    def accept_remote_start_profile(self, profile: dict[str, Any]) -> bool:
        """Check the TxProfile now; it is installed when its transaction begins."""
        try:
            parsed = from_ocpp16(profile, connector_id=CONNECTOR_ID, remote_start=True)
        except ProfileError as exc:
            _log.warning("RemoteStartTransaction profile refused: %s", exc)
            return False
        current = self._transaction()
        if current is not None:  # the transaction is already open: bind it now
            try:
                self._profiles = self._profiles.install(
                    parsed, now=self._clock.now(), active_transaction_id=current.ref
                )
            except ProfileError as exc:
                _log.warning("RemoteStartTransaction profile refused: %s", exc)
                return False
            self._changed()
        else:
            self._remote_start_profile = parsed
        return True

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """Install a profile for the whole charger (0) or connector 1."""
        if connector_id not in (0, CONNECTOR_ID):
            return "Rejected"
        try:
            parsed = self._localise(from_ocpp16(profile, connector_id=connector_id))
            current = self._transaction()
            self._profiles = self._profiles.install(
                parsed,
                now=self._clock.now(),
                active_transaction_id=current.ref if current else None,
            )
        except ProfileError as exc:
            _log.warning("SetChargingProfile rejected: %s", exc)
            return "Rejected"
        self._changed()
        return "Accepted"

    def clear_charging_profile(self, request: dict[str, Any]) -> str:
        """Clear by id, or by connector / purpose / stack level."""
        purpose_name = request.get("chargingProfilePurpose")
        purpose = None if purpose_name is None else PURPOSES_16.get(str(purpose_name))
        if purpose_name is not None and purpose is None:
            return "Unknown"
        self._profiles, cleared = self._profiles.clear(
            id=request.get("id"),
            connector=request.get("connectorId"),
            purpose=purpose,
            stack_level=request.get("stackLevel"),
        )
        if cleared:
            self._changed()
        return "Accepted" if cleared else "Unknown"

    def get_composite_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """The composite schedule of connector 0 or 1 from now, in A or W."""
        connector = int(request.get("connectorId", -1))
        duration = int(request.get("duration", 0))
        unit = str(request.get("chargingRateUnit", "A"))
        if connector not in (0, CONNECTOR_ID) or duration <= 0:
            return {"status": "Rejected"}
        now = self._clock.now()
        composite = composite_schedule(
            self._profiles,
            now=now,
            duration_s=duration,
            unit=unit,
            connector_id=connector,
            **self._query(include_connector=False),
        )
        most = self._max_current_a
        if unit == "W":
            most *= self._voltage_v * self._phases
        schedule = composite_to_ocpp16(composite, no_limit=most)
        for period in schedule["chargingSchedulePeriod"]:
            # OCPP 1.6 limits have one decimal; round down so the report never overstates.
            period["limit"] = math.floor(float(period["limit"]) * 10) / 10
        return {
            "status": "Accepted",
            "connector_id": connector,
            "schedule_start": schedule["startSchedule"],
            "charging_schedule": schedule,
        }

    # -- internals -----------------------------------------------------------------------

    def _transaction(self) -> OpenTransaction | None:
        return None if self._transactions is None else self._transactions.transaction

    def _query(self, include_connector: bool = True) -> dict[str, Any]:
        current = self._transaction()
        query: dict[str, Any] = {
            "voltage_v": self._voltage_v,
            "phases": self._phases,
            "transaction": None if current is None else (current.ref, current.started_at),
        }
        if include_connector:
            query["connector_id"] = CONNECTOR_ID
        return query

    def _localise(self, profile: ChargingProfile) -> ChargingProfile:
        """A profile naming the CSMS's transactionId names our local reference instead."""
        if profile.transaction_id is None or self._transactions is None:
            return profile
        current = self._transactions.transaction
        if current is not None and profile.transaction_id == str(
            self._transactions.transaction_id()
        ):
            return dataclasses.replace(profile, transaction_id=current.ref)
        return profile  # not the running transaction: install() refuses it

    def _changed(self) -> None:
        self._save()
        self._apply()
        self._alarm.wake()

    def _apply(self) -> None:
        limit = limit_now(
            self._profiles,
            self._clock.now(),
            dsr_provider=self._dsr_provider,
            csms_randomises=self._csms_randomises,
            **self._query(),
        )
        if limit != self._applied or self._first:
            self._first = False
            self._applied = limit
            self._port.set_ocpp_limit(limit)

    def _save(self) -> None:
        lasting = [
            {"connector_id": p.connector_id, "profile": to_ocpp16(p)}
            for p in self._profiles
            if p.purpose is not Purpose.TX
        ]
        self._store.set(_STORE_KEY, lasting)

    def _load(self) -> ProfileSet:
        profiles = ProfileSet()
        for item in self._store.get(_STORE_KEY, []) or []:
            try:
                parsed = from_ocpp16(item["profile"], connector_id=int(item["connector_id"]))
                profiles = profiles.install(
                    parsed, now=self._clock.now(), active_transaction_id=None
                )
            except (ProfileError, KeyError, TypeError, ValueError) as exc:
                _log.error("a stored charging profile could not be restored: %s", exc)
        return profiles
