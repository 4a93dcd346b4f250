"""Capability interfaces for charger hardware, one small Protocol per capability.

A driver implements the capabilities its device has; the core asks with
``isinstance`` (the protocols are runtime-checkable) instead of calling a
method that raises "not supported".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PilotState(StrEnum):
    """IEC 61851-1 control-pilot states as read by the EVSE."""

    A = "A"  # no vehicle connected (+12 V)
    B = "B"  # vehicle connected, not ready to charge (+9 V)
    C = "C"  # vehicle connected, ready, charging (+6 V)
    D = "D"  # as C, ventilation required (+3 V)
    E = "E"  # short circuit / no power (0 V)
    F = "F"  # EVSE not available (-12 V)


@runtime_checkable
class Board(Protocol):
    """The charge controller: control pilot PWM and the contactor."""

    @property
    def max_current_a(self) -> float:
        """Highest current the board, cable and contactor are rated for."""
        ...

    def set_current_a(self, amps: float) -> None:
        """Offer ``amps`` via PWM duty; 0 stops offering (pilot at steady +12 V/9 V)."""
        ...

    def pilot_state(self) -> PilotState:
        """The pilot state read now."""
        ...

    def set_contactor(self, closed: bool) -> None:
        """Close or open the main contactor."""
        ...

    def set_unavailable(self, unavailable: bool) -> None:
        """Drive the pilot to state F (-12 V) while unavailable."""
        ...


@runtime_checkable
class TamperInput(Protocol):
    """A board's enclosure tamper switch."""

    def tamper_tripped(self) -> bool:
        """True once the enclosure has been opened, until the board resets it."""
        ...


@runtime_checkable
class TamperReset(Protocol):
    """A tamper switch that latches until the charger re-arms it."""

    def reset_tamper(self) -> None:
        """Re-arm the latch (after the owner has acknowledged the alarm)."""
        ...


@runtime_checkable
class Meter(Protocol):
    """An electricity meter that reports instantaneous power."""

    def power_w(self) -> float:
        """Active power, positive on import to the EV, negative on export."""
        ...


@runtime_checkable
class EnergyMeter(Protocol):
    """A meter with cumulative energy registers."""

    def energy_import_wh(self) -> float:
        """Total active energy imported (delivered to the EV)."""
        ...

    def energy_export_wh(self) -> float:
        """Total active energy exported (from the EV back to the grid)."""
        ...


@runtime_checkable
class PhaseCurrents(Protocol):
    """A meter reporting current per phase."""

    def currents_a(self) -> tuple[float, float, float]:
        """Current on L1, L2, L3 in amps."""
        ...


@runtime_checkable
class VoltageMeter(Protocol):
    """A meter reporting voltage."""

    def voltage_v(self) -> float:
        """Voltage of L1 to neutral."""
        ...


@dataclass(frozen=True, slots=True)
class SimulatedEvState:
    """The simulated EV after a command."""

    plugged_in: bool
    paused: bool
    soc: float  # state of charge of its battery, 0..1


@runtime_checkable
class EvSimulator(Protocol):
    """A simulator driver's extra: an EV to handle as its owner would, a cover to open.

    Only the simulator has it; the API offers its commands only when the driver does.
    """

    def restore(self) -> bool:
        """Put the EV back as it was when the charger went down; True if it is plugged in."""
        ...

    def plug(self) -> SimulatedEvState:
        """Plug the EV in (no effect if it already is)."""
        ...

    def unplug(self) -> SimulatedEvState:
        """Unplug the EV (no effect if it is not plugged in)."""
        ...

    def pause(self) -> SimulatedEvState:
        """The EV pauses charging, or resumes if it was paused."""
        ...

    def tamper(self) -> SimulatedEvState:
        """Open the enclosure, as far as the board's tamper switch can tell."""
        ...
