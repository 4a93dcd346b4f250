"""The simulator driver: an EV, a board and a meter that agree with each other.

Typical wiring::

    ev = SimEV()
    board = SimBoard(clock, ev)
    meter = SimMeter(board)
"""

from ukscp.hardware.sim.board import SimBoard
from ukscp.hardware.sim.ev import SimEV
from ukscp.hardware.sim.meter import SimMeter

__all__ = ["SimBoard", "SimEV", "SimMeter"]
