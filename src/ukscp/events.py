"""A small typed in-process event bus.

Publishers hand a frozen dataclass to :meth:`EventBus.publish`; subscribers
registered for that class (or a base class) are called synchronously, in
subscription order. Handlers must not block; an asyncio shell that needs to do
I/O in response schedules its own task.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event: when it happened and, where there is one, its source."""

    at: datetime
    source: str = ""

    def detail(self) -> dict[str, Any]:
        """The event's own fields, for the history (everything but ``at`` and ``source``)."""
        return {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("at", "source")
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerStarted(Event):
    """The charger process started."""

    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerStopping(Event):
    """The charger is shutting down cleanly."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EvseStateChanged(Event):
    """The IEC 61851 state of the EVSE changed."""

    old: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitChanged(Event):
    """The arbitrated limit changed; ``source``/``reason`` name the cause."""

    old_amps: float
    new_amps: float
    old_phases: int
    new_phases: int
    binding_source: str
    reason: str
    cleared: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferedCurrentChanged(Event):
    """The controller changed the current offered to the EV (the PWM)."""

    amps: float
    phases: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    """An EV was plugged in: a charging session began."""

    session_id: str
    energy_register_wh: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(Event):
    """The EV was unplugged: the session ended."""

    session_id: str
    energy_wh: float
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalDataDeleted(Event):
    """The owner deleted their personal data: how much of each kind went, nothing more."""

    sessions: int
    rate_changes: int
    history_events: int = 0
    owner_backend_forgotten: bool = False
    web_sessions: int = 0


E = TypeVar("E", bound=Event)


@dataclass
class EventBus:
    """Delivers events to the handlers subscribed to their type."""

    _handlers: dict[type[Event], list[Callable[[Any], None]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every published event of ``kind`` or a subclass.

        Returns a function that ends the subscription (for a part replaced at run
        time, such as the OCPP client when the owner re-points the back end).
        """
        handlers = self._handlers[kind]
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver ``event``; a failing handler is logged and does not stop the others."""
        for kind in type(event).__mro__:
            for handler in self._handlers.get(kind, ()):
                try:
                    handler(event)
                except Exception:
                    _log.exception("event handler %r failed on %r", handler, event)
