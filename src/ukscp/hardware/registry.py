"""Which driver runs the board and the meter: chosen from the config, in this one place.

The composition root asks :func:`build_hardware` for the devices named in
``hardware``; nothing above ``hardware/`` names a concrete driver. A driver is
a factory in :data:`BOARDS` or :data:`METERS`; a meter factory is handed the
board, for the simulator's meter (which measures the simulated EV) and for
boards that measure themselves. The simulator is one driver among others; its
extra controls (:class:`~ukscp.hardware.protocols.EvSimulator`) come with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ukscp.clock import Clock
from ukscp.hardware.protocols import Board, EvSimulator, Meter
from ukscp.settings_store import SettingsStore


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a driver factory may use: the supply, the board's rating, the clock, a store."""

    clock: Clock
    store: SettingsStore
    board_max_current_a: float
    phases: int
    voltage_v: float


@dataclass(frozen=True, slots=True)
class Hardware:
    """The devices the charger drives."""

    board: Board
    meter: Meter
    simulator: EvSimulator | None = None


BoardFactory = Callable[[Wiring], tuple[Board, EvSimulator | None]]
MeterFactory = Callable[[Wiring, Board], Meter]


def _sim_board(wiring: Wiring) -> tuple[Board, EvSimulator | None]:
    from ukscp.hardware.sim import SimBoard, SimEV
    from ukscp.hardware.sim.controls import SimulatedEv

    ev = SimEV(phases=wiring.phases)
    board = SimBoard(
        wiring.clock,
        ev,
        max_current_a=wiring.board_max_current_a,
        phases=wiring.phases,
        voltage_v=wiring.voltage_v,
    )
    return board, SimulatedEv(ev, board, wiring.store)


def _sim_meter(wiring: Wiring, board: Board) -> Meter:
    from ukscp.hardware.sim import SimBoard, SimMeter

    if not isinstance(board, SimBoard):
        raise ValueError("the sim meter measures the sim board's EV: use it with board: sim")
    return SimMeter(board)


BOARDS: Mapping[str, BoardFactory] = MappingProxyType({"sim": _sim_board})
METERS: Mapping[str, MeterFactory] = MappingProxyType({"sim": _sim_meter})


def build_hardware(board: str, meter: str, wiring: Wiring) -> Hardware:
    """The board and meter of these driver types; ValueError naming an unknown one."""
    if board not in BOARDS:
        raise ValueError(f"hardware.board: no driver {board!r} (drivers: {', '.join(BOARDS)})")
    if meter not in METERS:
        raise ValueError(f"hardware.meter: no driver {meter!r} (drivers: {', '.join(METERS)})")
    built, simulator = BOARDS[board](wiring)
    return Hardware(built, METERS[meter](wiring, built), simulator)
