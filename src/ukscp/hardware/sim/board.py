"""A simulated charge controller: PWM offer, contactor, state F, tamper switch.

The board is also where the simulated circuit lives: it knows the offer, the
contactor and the EV, hence the current that flows. It integrates energy
lazily: every read or change first brings the energy up to
``clock.monotonic()`` under the state that held since the last one. Between two
such calls nothing changes the draw except the battery filling up, and that
instant is computed exactly, so no background task is needed and hours of
virtual charging cost microseconds.
"""

from __future__ import annotations

import math

from ukscp.clock import Clock
from ukscp.hardware.protocols import PilotState
from ukscp.hardware.sim.ev import SimEV

# IEC 61851-1: a PWM duty below the one meaning 6 A does not offer AC charging.
_MIN_PWM_CURRENT_A = 6.0
_SECONDS_PER_HOUR = 3600.0


class SimBoard:
    """Implements :class:`~ukscp.hardware.protocols.Board` and ``TamperInput``.

    ``phases`` is how many phases are wired to the socket; the EV draws on
    ``min(phases, ev.phases)`` of them. ``voltage_v`` is the line-to-neutral
    voltage the simulated meter reads.
    """

    def __init__(
        self,
        clock: Clock,
        ev: SimEV | None = None,
        *,
        max_current_a: float = 32.0,
        phases: int = 3,
        voltage_v: float = 230.0,
    ) -> None:
        if not (math.isfinite(max_current_a) and max_current_a >= _MIN_PWM_CURRENT_A):
            raise ValueError(f"max_current_a must be a finite number >= 6, got {max_current_a!r}")
        if phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {phases!r}")
        if not (math.isfinite(voltage_v) and voltage_v > 0):
            raise ValueError(f"voltage_v must be a finite number > 0, got {voltage_v!r}")
        self._clock = clock
        self._max_current_a = float(max_current_a)
        self._phases = phases
        self._voltage_v = float(voltage_v)
        self._offered_a = 0.0
        self._contactor_closed = False
        self._unavailable = False
        self._tamper_tripped = False
        self._import_wh = 0.0
        self._synced_at = clock.monotonic()
        self._ev = ev if ev is not None else SimEV()
        self._ev._attach(self._sync)

    # -- Board -------------------------------------------------------------------------

    @property
    def max_current_a(self) -> float:
        """Rating of the board, cable and contactor."""
        return self._max_current_a

    def set_current_a(self, amps: float) -> None:
        """Offer ``amps`` by PWM; 0 (or anything below 6 A) offers no charge."""
        if not (math.isfinite(amps) and 0.0 <= amps <= self._max_current_a):
            raise ValueError(f"offer must be within [0, {self._max_current_a}] A, got {amps!r}")
        self._sync()
        self._offered_a = float(amps)

    def pilot_state(self) -> PilotState:
        """The pilot state the EV and the board produce now."""
        self._sync()
        return self._pilot()

    def set_contactor(self, closed: bool) -> None:
        """Close or open the main contactor."""
        self._sync()
        self._contactor_closed = closed

    def set_unavailable(self, unavailable: bool) -> None:
        """Hold the pilot at state F while unavailable."""
        self._sync()
        self._unavailable = unavailable

    # -- TamperInput -------------------------------------------------------------------

    def tamper_tripped(self) -> bool:
        """True from :meth:`trip_tamper` until :meth:`reset_tamper`."""
        return self._tamper_tripped

    def trip_tamper(self) -> None:
        """Open the enclosure, as far as the tamper switch can tell."""
        self._tamper_tripped = True

    def reset_tamper(self) -> None:
        """Re-arm the tamper switch."""
        self._tamper_tripped = False

    # -- the simulated circuit ---------------------------------------------------------

    @property
    def ev(self) -> SimEV:
        """The EV at this board's socket (plugged in or not)."""
        return self._ev

    def attach_ev(self, ev: SimEV) -> None:
        """Put another vehicle at the socket (for fleets of sessions)."""
        self._sync()
        self._ev._detach()
        self._ev = ev
        ev._attach(self._sync)

    @property
    def offered_a(self) -> float:
        """Current offered by PWM now."""
        return self._offered_a

    @property
    def contactor_closed(self) -> bool:
        """True while the contactor is closed."""
        return self._contactor_closed

    @property
    def unavailable(self) -> bool:
        """True while the board holds state F."""
        return self._unavailable

    @property
    def voltage_v(self) -> float:
        """Line-to-neutral voltage at the socket."""
        return self._voltage_v

    def draw(self) -> tuple[float, int]:
        """Current per phase and the number of phases the EV draws on, now."""
        self._sync()
        return self._draw_a(), self._draw_phases()

    def energy_import_wh(self) -> float:
        """Energy delivered through this board since it was made."""
        self._sync()
        return self._import_wh

    # -- internals: read raw state, never sync (``_sync`` calls them) ------------------

    def _pilot(self) -> PilotState:
        ev = self._ev
        if self._unavailable:
            return PilotState.F
        if not ev.plugged:
            return PilotState.A
        if ev.faulted:
            return PilotState.E
        if not ev._wants_charge() or self._offered_a < _MIN_PWM_CURRENT_A:
            return PilotState.B
        return PilotState.D if ev.ventilation_required else PilotState.C

    def _draw_a(self) -> float:
        if not self._contactor_closed or self._pilot() not in (PilotState.C, PilotState.D):
            return 0.0
        return min(self._offered_a, self._ev.max_current_a)

    def _draw_phases(self) -> int:
        return min(self._phases, self._ev.phases)

    def _power_w(self) -> float:
        return self._draw_a() * self._voltage_v * self._draw_phases()

    def _sync(self) -> None:
        """Integrate the energy from the last sync to now at the power that held."""
        now = self._clock.monotonic()
        elapsed = now - self._synced_at
        self._synced_at = now
        if elapsed <= 0:
            return
        power_w = self._power_w()
        if power_w <= 0:
            return
        # The battery may fill within the interval: flow stops at that instant,
        # so the energy is capped at the room that was left.
        wh = min(power_w * elapsed / _SECONDS_PER_HOUR, self._ev._room_wh())
        self._ev._store(wh)
        self._import_wh += wh
