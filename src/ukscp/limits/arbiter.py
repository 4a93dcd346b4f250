"""Arbitration: the binding limit is the smallest active one.

:func:`arbitrate` is the pure core; :class:`Arbiter` keeps the active limits by
slot and reports every change of the result together with its cause (the
limit that was set or cleared), so the randomised delay can tell *why* the
current changed rather than only *that* it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ukscp.limits.limit import Limit, LimitSource

# When two limits bind at the same value, report the most protective source:
# a safety or supply limit must never be mistaken for a schedule.
_TIE_ORDER: tuple[LimitSource, ...] = (
    LimitSource.SAFETY,
    LimitSource.HARDWARE,
    LimitSource.SUPPLY,
    LimitSource.DSR,
    LimitSource.OWNER,
    LimitSource.EMS,
    LimitSource.DEFAULT_MODE,
    LimitSource.OCPP,
)


@dataclass(frozen=True, slots=True)
class ArbitratedLimit:
    """The combined limit: current per phase, phase count, and the binding limit."""

    amps: float
    phases: int
    binding: Limit

    @property
    def source(self) -> LimitSource:
        """Source of the binding limit."""
        return self.binding.source

    @property
    def reason(self) -> str:
        """Reason of the binding limit."""
        return self.binding.reason

    @property
    def power_w_per_volt(self) -> float:
        """Total current across phases; times voltage gives the power offered."""
        return self.amps * self.phases


@dataclass(frozen=True, slots=True)
class LimitChange:
    """A change of the arbitrated limit and the update that caused it."""

    old: ArbitratedLimit
    new: ArbitratedLimit
    cause: Limit  # the limit set, or (for a clear) the limit removed
    cleared: bool


def arbitrate(limits: Iterable[Limit], supply_phases: int) -> ArbitratedLimit:
    """Combine limits: minimum current, minimum phase count, most protective on ties."""
    active = list(limits)
    if not active:
        raise ValueError("arbitration needs at least one limit (the hardware cap)")
    binding = min(active, key=lambda lim: (lim.amps, _TIE_ORDER.index(lim.source)))
    phases = min([supply_phases, *(lim.phases for lim in active if lim.phases is not None)])
    return ArbitratedLimit(amps=binding.amps, phases=phases, binding=binding)


class Arbiter:
    """Holds the active limits by slot and notifies listeners when the result changes.

    A slot names one producer ("supply", "ems", "ocpp", ...); setting a slot
    replaces that producer's previous limit.
    """

    def __init__(self, caps: dict[str, Limit], supply_phases: int) -> None:
        if not caps:
            raise ValueError("the arbiter needs the hardware and supply caps")
        self._limits: dict[str, Limit] = dict(caps)
        self._caps = frozenset(caps)
        self._supply_phases = supply_phases
        self._current = arbitrate(self._limits.values(), supply_phases)
        self._listeners: list[Callable[[LimitChange], None]] = []
        self._slot_watchers: list[Callable[[], None]] = []

    @property
    def current(self) -> ArbitratedLimit:
        """The arbitrated limit now."""
        return self._current

    def active(self) -> dict[str, Limit]:
        """A copy of the active limits by slot."""
        return dict(self._limits)

    def subscribe(self, listener: Callable[[LimitChange], None]) -> None:
        """Call ``listener`` on every change of the arbitrated limit."""
        self._listeners.append(listener)

    def watch_slots(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every limit set or cleared, binding or not.

        For those that report the limits themselves (OCPP 2.0.1 tells its CSMS of
        every limit set outside it, K12), where :meth:`subscribe` tells only of
        changes of the result. Returns what stops the calls.
        """
        self._slot_watchers.append(listener)
        return lambda: self._slot_watchers.remove(listener)

    def set(self, slot: str, limit: Limit) -> ArbitratedLimit:
        """Set or replace the limit in ``slot``."""
        self._limits[slot] = limit
        result = self._recompute(limit, cleared=False)
        self._slots_changed()
        return result

    def clear(self, slot: str, cause: Limit | None = None) -> ArbitratedLimit:
        """Remove the limit in ``slot``; caps cannot be removed.

        The change is reported as caused by the removed limit, or by ``cause``
        when someone else lifts it (the owner ending a schedule block or
        overriding a DSR event): the randomised delay judges who acted.
        """
        if slot in self._caps:
            raise ValueError(f"slot {slot!r} is a hardware/supply cap and cannot be cleared")
        removed = self._limits.pop(slot, None)
        if removed is None:
            return self._current
        result = self._recompute(cause or removed, cleared=True)
        self._slots_changed()
        return result

    def _slots_changed(self) -> None:
        for watcher in self._slot_watchers:
            watcher()

    def _recompute(self, cause: Limit, *, cleared: bool) -> ArbitratedLimit:
        old = self._current
        new = arbitrate(self._limits.values(), self._supply_phases)
        self._current = new
        if new != old:
            change = LimitChange(old=old, new=new, cause=cause, cleared=cleared)
            for listener in self._listeners:
                listener(change)
        return new
