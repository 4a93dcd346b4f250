"""What an OCPP client (1.6J or 2.0.1) needs from the charger: one narrow, typed interface.

The composition root implements :class:`ChargerPort` (see
:class:`~ukscp.ocpp_adapter.AppChargerPort` for the real object graph);
tests may pass a small fake. No OCPP type crosses it: the charger sees plain
numbers, an id tag, a :class:`~ukscp.limits.limit.Limit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ukscp.limits.limit import Limit

EVSE_ID = 1
"""This charger's one EVSE (OCPP 2.0.1; EVSE 0 names the whole station)."""
CONNECTOR_ID = 1
"""Its one connector (OCPP 1.6 connectorId, 2.0.1 connectorId of EVSE 1; 1.6's 0 names the
whole charge point)."""


@dataclass(frozen=True, slots=True)
class ChargerSnapshot:
    """The EVSE and its meter at one instant."""

    pilot_state: str  # IEC 61851 letter, "A".."F"
    ev_connected: bool
    contactor_closed: bool
    offered_a: float  # current offered to the EV per phase (0: none)
    phases: int
    current_a: float | None  # highest phase current measured; None if the meter cannot tell
    power_w: float  # active power, positive on import to the EV
    energy_import_wh: float  # import register
    energy_export_wh: float  # export register
    session_id: str | None  # the EVSE session (plug-in to unplug), if any


class ChargerPort(Protocol):
    """The charger as the OCPP clients drive it (the same for every OCPP version)."""

    def snapshot(self) -> ChargerSnapshot:
        """State, offer and meter readings now."""
        ...

    def remote_start(self, id_tag: str, cause: Limit) -> bool:
        """The CSMS asks to start charging for ``id_tag``; True if the charger accepts.

        It overrides the charging hours, as the owner's boost does, but as a
        start like any other: ``cause`` (source ``ocpp``, or ``dsr`` for a DSR
        provider; flagged randomised for a CSMS that randomises) is what the
        randomised delay judges, so a back end cannot start a fleet at once.
        """
        ...

    def remote_stop(self) -> bool:
        """The CSMS asks to stop charging now; True if the charger accepts."""
        ...

    def reset(self, hard: bool) -> None:
        """Restart the charger (the OCPP client has already ended its transaction)."""
        ...

    def random_delay_max_s(self) -> int:
        """The randomised delay's maximum, whole seconds."""
        ...

    def set_random_delay_max_s(self, seconds: int) -> None:
        """Set the maximum (0..1800) on the CSMS's behalf; ValueError outside that range."""
        ...

    def random_delay_enabled(self) -> bool:
        """Whether the randomised delay is on."""
        ...

    def set_random_delay_enabled(self, enabled: bool) -> None:
        """Switch the delay on or off on the CSMS's behalf (a running delay ends when off)."""
        ...

    def cancel_random_delay(self) -> bool:
        """End the running delay now on the CSMS's behalf; False when none is running."""
        ...

    def external_limits(self) -> Mapping[str, float]:
        """The limits set outside the CSMS that apply now, by who set them, in OCPP 2.0.1's
        words (chargingLimitSource ``EMS``, ``SO`` for a grid operator's DSR, ``Other``):
        the lowest of each, amps per phase. The CSMS's own (its profiles) are not in it."""
        ...

    def watch_limits(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after any limit is set or cleared (binding or not); returns
        what stops the calls."""
        ...

    def set_ocpp_limit(self, limit: Limit | None) -> None:
        """Impose (or, with None, lift) the limit of the CSMS's charging profiles."""
        ...

    def set_operative(self, operative: bool) -> None:
        """ChangeAvailability: take the charger out of service (False) or put it back.

        Out of service, the EVSE offers no current until put back, whatever else
        allows; back in service, charging resumes as the other limits allow.
        """
        ...


class KeyValueStore(Protocol):
    """Durable settings (the charger's :class:`~ukscp.settings_store.SettingsStore`)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key``, or ``default``."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key``."""
        ...
