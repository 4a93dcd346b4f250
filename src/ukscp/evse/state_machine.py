"""The IEC 61851-1 state machine of the EVSE, as a pure function.

:func:`step` takes the state the EVSE is in, the pilot state just read and the
current it means to offer, and returns the new state with what the hardware
must do: offer PWM or not, close the contactor or not. No I/O, no clock.

States (the letters are the pilot states):

====  ============================================  =====  =========
state meaning                                       PWM    contactor
====  ============================================  =====  =========
A     no vehicle                                    off    open
B     vehicle connected, not asking for charge      on     open
C     vehicle asking for charge                     on     closed if offer >= 6 A
D     as C, ventilation required                    on     closed if offer >= 6 A
E     error (pilot shorted, no pilot)               off    open
F     EVSE unavailable                              off    open
====  ============================================  =====  =========

The EVSE follows the pilot, with one rule of its own: out of E or F it comes
back through A or B, never straight into C/D, so the contactor cannot close in
the same step that leaves an error or unavailability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ukscp.hardware.protocols import PilotState

A, B, C, D, E, F = (PilotState.A, PilotState.B, PilotState.C,
                    PilotState.D, PilotState.E, PilotState.F)  # fmt: skip

MIN_CURRENT_A = 6.0
"""IEC 61851-1: the lowest current an AC EVSE may offer; below it the charge pauses."""

CHARGING_STATES: frozenset[PilotState] = frozenset({C, D})
CONNECTED_STATES: frozenset[PilotState] = frozenset({B, C, D})
_PWM_STATES = CONNECTED_STATES
_RECOVERING_FROM = frozenset({E, F})

# Why each transition happens, in words, for logs and the owner's history.
# A pair missing from the table is not a transition the EVSE makes.
TRANSITIONS: Mapping[tuple[PilotState, PilotState], str] = MappingProxyType(
    {
        (A, B): "vehicle plugged in",
        (A, C): "vehicle plugged in, asking for charge",
        (A, D): "vehicle plugged in, asking for charge with ventilation",
        (B, A): "vehicle unplugged",
        (B, C): "vehicle asking for charge",
        (B, D): "vehicle asking for charge with ventilation",
        (C, A): "vehicle unplugged",
        (C, B): "vehicle paused or full, or no charge offered",
        (C, D): "vehicle now requires ventilation",
        (D, A): "vehicle unplugged",
        (D, B): "vehicle paused or full, or no charge offered",
        (D, C): "vehicle no longer requires ventilation",
        **{(s, E): "error on the control pilot" for s in (A, B, C, D, F)},
        **{(s, F): "EVSE unavailable" for s in (A, B, C, D, E)},
        (E, A): "error cleared, no vehicle",
        (E, B): "error cleared, vehicle connected",
        (F, A): "available again, no vehicle",
        (F, B): "available again, vehicle connected",
    }
)


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one :func:`step`: the new state and what the hardware must do."""

    old_state: PilotState
    new_state: PilotState
    offer_pwm: bool
    contactor_closed: bool
    reason: str

    @property
    def changed(self) -> bool:
        """True when the state moved."""
        return self.new_state != self.old_state


def step(state: PilotState, pilot: PilotState, offered_a: float) -> Transition:
    """Advance the EVSE from ``state`` given the ``pilot`` just read and the offer.

    ``offered_a`` is the current the EVSE means to offer; below
    :data:`MIN_CURRENT_A` the contactor stays open (a pause).
    """
    new_state = pilot
    if state in _RECOVERING_FROM and pilot in CHARGING_STATES:
        new_state = B  # re-enter through B: see the module docstring
    return Transition(
        old_state=state,
        new_state=new_state,
        offer_pwm=new_state in _PWM_STATES,
        contactor_closed=new_state in CHARGING_STATES and offered_a >= MIN_CURRENT_A,
        reason=TRANSITIONS.get((state, new_state), ""),
    )
