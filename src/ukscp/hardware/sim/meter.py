"""A simulated meter that measures what flows through a :class:`SimBoard`."""

from __future__ import annotations

from ukscp.hardware.sim.board import SimBoard


class SimMeter:
    """Implements ``Meter``, ``EnergyMeter``, ``PhaseCurrents`` and ``VoltageMeter``.

    It reads the board's simulated circuit, so it always agrees with what the
    EV draws: power = current x voltage x phases, energy = its integral.
    """

    def __init__(self, board: SimBoard) -> None:
        self._board = board

    def power_w(self) -> float:
        """Active power delivered to the EV now."""
        amps, phases = self._board.draw()
        return amps * self._board.voltage_v * phases

    def energy_import_wh(self) -> float:
        """Total energy delivered to EVs."""
        return self._board.energy_import_wh()

    def energy_export_wh(self) -> float:
        """Total energy exported; the simulated EV never discharges."""
        return 0.0

    def currents_a(self) -> tuple[float, float, float]:
        """Current on L1, L2, L3; the EV loads the first phases it uses."""
        amps, phases = self._board.draw()
        l1, l2, l3 = (amps if n < phases else 0.0 for n in range(3))
        return (l1, l2, l3)

    def voltage_v(self) -> float:
        """Voltage of L1 to neutral."""
        return self._board.voltage_v
