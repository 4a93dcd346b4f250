"""The simulator driver's extra controls: its EV handled as its owner would, its cover.

Implements :class:`~ukscp.hardware.protocols.EvSimulator`.
"""

from __future__ import annotations

from ukscp.hardware.protocols import SimulatedEvState
from ukscp.hardware.sim.board import SimBoard
from ukscp.hardware.sim.ev import SimEV
from ukscp.settings_store import SettingsStore


class SimulatedEv:
    """The simulator's EV, handled as its owner would.

    Whether the EV is plugged in is kept in the settings store: a real EV stays
    plugged in while its charger loses power, so after a restart the simulated
    one is still there, and the charger sees a power restoration, not a plug-in.
    """

    _PLUGGED_KEY = "sim.ev.plugged"

    def __init__(self, ev: SimEV, board: SimBoard, store: SettingsStore) -> None:
        self._ev = ev
        self._board = board
        self._store = store

    def restore(self) -> bool:
        """Put the EV back as it was when the charger went down; True if it is plugged in."""
        if self._store.get(self._PLUGGED_KEY, False) and not self._ev.plugged:
            self._ev.plug_in()
        return self._ev.plugged

    def plug(self) -> SimulatedEvState:
        """Plug the EV in (no effect if it already is)."""
        if not self._ev.plugged:
            self._store.set(self._PLUGGED_KEY, True)
            self._ev.plug_in()
        return self._result()

    def unplug(self) -> SimulatedEvState:
        """Unplug the EV (no effect if it is not plugged in)."""
        if self._ev.plugged:
            self._store.set(self._PLUGGED_KEY, False)
            self._ev.unplug()
        return self._result()

    def pause(self) -> SimulatedEvState:
        """The EV pauses charging, or resumes if it was paused."""
        if self._ev.paused:
            self._ev.resume()
        else:
            self._ev.pause()
        return self._result()

    def tamper(self) -> SimulatedEvState:
        """Open the enclosure, as far as the board's tamper switch can tell."""
        self._board.trip_tamper()
        return self._result()

    def _result(self) -> SimulatedEvState:
        ev = self._ev
        return SimulatedEvState(plugged_in=ev.plugged, paused=ev.paused, soc=ev.soc)
