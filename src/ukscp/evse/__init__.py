"""The EVSE: the IEC 61851-1 state machine and the controller that drives the board."""

from ukscp.evse.controller import EvseController, EvseStatus
from ukscp.evse.session import Session
from ukscp.evse.state_machine import MIN_CURRENT_A, Transition, step

__all__ = ["MIN_CURRENT_A", "EvseController", "EvseStatus", "Session", "Transition", "step"]
