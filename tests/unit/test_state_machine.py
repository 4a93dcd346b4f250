"""The pure IEC 61851-1 state machine: one transition per test, then invariants."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ukscp.clock import VirtualClock
from ukscp.evse.state_machine import MIN_CURRENT_A, TRANSITIONS, step
from ukscp.hardware.protocols import PilotState
from ukscp.hardware.sim import SimBoard, SimEV

A, B, C, D, E, F = (PilotState.A, PilotState.B, PilotState.C,
                    PilotState.D, PilotState.E, PilotState.F)  # fmt: skip


def test_plug_in_moves_a_to_b_with_pwm_and_contactor_open() -> None:
    t = step(A, B, 16)
    assert (t.new_state, t.offer_pwm, t.contactor_closed) == (B, True, False)
    assert t.reason == "vehicle plugged in"


def test_no_pwm_is_offered_in_a() -> None:
    assert not step(A, A, 16).offer_pwm


def test_ev_ready_moves_b_to_c_and_closes_contactor() -> None:
    t = step(B, C, 16)
    assert (t.new_state, t.contactor_closed) == (C, True)


def test_ev_ready_with_ventilation_moves_b_to_d_and_closes_contactor() -> None:
    t = step(B, D, 16)
    assert (t.new_state, t.contactor_closed) == (D, True)


def test_plug_in_already_ready_moves_a_to_c() -> None:
    assert step(A, C, 16).new_state is C


def test_ev_pause_or_full_moves_c_to_b_and_opens_contactor() -> None:
    t = step(C, B, 16)
    assert (t.new_state, t.contactor_closed) == (B, False)


def test_offer_below_6_amps_opens_contactor_in_c() -> None:
    t = step(C, C, MIN_CURRENT_A - 0.1)
    assert (t.new_state, t.contactor_closed) == (C, False)


def test_offer_of_exactly_6_amps_keeps_contactor_closed() -> None:
    assert step(C, C, 6.0).contactor_closed


def test_unplug_from_b_moves_to_a() -> None:
    assert step(B, A, 16).new_state is A


def test_unplug_from_c_moves_to_a_and_opens_contactor() -> None:
    t = step(C, A, 16)
    assert (t.new_state, t.contactor_closed, t.offer_pwm) == (A, False, False)


def test_ventilation_required_while_charging_moves_c_to_d() -> None:
    t = step(C, D, 16)
    assert (t.new_state, t.contactor_closed) == (D, True)


def test_error_from_any_state_moves_to_e_with_everything_off() -> None:
    for state in (A, B, C, D, F):
        t = step(state, E, 16)
        assert (t.new_state, t.contactor_closed, t.offer_pwm) == (E, False, False)


def test_unavailable_from_any_state_moves_to_f_with_everything_off() -> None:
    for state in (A, B, C, D, E):
        t = step(state, F, 16)
        assert (t.new_state, t.contactor_closed, t.offer_pwm) == (F, False, False)


def test_error_cleared_returns_to_the_pilot_state_a_or_b() -> None:
    assert step(E, A, 16).new_state is A
    assert step(E, B, 16).new_state is B


def test_leaving_error_never_goes_straight_to_charging() -> None:
    t = step(E, C, 16)
    assert (t.new_state, t.contactor_closed) == (B, False)


def test_leaving_unavailable_never_goes_straight_to_charging() -> None:
    t = step(F, D, 16)
    assert (t.new_state, t.contactor_closed) == (B, False)


def test_charging_resumes_one_step_after_leaving_error() -> None:
    first = step(E, C, 16)
    assert step(first.new_state, C, 16).contactor_closed


def test_staying_in_a_state_is_not_a_change() -> None:
    assert not step(C, C, 16).changed
    assert step(B, C, 16).changed


def test_every_state_change_step_makes_has_a_reason() -> None:
    for state in PilotState:
        for pilot in PilotState:
            t = step(state, pilot, 16)
            if t.changed:
                assert (t.old_state, t.new_state) in TRANSITIONS


pilots = st.sampled_from(list(PilotState))
offers = st.one_of(st.floats(min_value=0, max_value=80), st.just(6.0), st.just(5.999))


@given(pilots, st.lists(st.tuples(pilots, offers), max_size=50))
def test_contactor_never_closed_outside_c_d_or_below_6_amps(
    start: PilotState, inputs: list[tuple[PilotState, float]]
) -> None:
    state = start
    for pilot, offered in inputs:
        t = step(state, pilot, offered)
        if t.contactor_closed:
            assert t.new_state in (C, D)
            assert offered >= MIN_CURRENT_A
            assert state not in (E, F)
        state = t.new_state


class EvseWithSimulatedEv(RuleBasedStateMachine):
    """The pure machine driving the simulated board, under any order of events."""

    def __init__(self) -> None:
        super().__init__()
        self.ev = SimEV()
        self.board = SimBoard(VirtualClock(), self.ev)
        self.state = A
        self.offered = 0.0
        self.contactor = False

    def _poll(self) -> None:
        t = step(self.state, self.board.pilot_state(), self.offered)
        self.board.set_current_a(self.offered if t.offer_pwm else 0.0)
        self.board.set_contactor(t.contactor_closed)
        self.state, self.contactor = t.new_state, t.contactor_closed

    @rule()
    def poll(self) -> None:
        self._poll()

    @rule()
    def plug_in(self) -> None:
        self.ev.plug_in()

    @rule()
    def unplug(self) -> None:
        self.ev.unplug()

    @rule()
    def pause(self) -> None:
        self.ev.pause()

    @rule()
    def resume(self) -> None:
        self.ev.resume()

    @rule()
    def fault(self) -> None:
        self.ev.fault()

    @rule()
    def clear_fault(self) -> None:
        self.ev.clear_fault()

    @rule(unavailable=st.booleans())
    def set_unavailable(self, unavailable: bool) -> None:
        self.board.set_unavailable(unavailable)

    @rule(amps=st.sampled_from([0.0, 5.0, 6.0, 16.0, 32.0]))
    def set_offer(self, amps: float) -> None:
        # As the controller does: a new offer is applied at once, not at the next poll.
        self.offered = amps
        self._poll()

    @invariant()
    def contactor_closed_only_when_charging_is_allowed(self) -> None:
        if self.contactor:
            assert self.state in (C, D)
            assert self.offered >= MIN_CURRENT_A

    @invariant()
    def current_flows_only_through_a_closed_contactor(self) -> None:
        if self.board.draw()[0] > 0:
            assert self.contactor


TestEvseWithSimulatedEv = EvseWithSimulatedEv.TestCase
