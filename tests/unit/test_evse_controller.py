"""The EVSE controller on the simulator and the virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from ukscp.clock import VirtualClock
from ukscp.events import (
    Event,
    EventBus,
    EvseStateChanged,
    OfferedCurrentChanged,
    SessionEnded,
    SessionStarted,
)
from ukscp.evse import EvseController
from ukscp.hardware.protocols import PilotState
from ukscp.hardware.sim import SimBoard, SimEV, SimMeter

V = 230.0
# Plug-in to charging takes two polls (A->B starts the PWM, B->C closes the contactor).
SETTLE_S = 1.0


@dataclass
class Rig:
    clock: VirtualClock
    ev: SimEV
    board: SimBoard
    meter: SimMeter
    bus: EventBus
    evse: EvseController
    events: list[Event] = field(default_factory=list)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


async def start(
    ev: SimEV | None = None, poll_interval_s: float = 0.5
) -> tuple[Rig, asyncio.Task[None]]:
    clock = VirtualClock()
    ev = ev or SimEV()
    board = SimBoard(clock, ev, max_current_a=32)
    meter = SimMeter(board)
    bus = EventBus()
    evse = EvseController(board, meter, clock, bus, poll_interval_s=poll_interval_s)
    rig = Rig(clock, ev, board, meter, bus, evse)
    bus.subscribe(Event, rig.events.append)
    task = asyncio.create_task(evse.run())
    await clock.settle()
    return rig, task


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig, task = await start()
    yield rig
    rig.evse.stop()
    await task


async def plugged_and_charging(rig: Rig, amps: float = 16.0) -> None:
    rig.evse.apply_limit(amps, 1, "test")
    rig.ev.plug_in()
    await rig.clock.advance(SETTLE_S)


async def test_starts_in_a_with_nothing_offered_and_no_session(rig: Rig) -> None:
    status = rig.evse.status()
    assert status.state is PilotState.A
    assert not status.contactor_closed
    assert status.session_id is None
    assert not rig.evse.ev_connected
    assert rig.board.offered_a == 0.0


async def test_plug_in_reaches_c_at_the_offered_current(rig: Rig) -> None:
    await plugged_and_charging(rig, 16)
    status = rig.evse.status()
    assert status.state is PilotState.C
    assert status.contactor_closed
    assert status.offered_a == 16.0
    assert status.current_a == 16.0
    assert status.power_w == 16 * V
    assert rig.evse.ev_connected


async def test_plug_in_without_an_offer_waits_in_b(rig: Rig) -> None:
    rig.ev.plug_in()
    await rig.clock.advance(SETTLE_S)
    assert rig.evse.state is PilotState.B
    assert rig.evse.ev_connected
    assert not rig.board.contactor_closed


async def test_limit_above_board_rating_is_clamped(rig: Rig) -> None:
    await plugged_and_charging(rig, 40)
    assert rig.evse.status().offered_a == 32.0
    assert rig.board.offered_a == 32.0


async def test_limit_below_6_amps_pauses_at_once(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.evse.apply_limit(5.9, 1, "test")
    # No time passes: a reduction must not wait for the next poll.
    assert not rig.board.contactor_closed
    assert rig.board.offered_a == 0.0
    assert rig.meter.power_w() == 0.0
    assert rig.evse.status().offered_a == 0.0


async def test_limit_below_6_amps_leaves_the_ev_in_b(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.evse.apply_limit(3, 1, "test")
    await rig.clock.advance(SETTLE_S)
    assert rig.evse.state is PilotState.B


async def test_limit_back_above_6_amps_resumes_charging(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.evse.apply_limit(0, 1, "test")
    await rig.clock.advance(SETTLE_S)
    rig.evse.apply_limit(10, 1, "test")
    await rig.clock.advance(SETTLE_S)
    assert rig.evse.state is PilotState.C
    assert rig.evse.status().current_a == 10.0


async def test_ev_pause_opens_the_contactor_and_resume_closes_it(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.ev.pause()
    await rig.clock.advance(SETTLE_S)
    assert rig.evse.state is PilotState.B
    assert not rig.board.contactor_closed
    rig.ev.resume()
    await rig.clock.advance(SETTLE_S)
    assert rig.evse.state is PilotState.C
    assert rig.board.contactor_closed


async def test_full_battery_stops_charging() -> None:
    rig, task = await start(SimEV(capacity_wh=60_000, soc=0.99))
    await plugged_and_charging(rig, 32)
    await rig.clock.advance(600)  # 600 Wh at 7360 W fill in under 300 s
    assert rig.ev.full
    assert rig.evse.state is PilotState.B
    assert not rig.board.contactor_closed
    session = rig.evse.session
    assert session is not None
    assert session.energy_wh == pytest.approx(600.0, rel=1e-9)
    rig.evse.stop()
    await task


async def test_unplug_ends_the_session_with_the_energy_delivered() -> None:
    rig, task = await start(poll_interval_s=0.5)
    await plugged_and_charging(rig, 32)
    await rig.clock.advance(2 * 3600)
    rig.ev.unplug()
    await rig.clock.advance(SETTLE_S)
    assert rig.evse.state is PilotState.A
    assert rig.evse.session is None
    (ended,) = rig.of(SessionEnded)
    assert isinstance(ended, SessionEnded)
    assert ended.energy_wh == pytest.approx(32 * V * 2, rel=1e-3)
    assert ended.energy_wh == pytest.approx(rig.meter.energy_import_wh(), rel=1e-12)
    assert ended.duration_s == pytest.approx(2 * 3600 + SETTLE_S, abs=1.0)
    rig.evse.stop()
    await task


async def test_session_has_a_uuid_hex_id_and_the_plug_in_time(rig: Rig) -> None:
    plugged_at = rig.clock.now()
    await plugged_and_charging(rig)
    session = rig.evse.session
    assert session is not None
    assert len(session.id) == 32
    int(session.id, 16)
    # The session starts at the first poll after the plug-in.
    assert 0 <= (session.started_at - plugged_at).total_seconds() <= 0.5


async def test_session_energy_grows_while_charging(rig: Rig) -> None:
    await plugged_and_charging(rig, 16)
    await rig.clock.advance(3600)
    assert rig.evse.status().session_energy_wh == pytest.approx(16 * V, rel=1e-3)


async def test_each_plug_in_is_a_new_session(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.ev.unplug()
    await rig.clock.advance(SETTLE_S)
    rig.ev.plug_in()
    await rig.clock.advance(SETTLE_S)
    started = rig.of(SessionStarted)
    assert len(started) == 2
    assert started[0].detail()["session_id"] != started[1].detail()["session_id"]


async def test_state_changes_are_published_in_order(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.ev.unplug()
    await rig.clock.advance(SETTLE_S)
    changes = [(e.old, e.new) for e in rig.of(EvseStateChanged) if isinstance(e, EvseStateChanged)]
    assert changes == [("A", "B"), ("B", "C"), ("C", "A")]


async def test_session_events_carry_the_same_id(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.ev.unplug()
    await rig.clock.advance(SETTLE_S)
    (started,) = rig.of(SessionStarted)
    (ended,) = rig.of(SessionEnded)
    assert isinstance(started, SessionStarted)
    assert isinstance(ended, SessionEnded)
    assert started.session_id == ended.session_id


async def test_offered_current_change_is_published_once_with_its_source(rig: Rig) -> None:
    rig.evse.apply_limit(16, 1, "ems")
    rig.evse.apply_limit(16, 1, "ems")
    rig.evse.apply_limit(40, 1, "supply")  # clamped to 32
    offers = [e for e in rig.of(OfferedCurrentChanged) if isinstance(e, OfferedCurrentChanged)]
    assert [(e.amps, e.phases, e.source) for e in offers] == [(16.0, 1, "ems"), (32.0, 1, "supply")]


async def test_ev_fault_opens_the_contactor_and_recovery_goes_through_b(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.ev.fault()
    await rig.clock.advance(0.5)
    assert rig.evse.state is PilotState.E
    assert not rig.board.contactor_closed
    rig.ev.clear_fault()
    await rig.clock.advance(SETTLE_S)
    changes = [e.detail()["new"] for e in rig.of(EvseStateChanged)]
    assert changes[-3:] == ["E", "B", "C"]
    assert rig.board.contactor_closed


async def test_unavailable_board_moves_to_f_and_stops_the_flow(rig: Rig) -> None:
    await plugged_and_charging(rig)
    rig.board.set_unavailable(True)
    await rig.clock.advance(0.5)
    assert rig.evse.state is PilotState.F
    assert not rig.board.contactor_closed
    assert rig.meter.power_w() == 0.0


async def test_limit_with_unsupported_phase_count_is_refused(rig: Rig) -> None:
    with pytest.raises(ValueError):
        rig.evse.apply_limit(16, 2, "test")


async def test_stop_ends_run_promptly_and_opens_the_contactor() -> None:
    rig, task = await start()
    await plugged_and_charging(rig)
    rig.evse.stop()
    await rig.clock.settle()  # no virtual time passes
    assert task.done()
    assert not rig.board.contactor_closed
    assert rig.board.offered_a == 0.0


async def test_run_polls_on_the_clock_not_in_real_time() -> None:
    rig, task = await start(poll_interval_s=60)
    rig.evse.apply_limit(16, 1, "test")
    rig.ev.plug_in()
    await rig.clock.advance(59)
    assert rig.evse.state is PilotState.A  # the next poll is at 60 s
    await rig.clock.advance(1)
    assert rig.evse.state is PilotState.B
    rig.evse.stop()
    await task


class PowerOnlyMeter:
    """A meter with no energy register and no phase currents."""

    def __init__(self, meter: SimMeter) -> None:
        self._meter = meter

    def power_w(self) -> float:
        return self._meter.power_w()


async def start_with_power_only_meter() -> tuple[Rig, EvseController, asyncio.Task[None]]:
    rig, task = await start()
    rig.evse.stop()
    await task
    evse = EvseController(rig.board, PowerOnlyMeter(rig.meter), rig.clock, rig.bus)
    return rig, evse, asyncio.create_task(evse.run())


async def test_session_energy_is_integrated_from_power_without_a_register() -> None:
    rig, evse, task = await start_with_power_only_meter()
    evse.apply_limit(16, 1, "test")
    rig.ev.plug_in()
    await rig.clock.advance(3600)
    status = evse.status()
    assert status.session_energy_wh == pytest.approx(16 * V, rel=1e-3)
    evse.stop()
    await task


async def test_current_is_unknown_without_phase_currents() -> None:
    rig, evse, task = await start_with_power_only_meter()
    evse.apply_limit(16, 1, "test")
    rig.ev.plug_in()
    await rig.clock.advance(SETTLE_S)
    assert evse.status().current_a is None
    assert evse.status().power_w == 16 * V
    evse.stop()
    await task
