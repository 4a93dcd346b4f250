"""Deleting the owner's personal data in one action (Schedule 1: easy deletion of
personal data; ETSI EN 303 645 provision 5.11-1).

What ties charging to a person goes, for good (SQLite's ``secure_delete`` and a
truncated WAL, so the bytes are gone from the files too):

* the charging sessions and their rate changes (metering store);
* the event history of charging: plug-ins, sessions, rate changes, delays, boosts,
  DSR overrides. Only the charger's own starts and stops, settings changes and the
  records of earlier deletions stay (:data:`KEPT_HISTORY_EVENTS`);
* the back end the owner chose (regulation 6): the choice, the key and the CA
  certificate they gave; the charger goes back to the installer's back end, and
  messages still queued for the owner's one go with it;
* every web session of the owner, this one too, and the browsers remembered for the
  login lockout: a device left logged in would keep its access, and each session or
  remembered browser says which device was used when.

What stays, and why:

* the security log: the regulation requires one, and it is tamper evident (each
  record carries the hash of the one before), so no record can go without breaking
  it. It records this deletion, counts only;
* the energy measurements (1 s samples for 48 h, minute and hourly energy for 13
  months): regulation 9 requires 12 months of measurements; they say what flowed
  when, not who charged;
* the owner's account and settings (charging hours, delay), and the installer's back
  end with its undelivered messages, which belong to its records.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ukscp.clock import Clock
from ukscp.config import OcppSettings
from ukscp.events import ChargerStarted, ChargerStopping, EventBus, PersonalDataDeleted
from ukscp.history import EventHistory
from ukscp.metering import MeteringStore
from ukscp.ocpp.backend import BackendError, remove_owner_secrets
from ukscp.ocpp.service import BackendStatus
from ukscp.regulation.default_mode import FirstUseChoice, ScheduleChanged
from ukscp.regulation.delay_gate import RandomDelayEnabledChanged, RandomDelayMaxDurationChanged
from ukscp.storage import compact

_log = logging.getLogger(__name__)

KEPT_HISTORY_EVENTS: frozenset[str] = frozenset(
    kind.__name__
    for kind in (
        ChargerStarted,
        ChargerStopping,
        ScheduleChanged,
        FirstUseChoice,
        RandomDelayEnabledChanged,
        RandomDelayMaxDurationChanged,
        PersonalDataDeleted,
    )
)
"""Event kinds that say nothing about anyone's charging; every other kind is deleted
(so a kind added later is deleted unless someone decides it may stay)."""


class BackendChoice(Protocol):
    """What the deletion needs of the back-end service."""

    def status(self) -> BackendStatus:
        """The back end in force, and who chose it."""
        ...

    async def revert(self) -> BackendStatus:
        """Go back to the config file's back end."""
        ...


class WebSessions(Protocol):
    """What the deletion needs of the owner accounts."""

    def end_sessions(self, username: str) -> int:
        """End every session of ``username`` and forget its browsers; returns how many."""
        ...


@dataclass(frozen=True, slots=True)
class Erased:
    """How much of each kind of personal data one deletion removed."""

    sessions: int
    rate_changes: int
    history_events: int
    owner_backend_forgotten: bool
    web_sessions: int


class PersonalData:
    """Deletes everything that ties charging to a person, in one action.

    ``compacted`` are the small databases whose deleted rows the parts that own them
    do not overwrite (settings, owner accounts, the OCPP queue): they are rewritten
    afterwards, so what was deleted from them is gone from the files too.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        metering: MeteringStore,
        history: EventHistory,
        backend: BackendChoice,
        file_backend: OcppSettings,
        data_dir: Path,
        accounts: WebSessions,
        compacted: Sequence[Path],
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._metering = metering
        self._history = history
        self._backend = backend
        self._file_backend = file_backend
        self._data_dir = data_dir
        self._accounts = accounts
        self._compacted = tuple(compacted)

    async def erase(self, username: str, *, by: str) -> Erased:
        """Delete it all for ``username`` (the owner who asked, ``by`` naming the
        source for the records); the security log records the counts."""
        metering = self._metering.delete_personal_data()
        history_events = self._history.delete_all_but(KEPT_HISTORY_EVENTS)
        forgotten = await self._forget_owner_backend()
        web_sessions = self._accounts.end_sessions(username)
        for path in self._compacted:
            compact(path)
        erased = Erased(
            sessions=metering.sessions,
            rate_changes=metering.rate_changes,
            history_events=history_events,
            owner_backend_forgotten=forgotten,
            web_sessions=web_sessions,
        )
        self._bus.publish(
            PersonalDataDeleted(
                at=self._clock.now(),
                source=by,
                sessions=erased.sessions,
                rate_changes=erased.rate_changes,
                history_events=erased.history_events,
                owner_backend_forgotten=erased.owner_backend_forgotten,
                web_sessions=erased.web_sessions,
            )
        )
        return erased

    async def _forget_owner_backend(self) -> bool:
        # Files first let go of by the client, then deleted; files left behind by an
        # earlier "back to the installer's" go too.
        chosen = self._backend.status().chosen_by == "owner"
        if chosen:
            try:
                await self._backend.revert()
            except BackendError as exc:
                # The owner's choice is gone all the same; the installer's back end
                # could not start (the service logged why). The deletion goes on.
                _log.warning("after deleting personal data: %s", exc)
        removed = remove_owner_secrets(self._data_dir, self._file_backend)
        return chosen or removed > 0
