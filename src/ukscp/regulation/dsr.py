"""Demand side response events as limits, and the owner's override of them.

Every DSR provider (a CSMS marked ``dsr_provider``, an OpenADR VTN) reports its
events here; they become one limit with source ``dsr``, never delayed
(regulation 11). Regulation 10 lets the owner override DSR: while the override
recorded by :class:`~ukscp.regulation.default_mode.DefaultMode` runs, the
events are kept but not applied, and the change is the owner's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ukscp.events import EventBus
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.regulation.default_mode import DefaultMode, DsrOverrideEnded, DsrOverrideStarted

SLOT = "dsr"


@dataclass(frozen=True, slots=True)
class DsrEvent:
    """One provider's event: at most ``amps`` per phase while it lasts."""

    event_id: str
    amps: float
    reason: str


class DsrLimits:
    """Combines the active DSR events into the arbiter's ``dsr`` slot."""

    def __init__(self, arbiter: Arbiter, default_mode: DefaultMode, bus: EventBus) -> None:
        self._arbiter = arbiter
        self._default_mode = default_mode
        self._events: dict[str, DsrEvent] = {}
        bus.subscribe(DsrOverrideStarted, lambda _: self._owner_overrides())
        bus.subscribe(DsrOverrideEnded, lambda _: self._apply())

    def start_event(self, event_id: str, amps: float, reason: str) -> None:
        """A provider's event begins (or changes): at most ``amps`` until it ends."""
        Limit(amps, LimitSource.DSR)  # refuses a negative or non-finite current early
        self._events[event_id] = DsrEvent(event_id, amps, reason)
        self._apply()

    def end_event(self, event_id: str) -> None:
        """A provider's event ends; unknown ids are ignored (ends can repeat)."""
        if self._events.pop(event_id, None) is not None:
            self._apply()

    def active_events(self) -> list[DsrEvent]:
        """The events in force, whether or not the owner overrides them."""
        return list(self._events.values())

    def _apply(self) -> None:
        if self._default_mode.dsr_overridden():
            return
        if not self._events:
            self._arbiter.clear(SLOT)
            return
        binding = min(self._events.values(), key=lambda event: event.amps)
        reason = f"DSR event {binding.event_id}: {binding.reason}"
        self._arbiter.set(SLOT, Limit(binding.amps, LimitSource.DSR, reason))

    def _owner_overrides(self) -> None:
        self._arbiter.clear(SLOT, cause=Limit(0.0, LimitSource.OWNER, "owner overrides DSR"))
