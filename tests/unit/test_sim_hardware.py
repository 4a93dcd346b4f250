"""The simulated EV, board and meter: pilot states, draw, exact lazy integration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ukscp.clock import VirtualClock
from ukscp.hardware.protocols import (
    Board,
    EnergyMeter,
    Meter,
    PhaseCurrents,
    PilotState,
    TamperInput,
    VoltageMeter,
)
from ukscp.hardware.sim import SimBoard, SimEV, SimMeter

V = 230.0


def make(
    ev: SimEV | None = None, *, max_current_a: float = 32.0, phases: int = 3
) -> tuple[VirtualClock, SimEV, SimBoard, SimMeter]:
    clock = VirtualClock()
    ev = ev or SimEV()
    board = SimBoard(clock, ev, max_current_a=max_current_a, phases=phases)
    return clock, ev, board, SimMeter(board)


def charging(
    ev: SimEV | None = None, amps: float = 16.0
) -> tuple[VirtualClock, SimEV, SimBoard, SimMeter]:
    clock, ev, board, meter = make(ev)
    ev.plug_in()
    board.set_current_a(amps)
    board.set_contactor(True)
    return clock, ev, board, meter


# -- capabilities -----------------------------------------------------------------------


def test_board_implements_board_and_tamper_protocols() -> None:
    _, _, board, _ = make()
    assert isinstance(board, Board)
    assert isinstance(board, TamperInput)


def test_meter_implements_all_meter_protocols() -> None:
    _, _, _, meter = make()
    for protocol in (Meter, EnergyMeter, PhaseCurrents, VoltageMeter):
        assert isinstance(meter, protocol)


# -- pilot states -----------------------------------------------------------------------


def test_pilot_is_a_when_unplugged() -> None:
    _, _, board, _ = make()
    board.set_current_a(16)
    assert board.pilot_state() is PilotState.A


def test_pilot_is_b_when_plugged_without_pwm() -> None:
    _, ev, board, _ = make()
    ev.plug_in()
    assert board.pilot_state() is PilotState.B


def test_pilot_is_b_when_offer_below_6_amps() -> None:
    _, ev, board, _ = make()
    ev.plug_in()
    board.set_current_a(5.9)
    assert board.pilot_state() is PilotState.B


def test_pilot_is_c_when_ev_requests_and_6_amps_offered() -> None:
    _, ev, board, _ = make()
    ev.plug_in()
    board.set_current_a(6)
    assert board.pilot_state() is PilotState.C


def test_pilot_is_b_when_ev_paused() -> None:
    _, ev, board, _ = make()
    ev.plug_in()
    board.set_current_a(16)
    ev.pause()
    assert board.pilot_state() is PilotState.B


def test_pilot_is_c_again_when_ev_resumes() -> None:
    _, ev, board, _ = make()
    ev.plug_in()
    board.set_current_a(16)
    ev.pause()
    ev.resume()
    assert board.pilot_state() is PilotState.C


def test_pilot_is_d_when_ventilation_required() -> None:
    _, ev, board, _ = make(SimEV(ventilation_required=True))
    ev.plug_in()
    board.set_current_a(16)
    assert board.pilot_state() is PilotState.D


def test_pilot_is_e_on_ev_fault_until_cleared() -> None:
    _, ev, board, _ = make()
    ev.plug_in()
    board.set_current_a(16)
    ev.fault()
    assert board.pilot_state() is PilotState.E
    ev.clear_fault()
    assert board.pilot_state() is PilotState.C


def test_pilot_is_f_while_unavailable_even_unplugged() -> None:
    _, _, board, _ = make()
    board.set_unavailable(True)
    assert board.pilot_state() is PilotState.F
    board.set_unavailable(False)
    assert board.pilot_state() is PilotState.A


def test_pilot_is_b_when_battery_full() -> None:
    _, ev, board, _ = make(SimEV(soc=1.0))
    ev.plug_in()
    board.set_current_a(16)
    assert board.pilot_state() is PilotState.B


# -- draw -------------------------------------------------------------------------------


def test_no_current_flows_while_contactor_open() -> None:
    _, ev, board, meter = make()
    ev.plug_in()
    board.set_current_a(16)
    assert meter.power_w() == 0.0
    assert meter.currents_a() == (0.0, 0.0, 0.0)


def test_ev_draws_the_offered_current_on_its_phase() -> None:
    _, _, _, meter = charging(amps=16)
    assert meter.currents_a() == (16.0, 0.0, 0.0)
    assert meter.power_w() == 16 * V


def test_ev_draws_no_more_than_its_own_maximum() -> None:
    _, _, _, meter = charging(SimEV(max_current_a=16), amps=32)
    assert meter.currents_a()[0] == 16.0


def test_three_phase_ev_draws_on_three_phases() -> None:
    _, _, _, meter = charging(SimEV(phases=3), amps=16)
    assert meter.currents_a() == (16.0, 16.0, 16.0)
    assert meter.power_w() == 16 * V * 3


def test_three_phase_ev_on_single_phase_board_draws_on_one() -> None:
    _, ev, board, meter = make(SimEV(phases=3), phases=1)
    ev.plug_in()
    board.set_current_a(16)
    board.set_contactor(True)
    assert meter.currents_a() == (16.0, 0.0, 0.0)


def test_no_current_flows_in_state_b_with_contactor_closed() -> None:
    _, ev, _, meter = charging()
    ev.pause()
    assert meter.power_w() == 0.0


def test_no_current_flows_while_unavailable() -> None:
    _, _, board, meter = charging()
    board.set_unavailable(True)
    assert meter.power_w() == 0.0


def test_meter_reports_voltage_and_no_export() -> None:
    _, _, _, meter = charging()
    assert meter.voltage_v() == V
    assert meter.energy_export_wh() == 0.0


def test_offer_above_board_rating_is_refused() -> None:
    _, _, board, _ = make(max_current_a=16)
    with pytest.raises(ValueError):
        board.set_current_a(16.5)


def test_negative_offer_is_refused() -> None:
    _, _, board, _ = make()
    with pytest.raises(ValueError):
        board.set_current_a(-1)


# -- energy over time -------------------------------------------------------------------


async def test_one_hour_at_16_amps_imports_3680_wh() -> None:
    clock, _, _, meter = charging(amps=16)
    await clock.advance(3600)
    assert meter.energy_import_wh() == pytest.approx(3680.0, rel=1e-12)


async def test_battery_gains_what_the_meter_imports() -> None:
    clock, ev, _, meter = charging(SimEV(capacity_wh=60_000, soc=0.2), amps=32)
    await clock.advance(3600)
    assert ev.energy_wh == pytest.approx(12_000 + meter.energy_import_wh(), rel=1e-12)
    assert ev.soc == pytest.approx((12_000 + 7360) / 60_000, rel=1e-12)


async def test_energy_follows_piecewise_changes_of_the_offer() -> None:
    clock, _, board, meter = charging(amps=32)
    await clock.advance(1800)
    board.set_current_a(16)
    await clock.advance(1800)
    assert meter.energy_import_wh() == pytest.approx((32 + 16) * V / 2, rel=1e-12)


async def test_no_energy_flows_while_paused() -> None:
    clock, ev, _, meter = charging(amps=32)
    ev.pause()
    await clock.advance(3600)
    assert meter.energy_import_wh() == 0.0


async def test_battery_becomes_full_at_the_exact_instant() -> None:
    # 600 Wh of room at 7360 W: full after 600 / 7360 h = 293.478... s.
    clock, ev, board, meter = charging(SimEV(capacity_wh=60_000, soc=0.99), amps=32)
    full_after_s = 600 / (32 * V) * 3600
    await clock.advance(full_after_s - 1)
    assert not ev.full
    assert board.pilot_state() is PilotState.C
    await clock.advance(3600)
    assert ev.full
    assert ev.soc == 1.0
    assert meter.energy_import_wh() == pytest.approx(600.0, rel=1e-12)
    assert board.pilot_state() is PilotState.B
    assert meter.power_w() == 0.0


async def test_full_instant_is_honoured_when_nothing_is_read_meanwhile() -> None:
    # One read long after the full instant must still stop at the capacity.
    clock, ev, _, meter = charging(SimEV(capacity_wh=10_000, soc=0.5), amps=32)
    await clock.advance(10 * 3600)
    assert meter.energy_import_wh() == pytest.approx(5000.0, rel=1e-12)
    assert ev.energy_wh == 10_000


@given(st.lists(st.floats(min_value=0.0, max_value=600.0), min_size=1, max_size=20))
async def test_reading_more_often_does_not_change_the_energy(gaps: list[float]) -> None:
    clock, _, _, meter = charging(SimEV(capacity_wh=20_000, soc=0.5), amps=32)
    for gap in gaps:
        await clock.advance(gap)
        meter.energy_import_wh()  # a read is a sync point; it must not bias the total
    expected = min(sum(gaps) * 32 * V / 3600, 10_000.0)
    assert meter.energy_import_wh() == pytest.approx(expected, rel=1e-9, abs=1e-9)


async def test_swapping_the_ev_keeps_the_meter_register() -> None:
    clock, ev, board, meter = charging(amps=16)
    await clock.advance(3600)
    ev.unplug()
    board.attach_ev(SimEV(soc=0.5))
    board.ev.plug_in()
    await clock.advance(3600)
    assert meter.energy_import_wh() == pytest.approx(2 * 3680.0, rel=1e-12)


# -- tamper -----------------------------------------------------------------------------


def test_tamper_switch_trips_and_resets() -> None:
    _, _, board, _ = make()
    assert not board.tamper_tripped()
    board.trip_tamper()
    assert board.tamper_tripped()
    board.reset_tamper()
    assert not board.tamper_tripped()
