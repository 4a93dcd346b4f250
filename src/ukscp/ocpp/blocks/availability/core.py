"""ChangeAvailability, for either OCPP version: the charger in or out of service.

OCPP 1.6 ChangeAvailability (section 5.2; connectorId 0 is the whole charge
point, 1 our one connector) and OCPP 2.0.1 G03/G04 (the whole station, or EVSE
1 and its connector) ask the same of this one-connector charger, with the same
answers:

* Inoperative with no transaction: at once (Accepted). No charging session may
  start and the connector reports Unavailable.
* Inoperative while a transaction runs: ``Scheduled``, applied when the
  transaction ends (1.6 section 5.2; 2.0.1 G03.FR.05/G04.FR.05-style).
* Operative: at once (Accepted); it also cancels a scheduled Inoperative.
* Already in the requested state: Accepted, nothing changes.

The state is kept in the settings store: a charger taken out of service stays
out across a restart until made Operative. How the EVSE stops offering current
is the port's (:meth:`~ukscp.ocpp.port.ChargerPort.set_operative`: a limit of
0 A the arbiter and the randomised delay see with its source and reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ukscp.ocpp.port import ChargerPort, KeyValueStore

_log = logging.getLogger(__name__)

AVAILABILITY_KEY = "ocpp.availability"
"""Settings-store key: ``{"operative": bool, "scheduled": bool | None}``."""

ACCEPTED = "Accepted"
REJECTED = "Rejected"
SCHEDULED = "Scheduled"


class Availability:
    """Operative or Inoperative, as the CSMS last set it, and a change waiting for a transaction.

    Built once per OCPP client, before the charger starts: it imposes a stored
    Inoperative on the port at once, so that nothing charges after a restart.
    ``changed`` is called whenever the state in force changes (the client
    reports the connector's status again).
    """

    def __init__(
        self, store: KeyValueStore, port: ChargerPort, changed: Callable[[], None]
    ) -> None:
        self._store = store
        self._port = port
        self._changed = changed
        saved: Any = store.get(AVAILABILITY_KEY) or {}
        self._operative = bool(saved.get("operative", True)) if isinstance(saved, dict) else True
        scheduled = saved.get("scheduled") if isinstance(saved, dict) else None
        self._scheduled: bool | None = scheduled if isinstance(scheduled, bool) else None
        if not self._operative:
            _log.info("the CSMS took this charger out of service: it stays out of service")
            port.set_operative(False)

    @property
    def operative(self) -> bool:
        """True unless the CSMS took the charger out of service."""
        return self._operative

    @property
    def scheduled(self) -> bool | None:
        """The state waiting for the transaction to end (False: Inoperative), or None."""
        return self._scheduled

    def change(self, operative: bool, *, transaction_open: bool) -> str:
        """The answer to a ChangeAvailability for the whole charger (or its one connector)."""
        if operative:
            self._scheduled = None  # an Operative cancels a scheduled Inoperative
            self._apply(True)
            return ACCEPTED
        if not self._operative:
            return ACCEPTED  # already out of service
        if transaction_open:
            self._scheduled = False
            self._save()
            _log.info("out of service when the transaction ends (ChangeAvailability Scheduled)")
            return SCHEDULED
        self._apply(False)
        return ACCEPTED

    def transaction_ended(self) -> None:
        """Apply a scheduled change, now that the transaction has ended."""
        if self._scheduled is None:
            return
        operative, self._scheduled = self._scheduled, None
        self._apply(operative)

    def forget(self) -> None:
        """Back in service, nothing scheduled: the owner re-pointed the charger (regulation 6).

        A back end's decision to take the charger out of service must not bind
        the next back end, which cannot know of it and could not undo it.
        """
        self._scheduled = None
        self._apply(True)
        self._store.set(AVAILABILITY_KEY, None)

    def _apply(self, operative: bool) -> None:
        was = self._operative
        self._operative = operative
        self._save()
        if was == operative:
            return
        _log.info("the CSMS put this charger %s", "in service" if operative else "out of service")
        self._port.set_operative(operative)
        self._changed()

    def _save(self) -> None:
        self._store.set(
            AVAILABILITY_KEY, {"operative": self._operative, "scheduled": self._scheduled}
        )
