"""Demand side response events as limits, from every channel, and the owner's choice.

Every DSR channel reports its events here: a CSMS marked ``dsr_provider``
(its charging profiles), an OpenADR VTN, a local energy manager that relays
an event (``cause: dsr``). The events in force become one limit with source
``dsr`` in the arbiter's ``dsr`` slot, never delayed (regulation 11).
Regulation 10 lets the owner override DSR, on every channel alike: for a
while (the override :class:`~ukscp.regulation.default_mode.DefaultMode`
records: events are kept but not applied), or by opting out of one event,
which lifts its limit at once, is told to its channel where the protocol can
(OpenADR optOut), and ends with the event. The events known, active or not,
are kept (the last :data:`KEPT_ENDED` ended ones) with their channel and the
owner's choice, for the owner's page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ukscp.clock import Clock
from ukscp.events import Event, EventBus
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.regulation.default_mode import DefaultMode, DsrOverrideEnded, DsrOverrideStarted

SLOT = "dsr"


class DsrChannel(StrEnum):
    """Where a DSR event came from."""

    OCPP = "ocpp"  # a CSMS marked dsr_provider: its charging profiles
    OPENADR = "openadr"  # a VTN's events
    EMS = "ems"  # a local energy manager relaying an event (cause dsr)
    OTHER = "other"  # a test, a tool
KEPT_ENDED = 50
"""Ended events kept for the owner's page (the history keeps every one)."""


@dataclass(frozen=True, slots=True)
class DsrEvent:
    """One event of one channel: at most ``amps`` per phase while it lasts."""

    event_id: str
    amps: float
    reason: str
    channel: DsrChannel = DsrChannel.OTHER
    started_at: datetime | None = None
    until: datetime | None = None  # its announced end, where the channel says
    ended_at: datetime | None = None
    opted_out: bool = False

    @property
    def active(self) -> bool:
        """Still in force (whether or not the owner opted out)."""
        return self.ended_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class DsrEventStarted(Event):
    """A DSR event began; ``source`` is its channel."""

    event_id: str
    amps: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DsrEventEnded(Event):
    """A DSR event ended; ``source`` is its channel."""

    event_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DsrOptedOut(Event):
    """The owner opted out of one DSR event (regulation 10); ``source`` is ``owner``."""

    event_id: str
    channel: DsrChannel
    amps: float


OptOutListener = Callable[[DsrEvent], None]
"""Told when the owner opts out of one of its channel's events (OpenADR: optOut)."""


class UnknownEvent(LookupError):
    """No DSR event in force has that id."""


class DsrLimits:
    """The DSR events of every channel, combined into the arbiter's ``dsr`` slot."""

    def __init__(
        self, arbiter: Arbiter, default_mode: DefaultMode, bus: EventBus, clock: Clock
    ) -> None:
        self._arbiter = arbiter
        self._default_mode = default_mode
        self._bus = bus
        self._clock = clock
        self._events: dict[str, DsrEvent] = {}  # in force
        self._ended: list[DsrEvent] = []  # newest last
        self._opt_out_listeners: dict[DsrChannel, OptOutListener] = {}
        bus.subscribe(DsrOverrideStarted, lambda _: self._owner_overrides())
        bus.subscribe(DsrOverrideEnded, lambda _: self._apply())

    def start_event(
        self,
        event_id: str,
        amps: float,
        reason: str,
        *,
        channel: DsrChannel = DsrChannel.OTHER,
        until: datetime | None = None,
        opted_out: bool = False,
    ) -> None:
        """A channel's event begins (or changes): at most ``amps`` until it ends.

        A change keeps the owner's choice: an event opted out of stays so.
        ``opted_out`` starts one the owner opted out of before (kept by its channel
        across a restart): known, not applied.
        """
        Limit(amps, LimitSource.DSR)  # refuses a negative or non-finite current early
        now = self._clock.now()
        known = self._events.get(event_id)
        if known is None:
            self._events[event_id] = DsrEvent(
                event_id, amps, reason, channel, started_at=now, until=until, opted_out=opted_out
            )
            self._bus.publish(
                DsrEventStarted(at=now, source=channel, event_id=event_id, amps=amps, reason=reason)
            )
        else:
            self._events[event_id] = replace(known, amps=amps, reason=reason, until=until)
        self._apply()

    def end_event(self, event_id: str) -> None:
        """A channel's event ends; unknown ids are ignored (ends can repeat)."""
        event = self._events.pop(event_id, None)
        if event is None:
            return
        now = self._clock.now()
        self._ended = [*self._ended, replace(event, ended_at=now)][-KEPT_ENDED:]
        self._bus.publish(DsrEventEnded(at=now, source=event.channel, event_id=event_id))
        self._apply()

    def opt_out(self, event_id: str) -> DsrEvent:
        """The owner opts out of one event in force: its limit goes at once; UnknownEvent
        when none has that id."""
        event = self._events.get(event_id)
        if event is None:
            raise UnknownEvent(f"no DSR event {event_id!r} is in force")
        if event.opted_out:
            return event
        chosen = replace(event, opted_out=True)
        self._events[event_id] = chosen
        self._bus.publish(
            DsrOptedOut(
                at=self._clock.now(),
                source="owner",
                event_id=event_id,
                channel=event.channel,
                amps=event.amps,
            )
        )
        self._apply(cause=Limit(0.0, LimitSource.OWNER, f"owner opts out of DSR event {event_id}"))
        listener = self._opt_out_listeners.get(event.channel)
        if listener is not None:
            listener(chosen)
        return chosen

    def on_opt_out(self, channel: DsrChannel, listener: OptOutListener) -> None:
        """Tell ``listener`` when the owner opts out of one of ``channel``'s events."""
        self._opt_out_listeners[channel] = listener

    def active_events(self) -> list[DsrEvent]:
        """The events in force, whether or not the owner overrides them."""
        return list(self._events.values())

    def known_events(self) -> list[DsrEvent]:
        """The events in force, then the last ended ones, newest first."""
        return [*self._events.values(), *reversed(self._ended)]

    def _apply(self, cause: Limit | None = None) -> None:
        # ``cause``: who lifts the last limit when it is not its channel (the owner).
        if self._default_mode.dsr_overridden():
            return
        applied = [event for event in self._events.values() if not event.opted_out]
        if not applied:
            self._arbiter.clear(SLOT, cause=cause)
            return
        binding = min(applied, key=lambda event: event.amps)
        reason = f"DSR event {binding.event_id}: {binding.reason}"
        self._arbiter.set(SLOT, Limit(binding.amps, LimitSource.DSR, reason))

    def _owner_overrides(self) -> None:
        self._arbiter.clear(SLOT, cause=Limit(0.0, LimitSource.OWNER, "owner overrides DSR"))
