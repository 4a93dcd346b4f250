"""The installed charging profiles and the limit they impose: the shell both OCPP versions share.

The maths is :mod:`ukscp.ocpp.smart_charging` (pure). :class:`ProfileKeeper`
keeps the installed :class:`ProfileSet` and the charger's ``ocpp`` limit equal
to :func:`limit_now` (a :class:`~ukscp.limits.limit.Limit` with source ``ocpp``,
or ``dsr`` for a CSMS that is a DSR provider, and a reason naming the profile),
re-evaluating it at each :func:`next_change` on the clock and whenever the
profiles or the transaction change. TxProfiles end with their transaction;
station-wide and default profiles persist across restarts.

Transactions are known here by the client's ``ref``: in 1.6 a local reference
standing for the CSMS's id until it arrives, in 2.0.1 the transactionId the
charger itself chose. A version's subclass reads and writes its own wire
format (:meth:`parse`, :meth:`encode`) and answers its own requests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from ukscp.clock import Alarm, Clock
from ukscp.limits.limit import Limit
from ukscp.ocpp.port import ChargerPort, KeyValueStore
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    ProfileError,
    ProfileSet,
    Purpose,
    composite_schedule,
    limit_now,
    next_change,
)

_log = logging.getLogger(__name__)

_IDLE_S = 3600.0


class OpenTransactionLike(Protocol):
    """What smart charging needs to know of an open transaction."""

    @property
    def ref(self) -> str:
        """The reference TxProfiles are bound to."""
        ...

    @property
    def started_at(self) -> datetime:
        """When it began (Relative profiles count from here)."""
        ...


class TransactionInfo(Protocol):
    """The client whose transaction TxProfiles follow."""

    @property
    def transaction(self) -> OpenTransactionLike | None:
        """The open transaction."""
        ...


T = TypeVar("T", bound=TransactionInfo)


class ProfileKeeper(Generic[T]):
    """Installed profiles -> the charger's ``ocpp`` limit; subclassed per OCPP version."""

    store_key = "ocpp.charging_profiles"

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
        connector_id: int = 1,
    ) -> None:
        self._port = port
        self._clock = clock
        self._store = store
        self._voltage_v = voltage_v
        self._phases = phases
        self._max_current_a = max_current_a
        self._dsr_provider = dsr_provider
        self._csms_randomises = csms_randomises
        self._connector_id = connector_id
        self._transactions: T | None = None
        self._profiles = self._load()
        self._remote_start_profile: ChargingProfile | None = None
        self._bound_ref: str | None = None
        self._applied: Limit | None = None
        self._first = True
        self._alarm = Alarm(clock)

    # -- what a version supplies ---------------------------------------------------------

    def parse(
        self, wire: Mapping[str, Any], *, connector_id: int, remote_start: bool = False
    ) -> ChargingProfile:
        """A profile from the version's wire format; :class:`ProfileError` if invalid."""
        raise NotImplementedError

    def encode(self, profile: ChargingProfile) -> dict[str, Any]:
        """A profile in the version's wire format (for the store and reports)."""
        raise NotImplementedError

    def localise(self, profile: ChargingProfile) -> ChargingProfile:
        """A profile naming the CSMS's transaction id, named by our ``ref`` instead."""
        return profile

    # -- shared surface ------------------------------------------------------------------

    @property
    def profiles(self) -> ProfileSet:
        """The profiles installed now."""
        return self._profiles

    def attach(self, transactions: T) -> None:
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

    def transaction_changed(self) -> None:
        """TxProfiles of an ended transaction go; a remote-start profile binds to a new one."""
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
                _log.warning("remote start's charging profile not installed: %s", exc)
        self._changed()

    def accept_remote_start_profile(self, profile: dict[str, Any]) -> bool:
        """Check a remote start's TxProfile now; it is installed when its transaction begins."""
        try:
            parsed = self.parse(profile, connector_id=self._connector_id, remote_start=True)
        except ProfileError as exc:
            _log.warning("remote start's charging profile refused: %s", exc)
            return False
        current = self._transaction()
        if current is not None:  # the transaction is already open: bind it now
            try:
                self._profiles = self._profiles.install(
                    parsed, now=self._clock.now(), active_transaction_id=current.ref
                )
            except ProfileError as exc:
                _log.warning("remote start's charging profile refused: %s", exc)
                return False
            self._changed()
        else:
            self._remote_start_profile = parsed
        return True

    def forget(self) -> None:
        """Remove every profile and lift their limit (the owner left this back end)."""
        self._profiles = ProfileSet()
        self._remote_start_profile = None
        self._bound_ref = None
        self._changed()

    def install(self, profile: ChargingProfile) -> None:
        """Install a parsed profile (for the open transaction, if it names one)."""
        current = self._transaction()
        self._profiles = self._profiles.install(
            self.localise(profile),
            now=self._clock.now(),
            active_transaction_id=current.ref if current else None,
        )
        self._changed()

    def clear(self, **criteria: Any) -> bool:
        """Clear by ``ProfileSet.clear`` criteria; True if any profile went."""
        self._profiles, cleared = self._profiles.clear(**criteria)
        if cleared:
            self._changed()
        return bool(cleared)

    def composite(self, *, connector_id: int, duration_s: int, unit: str) -> CompositeSchedule:
        """The composite schedule of ``connector_id`` (0: the station) from now."""
        return composite_schedule(
            self._profiles,
            now=self._clock.now(),
            duration_s=duration_s,
            unit=unit,
            connector_id=connector_id,
            **self._query(include_connector=False),
        )

    def most(self, unit: str) -> float:
        """The charger's own maximum in ``unit`` (``A`` or ``W``): the composite's "no limit"."""
        return self.in_unit(self._max_current_a, unit)

    def in_unit(self, amps: float, unit: str) -> float:
        """``amps`` per phase in ``unit`` (``A``, or ``W`` over the supply's phases)."""
        return amps * self._voltage_v * self._phases if unit == "W" else amps

    # -- internals -----------------------------------------------------------------------

    def _transaction(self) -> OpenTransactionLike | None:
        return None if self._transactions is None else self._transactions.transaction

    def _query(self, include_connector: bool = True) -> dict[str, Any]:
        current = self._transaction()
        query: dict[str, Any] = {
            "voltage_v": self._voltage_v,
            "phases": self._phases,
            "transaction": None if current is None else (current.ref, current.started_at),
        }
        if include_connector:
            query["connector_id"] = self._connector_id
        return query

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
            {"connector_id": p.connector_id, "profile": self.encode(p)}
            for p in self._profiles
            if p.purpose is not Purpose.TX
        ]
        self._store.set(self.store_key, lasting)

    def _load(self) -> ProfileSet:
        profiles = ProfileSet()
        for item in self._store.get(self.store_key, []) or []:
            try:
                parsed = self.parse(item["profile"], connector_id=int(item["connector_id"]))
                profiles = profiles.install(
                    parsed, now=self._clock.now(), active_transaction_id=None
                )
            except (ProfileError, KeyError, TypeError, ValueError) as exc:
                _log.error("a stored charging profile could not be restored: %s", exc)
        return profiles
