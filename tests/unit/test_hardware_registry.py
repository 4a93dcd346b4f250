"""The driver seam: drivers chosen in one place, none named above ``hardware/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ukscp.clock import VirtualClock
from ukscp.hardware.protocols import Board, EnergyMeter, EvSimulator, Meter, PilotState
from ukscp.hardware.registry import Wiring, build_hardware
from ukscp.settings_store import SettingsStore

SRC = Path(__file__).resolve().parents[2] / "src" / "ukscp"
DRIVER_NAMES = re.compile(r"hardware\.sim\b|\bSim(Board|EV|Meter)\b|SimulatedEv\b")


@pytest.fixture
def wiring(tmp_path: Path, clock: VirtualClock) -> Wiring:
    return Wiring(
        clock=clock,
        store=SettingsStore(tmp_path / "settings.sqlite3"),
        board_max_current_a=32.0,
        phases=1,
        voltage_v=230.0,
    )


def test_nothing_above_hardware_names_a_concrete_driver():
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if "hardware" not in path.relative_to(SRC).parts[:1]
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DRIVER_NAMES.search(line)
    ]
    assert offenders == []


def test_the_simulator_is_a_driver_and_brings_its_controls(wiring: Wiring):
    hardware = build_hardware("sim", "sim", wiring)
    assert isinstance(hardware.board, Board) and isinstance(hardware.meter, Meter)
    assert isinstance(hardware.meter, EnergyMeter)
    assert isinstance(hardware.simulator, EvSimulator)
    assert hardware.board.pilot_state() is PilotState.A
    state = hardware.simulator.plug()
    assert state.plugged_in and hardware.board.pilot_state() is PilotState.B
    assert hardware.simulator.restore() is True  # kept in the store


@pytest.mark.parametrize(
    ("board", "meter", "words"),
    [("evse-xyz", "sim", "hardware.board: no driver 'evse-xyz'"),
     ("sim", "ferraris", "hardware.meter: no driver 'ferraris'")],
)
def test_an_unknown_driver_is_refused_naming_the_key_and_the_drivers(
    wiring: Wiring, board: str, meter: str, words: str
):
    with pytest.raises(ValueError, match=words) as refused:
        build_hardware(board, meter, wiring)
    assert "(drivers: sim)" in str(refused.value)
