"""The asyncio shell around the IEC 61851 state machine.

It only waits, reads and writes: every poll it reads the pilot, hands it to
:func:`~ukscp.evse.state_machine.step`, drives the PWM and contactor as told,
and turns state changes into events and sessions. The current it offers is
whatever the gate upstream decided (:meth:`EvseController.apply_limit`); the
controller applies only the rules of IEC 61851 and the board's rating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ukscp.clock import Alarm, Clock
from ukscp.events import (
    EventBus,
    EvseStateChanged,
    OfferedCurrentChanged,
    SessionEnded,
    SessionStarted,
)
from ukscp.evse.session import Session, SessionTracker
from ukscp.evse.state_machine import CONNECTED_STATES, MIN_CURRENT_A, Transition, step
from ukscp.hardware.protocols import Board, Meter, PhaseCurrents, PilotState

_SOURCE = "evse"


@dataclass(frozen=True, slots=True)
class EvseStatus:
    """What the EVSE is doing, at one instant."""

    state: PilotState
    offered_a: float
    phases: int
    current_a: float | None  # highest phase current; None if the meter cannot tell
    power_w: float
    contactor_closed: bool
    ev_connected: bool
    session_id: str | None
    session_started_at: datetime | None
    session_energy_wh: float


class EvseController:
    """Drives a :class:`~ukscp.hardware.protocols.Board` through IEC 61851-1."""

    def __init__(
        self,
        board: Board,
        meter: Meter,
        clock: Clock,
        bus: EventBus,
        poll_interval_s: float = 0.5,
    ) -> None:
        if not (math.isfinite(poll_interval_s) and poll_interval_s > 0):
            raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s!r}")
        self._board = board
        self._meter = meter
        self._clock = clock
        self._bus = bus
        self._poll_interval_s = poll_interval_s
        self._sessions = SessionTracker(meter, clock)
        self._state = PilotState.A
        self._offered_a = 0.0
        self._phases = 1
        # What was last written to the board; None forces the first write.
        self._pwm_written: float | None = None
        self._contactor_written: bool | None = None
        self._running = False
        self._stopped = False
        self._alarm = Alarm(clock)

    # -- inputs ------------------------------------------------------------------------

    def apply_limit(self, amps: float, phases: int, source: str) -> None:
        """Offer ``amps`` per phase on ``phases``, as decided upstream by ``source``.

        Below 6 A nothing is offered (IEC 61851-1 has no smaller offer): the
        charge pauses and the contactor opens. Above the board's rating the
        offer is clamped to it. Takes effect at once, not at the next poll, so
        a reduction is never late.
        """
        if not math.isfinite(amps) or amps < 0:
            raise ValueError(f"amps must be a finite number >= 0, got {amps!r}")
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        offered = min(float(amps), self._board.max_current_a)
        if offered < MIN_CURRENT_A:
            offered = 0.0
        if (offered, phases) == (self._offered_a, self._phases):
            return
        self._offered_a, self._phases = offered, phases
        self._bus.publish(
            OfferedCurrentChanged(at=self._clock.now(), source=source, amps=offered, phases=phases)
        )
        if self._running:
            self._poll()

    async def run(self) -> None:
        """Poll the pilot every ``poll_interval_s`` until :meth:`stop`."""
        self._running = True
        try:
            while not self._stopped:
                self._poll()
                await self._alarm.sleep(self._poll_interval_s)
        finally:
            self._running = False
            self._make_safe()

    def stop(self) -> None:
        """End :meth:`run` promptly; the contactor opens now."""
        self._stopped = True
        self._alarm.wake()
        self._make_safe()

    # -- outputs -----------------------------------------------------------------------

    @property
    def state(self) -> PilotState:
        """The IEC 61851 state the EVSE is in."""
        return self._state

    @property
    def ev_connected(self) -> bool:
        """True while a vehicle is connected (state B, C or D)."""
        return self._state in CONNECTED_STATES

    @property
    def session(self) -> Session | None:
        """The open charging session, with its energy so far, or None."""
        return self._sessions.current

    def status(self) -> EvseStatus:
        """A snapshot of state, offer, measurements and session."""
        session = self._sessions.current
        currents = self._meter.currents_a() if isinstance(self._meter, PhaseCurrents) else None
        return EvseStatus(
            state=self._state,
            offered_a=self._offered_a,
            phases=self._phases,
            current_a=max(currents) if currents is not None else None,
            power_w=self._meter.power_w(),
            contactor_closed=bool(self._contactor_written),
            ev_connected=self.ev_connected,
            session_id=session.id if session else None,
            session_started_at=session.started_at if session else None,
            session_energy_wh=session.energy_wh if session else 0.0,
        )

    # -- the shell ---------------------------------------------------------------------

    def _poll(self) -> None:
        transition = step(self._state, self._board.pilot_state(), self._offered_a)
        self._drive(transition)
        self._sessions.sample()
        if transition.changed:
            self._state = transition.new_state
            self._bus.publish(
                EvseStateChanged(
                    at=self._clock.now(),
                    source=_SOURCE,
                    old=transition.old_state.value,
                    new=transition.new_state.value,
                )
            )
            self._follow_session(transition)

    def _drive(self, transition: Transition) -> None:
        pwm = self._offered_a if transition.offer_pwm else 0.0
        if not transition.contactor_closed:
            self._write_contactor(False)  # open before touching the PWM: safety first
        self._write_pwm(pwm)
        if transition.contactor_closed:
            self._write_contactor(True)  # close only once the offer is on the pilot

    def _follow_session(self, transition: Transition) -> None:
        open_session = self._sessions.current
        if transition.new_state in CONNECTED_STATES and open_session is None:
            started = self._sessions.start()
            self._bus.publish(
                SessionStarted(
                    at=started.started_at,
                    source=_SOURCE,
                    session_id=started.id,
                    energy_register_wh=started.start_register_wh,
                )
            )
        elif transition.new_state is PilotState.A and open_session is not None:
            ended, duration_s = self._sessions.end()
            assert ended.ended_at is not None
            self._bus.publish(
                SessionEnded(
                    at=ended.ended_at,
                    source=_SOURCE,
                    session_id=ended.id,
                    energy_wh=ended.energy_wh,
                    duration_s=duration_s,
                )
            )

    def _make_safe(self) -> None:
        self._write_contactor(False)
        self._write_pwm(0.0)

    def _write_pwm(self, amps: float) -> None:
        if amps != self._pwm_written:
            self._board.set_current_a(amps)
            self._pwm_written = amps

    def _write_contactor(self, closed: bool) -> None:
        if closed != self._contactor_written:
            self._board.set_contactor(closed)
            self._contactor_written = closed
