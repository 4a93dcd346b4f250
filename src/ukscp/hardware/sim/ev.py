"""A simulated electric vehicle: what it asks of the charger and a battery that fills.

The EV holds no clock. The :class:`~ukscp.hardware.sim.board.SimBoard` it is
attached to integrates the energy it draws; before the EV changes anything that
affects the draw (plug, pause, fault...) it asks the board to bring the energy
up to now, so the power stays piecewise constant and the integration exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def _nothing_to_sync() -> None:
    """Hook of an EV attached to no board: no energy flows, nothing to integrate."""


class SimEV:
    """A vehicle with a battery, a charge request and the failures tests need.

    ``phases`` is how many phases its on-board charger uses (1 to 3);
    ``max_current_a`` the most it draws per phase.
    """

    def __init__(
        self,
        *,
        capacity_wh: float = 60_000.0,
        soc: float = 0.2,
        max_current_a: float = 32.0,
        phases: int = 1,
        ventilation_required: bool = False,
    ) -> None:
        if not (math.isfinite(capacity_wh) and capacity_wh > 0):
            raise ValueError(f"capacity_wh must be a finite number > 0, got {capacity_wh!r}")
        if not 0.0 <= soc <= 1.0:
            raise ValueError(f"soc must be within [0, 1], got {soc!r}")
        if not (math.isfinite(max_current_a) and max_current_a > 0):
            raise ValueError(f"max_current_a must be a finite number > 0, got {max_current_a!r}")
        if phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {phases!r}")
        self._capacity_wh = float(capacity_wh)
        self._stored_wh = soc * self._capacity_wh
        self._max_current_a = float(max_current_a)
        self._phases = phases
        self._ventilation_required = ventilation_required
        self._plugged = False
        self._paused = False
        self._faulted = False
        self._sync: Callable[[], None] = _nothing_to_sync

    # -- what the owner or a test does ------------------------------------------------

    def plug_in(self) -> None:
        """Connect the cable; the EV asks for charge unless paused or full."""
        self._sync()  # integrate under the old state first
        self._plugged = True

    def unplug(self) -> None:
        """Disconnect the cable."""
        self._sync()  # integrate under the old state first
        self._plugged = False

    def pause(self) -> None:
        """EV-initiated pause: stop asking for charge (pilot back to B)."""
        self._sync()  # integrate under the old state first
        self._paused = True

    def resume(self) -> None:
        """Ask for charge again after :meth:`pause`."""
        self._sync()  # integrate under the old state first
        self._paused = False

    def fault(self) -> None:
        """Short the pilot (state E) until :meth:`clear_fault`."""
        self._sync()  # integrate under the old state first
        self._faulted = True

    def clear_fault(self) -> None:
        """Remove the fault set by :meth:`fault`."""
        self._sync()  # integrate under the old state first
        self._faulted = False

    def set_ventilation_required(self, required: bool) -> None:
        """Ask for ventilation while charging (state D instead of C)."""
        self._sync()  # integrate under the old state first
        self._ventilation_required = required

    # -- what can be observed ---------------------------------------------------------

    @property
    def plugged(self) -> bool:
        """True while the cable is connected."""
        return self._plugged

    @property
    def paused(self) -> bool:
        """True after :meth:`pause` until :meth:`resume`."""
        return self._paused

    @property
    def faulted(self) -> bool:
        """True after :meth:`fault` until :meth:`clear_fault`."""
        return self._faulted

    @property
    def ventilation_required(self) -> bool:
        """True when the EV needs a ventilated charging location (state D)."""
        return self._ventilation_required

    @property
    def max_current_a(self) -> float:
        """Most current the EV draws per phase."""
        return self._max_current_a

    @property
    def phases(self) -> int:
        """Phases the EV's on-board charger uses."""
        return self._phases

    @property
    def capacity_wh(self) -> float:
        """Usable battery capacity."""
        return self._capacity_wh

    @property
    def energy_wh(self) -> float:
        """Energy in the battery now."""
        self._sync()
        return self._stored_wh

    @property
    def soc(self) -> float:
        """State of charge now, 0 to 1."""
        self._sync()
        return self._stored_wh / self._capacity_wh

    @property
    def full(self) -> bool:
        """True once the battery holds its capacity."""
        self._sync()
        return self._is_full()

    @property
    def requesting(self) -> bool:
        """True while the EV asks for charge: plugged, not paused, not full, no fault."""
        self._sync()
        return self._wants_charge()

    # -- for the board this EV is attached to (same package) --------------------------

    def _attach(self, sync: Callable[[], None]) -> None:
        """Route "bring the energy up to now" to the board this EV is plugged into."""
        self._sync = sync

    def _detach(self) -> None:
        self._sync = _nothing_to_sync

    def _is_full(self) -> bool:
        return self._stored_wh >= self._capacity_wh

    def _wants_charge(self) -> bool:
        return self._plugged and not self._paused and not self._faulted and not self._is_full()

    def _room_wh(self) -> float:
        return self._capacity_wh - self._stored_wh

    def _store(self, wh: float) -> None:
        """Add ``wh`` to the battery; reaching capacity lands on it exactly."""
        if wh >= self._room_wh():
            # Exactly full, not a rounding error short of it, so the draw stops.
            self._stored_wh = self._capacity_wh
        else:
            self._stored_wh += wh
