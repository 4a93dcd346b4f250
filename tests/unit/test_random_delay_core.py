"""The randomised delay's pure core: each trigger, each policy row, each way a delay ends."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ukscp.limits import Limit, LimitSource
from ukscp.limits.limit import DeclaredCause
from ukscp.regulation.random_delay import (
    DEFAULT_MAX_DURATION_S,
    MAX_DURATION_LIMIT_S,
    POLICY_TABLE,
    Cancel,
    Cause,
    DelaySettings,
    DelayState,
    Direction,
    Disable,
    Enable,
    EndReason,
    EvPlugged,
    EvUnplugged,
    LimitRequest,
    Offer,
    Policy,
    PowerRestored,
    SetMaxDuration,
    TimerExpired,
    Trigger,
    classify,
    initial_state,
    policy_decision,
    policy_table_markdown,
    status,
    step,
    validate_max_duration,
)

S = LimitSource
DOC = Path(__file__).resolve().parents[2] / "docs" / "random-delay.md"


def fixed(seconds):
    """A draw that always returns ``seconds`` (capped at the maximum it is given)."""

    def draw(maximum):
        return min(seconds, maximum)

    return draw


def no_draw(maximum):
    raise AssertionError(f"no delay may be drawn here (max {maximum})")


def state_at(amps, phases=1, **settings):
    return initial_state(Offer(amps, phases), settings=DelaySettings(**settings), ev_connected=True)


def change(
    state,
    amps,
    source,
    *,
    phases=None,
    randomised=False,
    cleared=False,
    ev=True,
    asks=None,
    declared=None,
):
    """A LimitRequest from the state's latest request to ``amps`` caused by ``source``.

    ``asks`` is the limit's own longest delay (OCPP 2.1 randomizedDelay); ``declared``
    the cause its source declares (an energy manager's local or price).
    """
    old = state.requested
    new = Offer(amps, phases or old.phases, source.value)
    limit = Limit(
        amps, source, "test", randomised=randomised, random_delay_max_s=asks, declared=declared
    )
    cause = Cause.of_limit(limit, cleared=cleared)
    return LimitRequest(old=old, new=new, cause=cause, ev_connected=ev)


def run(state, event, now=0.0, draw=no_draw, **kw):
    return step(state, event, now, draw, **kw)


def delayed(state: DelayState, amps, source, now=0.0, seconds=300, **kw):
    """Start a delay by changing to ``amps`` from ``source``; assert it started."""
    state, out = run(state, change(state, amps, source, **kw), now, fixed(seconds))
    assert out.started is not None
    return state, out


# --------------------------------------------------------------------------- classify


def test_zero_to_flowing_is_a_start():
    assert classify(Offer(0, 1), Offer(16, 1)) is Direction.START


def test_flowing_to_zero_is_a_stop():
    assert classify(Offer(16, 1), Offer(0, 1)) is Direction.STOP


def test_more_current_is_an_increase():
    assert classify(Offer(10, 1), Offer(16, 1)) is Direction.INCREASE


def test_less_current_is_a_decrease():
    assert classify(Offer(16, 1), Offer(10, 1)) is Direction.DECREASE


def test_change_of_exactly_point_one_amp_is_not_relevant():
    assert classify(Offer(16, 1), Offer(16.1, 1)) is None


def test_change_just_over_point_one_amp_is_relevant():
    assert classify(Offer(16, 1), Offer(16.11, 1)) is Direction.INCREASE


def test_more_phases_is_an_increase():
    assert classify(Offer(16, 1), Offer(16, 3)) is Direction.INCREASE


def test_fewer_phases_is_a_decrease():
    assert classify(Offer(16, 3), Offer(16, 1)) is Direction.DECREASE


def test_total_power_change_over_three_phases_is_relevant():
    # 0.05 A per phase is noise, but 0.15 A in total is not.
    assert classify(Offer(16, 3), Offer(15.95, 3)) is Direction.DECREASE


def test_phase_change_with_no_current_is_not_relevant():
    assert classify(Offer(0, 1), Offer(0, 3)) is None


def test_mixed_change_counts_as_a_decrease():
    # per phase down, total up: a protective cap acting on the per-phase value must not wait
    assert classify(Offer(20, 1), Offer(10, 3)) is Direction.DECREASE


# --------------------------------------------------------------------------- triggers


def test_ocpp_start_is_delayed_holding_zero():
    _, out = delayed(state_at(0), 16, S.OCPP)
    assert out.offer == Offer(0, 1)
    assert out.started.held == Offer(0, 1)
    assert out.started.direction is Direction.START


def test_ocpp_stop_is_delayed_holding_the_current():
    _, out = delayed(state_at(16), 0, S.OCPP)
    assert out.offer == Offer(16, 1)
    assert out.started.direction is Direction.STOP


def test_ocpp_increase_is_delayed():
    _, out = delayed(state_at(10), 16, S.OCPP)
    assert out.offer == Offer(10, 1)


def test_ocpp_decrease_is_delayed():
    _, out = delayed(state_at(16), 10, S.OCPP)
    assert out.offer == Offer(16, 1)


def test_ocpp_phase_change_is_delayed():
    _, out = delayed(state_at(16, 1), 16, S.OCPP, phases=3)
    assert out.offer == Offer(16, 1)
    assert out.started.direction is Direction.INCREASE


def test_default_mode_boundary_is_delayed():
    _, out = delayed(state_at(0), 32, S.DEFAULT_MODE)
    assert out.offer == Offer(0, 1)


def test_delay_records_cause_and_duration():
    _, out = delayed(state_at(0), 16, S.OCPP, now=5.0, seconds=321)
    delay = out.started
    assert (delay.duration_s, delay.started, delay.deadline) == (321, 5.0, 326.0)
    assert delay.cause.key is S.OCPP
    assert out.decision.delayed


def test_power_restoration_start_is_delayed_holding_zero():
    state = initial_state(Offer(16, 1, "hardware"), ev_connected=False)
    state, out = run(state, PowerRestored(), draw=fixed(200))
    assert out.offer == Offer(0, 1)
    assert out.started.cause.key is Trigger.RESTORATION
    assert out.started.duration_s == 200


def test_power_restoration_expiry_applies_the_limit():
    state = initial_state(Offer(16, 1, "hardware"))
    state, _ = run(state, PowerRestored(), draw=fixed(200))
    _, out = run(state, TimerExpired(state.delay.delay_id), now=200.0)
    assert out.offer == Offer(16, 1)
    assert out.ended.reason is EndReason.EXPIRED


def test_power_restoration_with_nothing_requested_starts_no_delay():
    state = initial_state(Offer(0, 1))
    _, out = run(state, PowerRestored())
    assert out.started is None
    assert out.offer == Offer(0, 1)


def test_power_restoration_is_not_delayed_when_disabled():
    state = initial_state(Offer(16, 1), settings=DelaySettings(enabled=False))
    _, out = run(state, PowerRestored())
    assert out.started is None
    assert out.offer == Offer(16, 1)


def test_plug_in_start_is_not_delayed():
    state = initial_state(Offer(16, 1))
    state, out = run(state, EvPlugged())
    assert out.started is None
    assert out.offer == Offer(16, 1)
    assert state.ev_connected
    assert out.decision.cause.key is Trigger.PLUG_IN


def test_plug_in_start_is_delayed_under_always_policy():
    state = initial_state(Offer(16, 1), settings=DelaySettings(policy=Policy.ALWAYS))
    _, out = run(state, EvPlugged(), draw=lambda _: 42)
    assert out.started is not None
    assert out.started.duration_s == 42
    assert out.offer.amps == 0


def test_no_delay_when_ev_not_connected():
    state = state_at(0)
    _, out = run(state, change(state, 16, S.OCPP, ev=False))
    assert out.started is None
    assert out.offer == Offer(16, 1)


def test_small_change_passes_at_once_without_a_decision():
    state = state_at(16)
    _, out = run(state, change(state, 16.05, S.OCPP))
    assert out.offer == Offer(16.05, 1)
    assert out.decision is None


def test_no_delay_when_disabled():
    state = state_at(0, enabled=False)
    _, out = run(state, change(state, 16, S.OCPP))
    assert out.started is None
    assert out.offer == Offer(16, 1)
    assert out.decision.why == "the random delay is disabled"


def test_no_delay_and_no_draw_when_max_duration_is_zero():
    state = state_at(0, max_duration_s=0)
    _, out = run(state, change(state, 16, S.OCPP), draw=no_draw)
    assert out.started is None
    assert out.offer == Offer(16, 1)


def test_draw_of_zero_applies_at_once():
    state = state_at(0)
    state, out = run(state, change(state, 16, S.OCPP), draw=fixed(0))
    assert out.started is None
    assert out.offer == Offer(16, 1)
    assert out.decision.drawn_s == 0
    assert state.delay is None


def test_draw_is_asked_for_the_maximum():
    asked = []

    def draw(maximum):
        asked.append(maximum)
        return 1

    state = state_at(0, max_duration_s=42)
    run(state, change(state, 16, S.OCPP), draw=draw)
    assert asked == [42]


@pytest.mark.parametrize("bad", [-1, 601, 1.5, True])
def test_draw_outside_zero_to_max_is_refused(bad):
    state = state_at(0)
    with pytest.raises(ValueError, match="draw"):
        run(state, change(state, 16, S.OCPP), draw=lambda _m: bad)


def test_at_any_change_false_does_not_delay_an_increase():
    state = state_at(10, at_any_change=False)
    _, out = run(state, change(state, 16, S.OCPP))
    assert out.started is None
    assert out.offer == Offer(16, 1)


def test_at_any_change_false_still_delays_a_start():
    state = state_at(0, at_any_change=False)
    _, out = run(state, change(state, 16, S.OCPP), draw=fixed(10))
    assert out.started is not None


def test_at_any_change_false_still_delays_a_stop():
    state = state_at(16, at_any_change=False)
    _, out = run(state, change(state, 0, S.OCPP), draw=fixed(10))
    assert out.started is not None


# --------------------------------------------------------------------------- policy rows


def test_decrease_for_supply_limit_is_not_delayed():
    state = state_at(32)
    _, out = run(state, change(state, 16, S.SUPPLY))
    assert out.offer == Offer(16, 1)
    assert out.started is None


def test_stop_for_supply_limit_is_not_delayed():
    state = state_at(32)
    _, out = run(state, change(state, 0, S.SUPPLY))
    assert out.offer == Offer(0, 1)


def test_increase_for_supply_cap_is_not_delayed():
    state = state_at(16)
    _, out = run(state, change(state, 32, S.SUPPLY))
    assert out.offer == Offer(32, 1)


def test_decrease_for_hardware_derating_is_not_delayed():
    state = state_at(32)
    _, out = run(state, change(state, 20, S.HARDWARE))
    assert out.offer == Offer(20, 1)


def test_increase_for_hardware_cap_is_not_delayed():
    state = state_at(20)
    _, out = run(state, change(state, 32, S.HARDWARE))
    assert out.offer == Offer(32, 1)


@pytest.mark.parametrize(("before", "after"), [(0, 16), (16, 0), (10, 16), (16, 10)])
def test_any_change_for_safety_is_not_delayed(before, after):
    state = state_at(before)
    _, out = run(state, change(state, after, S.SAFETY))
    assert out.offer == Offer(after, 1)


@pytest.mark.parametrize(("before", "after"), [(0, 16), (16, 0), (10, 16), (16, 10)])
def test_any_change_for_dsr_is_not_delayed(before, after):
    state = state_at(before)
    _, out = run(state, change(state, after, S.DSR))
    assert out.offer == Offer(after, 1)


@pytest.mark.parametrize("source", [S.DSR, S.SAFETY])
def test_dsr_and_safety_are_not_delayed_under_always_policy(source):
    state = state_at(16, policy=Policy.ALWAYS)
    _, out = run(state, change(state, 6, source))
    assert out.offer == Offer(6, 1)


@pytest.mark.parametrize("source", [S.SUPPLY, S.HARDWARE])
def test_protective_decrease_is_not_delayed_under_always_policy(source):
    state = state_at(32, policy=Policy.ALWAYS)
    _, out = run(state, change(state, 10, source))
    assert out.offer == Offer(10, 1)


def test_owner_boost_is_not_delayed():
    state = state_at(0)
    _, out = run(state, change(state, 32, S.OWNER))
    assert out.offer == Offer(32, 1)


def test_owner_pause_is_not_delayed():
    state = state_at(32)
    _, out = run(state, change(state, 0, S.OWNER))
    assert out.offer == Offer(0, 1)


def test_owner_editing_charging_hours_is_not_delayed():
    state = state_at(0)
    _, out = run(state, change(state, 32, S.OWNER, cleared=True))
    assert out.offer == Offer(32, 1)


def test_pv_surplus_change_declared_local_is_not_delayed():
    state = state_at(8)
    _, out = run(state, change(state, 12, S.EMS, declared=DeclaredCause.LOCAL))
    assert out.offer == Offer(12, 1)
    assert "declared local" in out.decision.why


@pytest.mark.parametrize("declared", [None, DeclaredCause.PRICE])
def test_an_energy_manager_change_for_a_price_or_no_declared_cause_is_delayed(declared):
    # A tariff follower moves with every other one at the same half hour; one that
    # does not say why may be one.
    state = state_at(8)
    _, out = run(state, change(state, 12, S.EMS, declared=declared), draw=fixed(300))
    assert out.started is not None and out.started.duration_s == 300
    assert out.offer == Offer(8, 1)


def test_an_energy_manager_change_it_randomised_already_is_not_delayed():
    state = state_at(8)
    _, out = run(state, change(state, 12, S.EMS, randomised=True))
    assert out.offer == Offer(12, 1)


def test_randomised_ocpp_limit_is_not_delayed():
    state = state_at(0)
    _, out = run(state, change(state, 16, S.OCPP, randomised=True))
    assert out.offer == Offer(16, 1)
    assert "equivalent random delay" in out.decision.why


def test_a_profiles_randomized_delay_is_the_longest_delay_drawn():
    drawn_with: list[int] = []

    def draw(maximum):
        drawn_with.append(maximum)
        return maximum

    state = state_at(0)  # the charger's own maximum: 600 s
    _, out = run(state, change(state, 16, S.OCPP, asks=120), draw=draw)
    assert drawn_with == [120]  # in place of the charger's 600 s, not on top of it
    assert out.started is not None and out.started.duration_s == 120
    assert "randomizedDelay" in out.decision.why


def test_a_randomized_delay_beyond_1800_s_is_capped_at_the_regulations_maximum():
    drawn_with: list[int] = []
    state = state_at(0)
    run(state, change(state, 16, S.OCPP, asks=7200), draw=lambda m: drawn_with.append(m) or 0)
    assert drawn_with == [1800]


def test_a_randomized_delay_never_holds_what_no_policy_delays():
    state = state_at(0)
    _, out = run(state, change(state, 16, S.DSR, asks=600))  # no_draw: must not draw
    assert out.offer == Offer(16, 1)


def test_the_owner_disabling_the_delay_also_ends_a_profiles_randomized_delay():
    state = state_at(0, enabled=False)
    _, out = run(state, change(state, 16, S.OCPP, asks=600))
    assert out.offer == Offer(16, 1)


def test_cleared_ocpp_limit_is_delayed():
    state = state_at(10)
    _, out = run(state, change(state, 32, S.OCPP, cleared=True), draw=fixed(5))
    assert out.started is not None


def test_cleared_dsr_limit_is_not_delayed():
    state = state_at(6)
    _, out = run(state, change(state, 32, S.DSR, cleared=True))
    assert out.offer == Offer(32, 1)


def test_always_policy_delays_an_owner_change():
    state = state_at(0, policy=Policy.ALWAYS)
    _, out = run(state, change(state, 32, S.OWNER), draw=fixed(5))
    assert out.started is not None


def test_always_policy_delays_a_supply_cap_increase():
    state = state_at(16, policy=Policy.ALWAYS)
    _, out = run(state, change(state, 32, S.SUPPLY), draw=fixed(5))
    assert out.started is not None


def test_always_policy_delays_a_randomised_ocpp_limit():
    state = state_at(0, policy=Policy.ALWAYS)
    _, out = run(state, change(state, 16, S.OCPP, randomised=True), draw=fixed(5))
    assert out.started is not None


def test_randomised_flag_never_adds_a_delay():
    cause = Cause(S.DSR, randomised=True)
    for policy in Policy:
        for direction in Direction:
            assert policy_decision(policy, cause, direction)[0] is False


ROW_IDS = [f"{key.value}-{direction.value}" for key, direction in POLICY_TABLE]


@pytest.mark.parametrize(("key", "rule"), list(POLICY_TABLE.items()), ids=ROW_IDS)
def test_policy_row_decides_the_delay(key, rule):
    source, direction = key
    cause = Cause(source)
    for policy in Policy:
        delays, why = policy_decision(policy, cause, direction)
        assert delays is rule.delays(policy)
        assert why == rule.why


LIMIT_ROWS = [(key, rule) for key, rule in POLICY_TABLE.items() if isinstance(key[0], LimitSource)]


@pytest.mark.parametrize(
    ("key", "rule"), LIMIT_ROWS, ids=[f"{k.value}-{d.value}" for (k, d), _ in LIMIT_ROWS]
)
def test_policy_row_is_what_a_limit_change_gets(key, rule):
    source, direction = key
    before, after = {
        Direction.START: (0, 16),
        Direction.STOP: (16, 0),
        Direction.INCREASE: (10, 16),
        Direction.DECREASE: (16, 10),
    }[direction]
    for policy in Policy:
        state = state_at(before, policy=policy)
        _, out = run(state, change(state, after, source), draw=fixed(7))
        assert (out.started is not None) is rule.delays(policy)
        assert out.offer == (Offer(before, 1) if rule.delays(policy) else Offer(after, 1))


def test_policy_table_has_a_row_for_every_source_and_direction():
    for source in LimitSource:
        for direction in Direction:
            assert (source, direction) in POLICY_TABLE


def test_policy_table_has_a_row_for_every_randomised_direction():
    for direction in Direction:
        assert (Trigger.RANDOMISED, direction) in POLICY_TABLE


def test_no_policy_ever_delays_dsr_or_safety():
    for (key, _), rule in POLICY_TABLE.items():
        if key in (S.DSR, S.SAFETY):
            assert not rule.by_source and not rule.always


def test_every_policy_row_says_why():
    assert all(len(rule.why) > 20 for rule in POLICY_TABLE.values())


def test_doc_lists_every_policy_row():
    text = DOC.read_text(encoding="utf-8")
    assert policy_table_markdown() in text
    for key, direction in POLICY_TABLE:
        assert f"| {key.value} | {direction.value} |" in text


# --------------------------------------------------------------------------- during a delay


def test_change_during_delay_keeps_the_held_value():
    state, _ = delayed(state_at(10), 16, S.OCPP)
    state, out = run(state, change(state, 20, S.OCPP), now=50.0)
    assert out.offer == Offer(10, 1)
    assert state.requested == Offer(20, 1)


def test_change_during_delay_does_not_restart_or_extend_it():
    state, _ = delayed(state_at(10), 16, S.OCPP, seconds=300)
    state, out = run(state, change(state, 0, S.DEFAULT_MODE), now=299.0, draw=no_draw)
    assert out.started is None
    assert state.delay.deadline == 300.0


def test_expiry_applies_the_latest_request_without_a_second_delay():
    state, _ = delayed(state_at(10), 16, S.OCPP, seconds=300)
    state, _ = run(state, change(state, 20, S.OCPP), now=100.0)
    state, out = run(state, TimerExpired(state.delay.delay_id), now=300.0, draw=no_draw)
    assert out.offer == Offer(20, 1)
    assert out.ended.reason is EndReason.EXPIRED
    assert out.ended.elapsed_s == 300.0
    assert state.delay is None


def test_request_returning_to_held_value_ends_the_delay_early():
    state, _ = delayed(state_at(10), 16, S.OCPP)
    state, out = run(state, change(state, 10, S.OCPP), now=20.0)
    assert out.ended.reason is EndReason.RETURNED_TO_HELD
    assert out.offer == Offer(10, 1)
    assert state.delay is None


def test_request_within_point_one_amp_of_held_ends_the_delay_early():
    state, _ = delayed(state_at(10), 16, S.OCPP)
    _, out = run(state, change(state, 10.05, S.OCPP), now=20.0)
    assert out.ended.reason is EndReason.RETURNED_TO_HELD
    assert out.offer == Offer(10.05, 1)


def test_small_change_during_delay_keeps_holding():
    state, _ = delayed(state_at(10), 16, S.OCPP)
    state, out = run(state, change(state, 16.05, S.DSR), now=20.0)
    assert out.offer == Offer(10, 1)
    assert state.delay is not None


def test_dsr_change_during_delay_takes_effect_and_ends_it():
    state, _ = delayed(state_at(10), 32, S.OCPP)
    state, out = run(state, change(state, 6, S.DSR), now=20.0)
    assert out.offer == Offer(6, 1)
    assert out.ended.reason is EndReason.SUPERSEDED
    assert state.delay is None


def test_safety_stop_during_delay_takes_effect_at_once():
    state, _ = delayed(state_at(16), 32, S.OCPP)
    _, out = run(state, change(state, 0, S.SAFETY), now=20.0)
    assert out.offer == Offer(0, 1)


def test_supply_decrease_below_held_value_takes_effect_at_once():
    state, _ = delayed(state_at(16), 32, S.OCPP)
    state, out = run(state, change(state, 10, S.SUPPLY), now=20.0)
    assert out.offer == Offer(10, 1)
    assert out.ended.reason is EndReason.SUPERSEDED


def test_ems_decrease_below_held_value_applies_and_leaves_nothing_to_hold():
    state, _ = delayed(state_at(16), 32, S.OCPP, seconds=300)  # holding 16 A
    state, out = run(state, change(state, 10, S.EMS, declared=DeclaredCause.LOCAL), now=10.0)
    assert out.offer.amps == 10
    assert state.delay is None


def test_safety_rise_during_delay_takes_effect_at_once():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    state, _ = run(state, change(state, 0, S.SAFETY), now=5.0)  # returns to held: ends
    state, _ = delayed(state, 16, S.OCPP, now=6.0)
    state, out = run(state, change(state, 32, S.SAFETY), now=7.0)
    assert out.ended.reason is EndReason.SUPERSEDED


def test_ems_increase_during_delay_waits_for_it():
    # PV surplus moving during an OCPP-caused delay must not release the OCPP start early.
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    state, out = run(state, change(state, 10, S.EMS, declared=DeclaredCause.LOCAL), now=20.0)
    assert out.offer.amps == 0
    assert out.ended is None
    state, out = run(state, TimerExpired(state.delay.delay_id), now=300.0)
    assert out.offer == Offer(10, 1)


def test_randomised_change_during_delay_waits_for_it():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    state, out = run(state, change(state, 20, S.OCPP, randomised=True), now=20.0)
    assert out.offer.amps == 0
    assert state.delay is not None


def test_supply_decrease_still_above_held_value_keeps_holding():
    # Held at 6 A waiting to rise to 32 A; the supply drops to 20 A. 6 A already
    # respects it, and jumping to 20 A now would let the OCPP rise skip its delay.
    state, _ = delayed(state_at(6), 32, S.OCPP)
    state, out = run(state, change(state, 20, S.SUPPLY), now=20.0)
    assert out.offer == Offer(6, 1)
    assert state.delay is not None
    assert state.requested == Offer(20, 1)


def test_owner_change_during_delay_supersedes_it():
    state, _ = delayed(state_at(0), 16, S.OCPP)
    state, out = run(state, change(state, 32, S.OWNER), now=20.0)
    assert out.offer == Offer(32, 1)
    assert out.ended.reason is EndReason.SUPERSEDED


def test_unplug_during_delay_ends_it():
    state, _ = delayed(state_at(0), 16, S.OCPP)
    state, out = run(state, EvUnplugged(), now=20.0)
    assert out.ended.reason is EndReason.EV_DISCONNECTED
    assert out.offer == Offer(16, 1)
    assert not state.ev_connected


def test_limit_change_with_ev_gone_ends_the_delay():
    state, _ = delayed(state_at(0), 16, S.OCPP)
    _, out = run(state, change(state, 20, S.OCPP, ev=False), now=20.0)
    assert out.ended.reason is EndReason.EV_DISCONNECTED
    assert out.offer == Offer(20, 1)


def test_unplug_without_delay_changes_nothing_offered():
    state = state_at(16)
    state, out = run(state, EvUnplugged())
    assert out.offer == Offer(16, 1) and out.ended is None
    assert not state.ev_connected


def test_early_expiry_is_ignored():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    state, out = run(state, TimerExpired(state.delay.delay_id), now=299.0)
    assert out.ended is None
    assert out.offer == Offer(0, 1)


def test_stale_expiry_is_ignored():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    _, out = run(state, TimerExpired(state.delay.delay_id + 1), now=300.0)
    assert out.ended is None


def test_expiry_with_no_delay_is_ignored():
    state = state_at(16)
    same, out = run(state, TimerExpired(1), now=1000.0)
    assert same == state and out.ended is None


def test_next_delay_gets_a_new_id():
    state, first = delayed(state_at(0), 16, S.OCPP)
    state, _ = run(state, TimerExpired(first.started.delay_id), now=300.0)
    _, second = delayed(state, 0, S.OCPP, now=400.0)
    assert second.started.delay_id == first.started.delay_id + 1


# --------------------------------------------------------------------------- cancel, disable


def test_cancel_ends_the_delay_and_applies_the_latest():
    state, _ = delayed(state_at(0), 16, S.OCPP)
    state, out = run(state, Cancel(), now=10.0)
    assert out.ended.reason is EndReason.CANCELLED
    assert out.offer == Offer(16, 1)
    assert state.delay is None


def test_cancel_without_delay_does_nothing():
    state = state_at(16)
    same, out = run(state, Cancel())
    assert same == state and out.ended is None


def test_cancel_has_no_effect_on_the_next_delay():
    state, _ = delayed(state_at(0), 16, S.OCPP)
    state, _ = run(state, Cancel(), now=10.0)
    state, out = run(state, change(state, 0, S.OCPP), now=20.0, draw=fixed(50))
    assert out.started is not None
    assert out.offer == Offer(16, 1)
    assert state.settings.enabled


def test_disable_mid_delay_ends_it_and_applies_the_latest():
    state, _ = delayed(state_at(0), 16, S.OCPP)
    state, out = run(state, Disable(), now=10.0)
    assert out.ended.reason is EndReason.DISABLED
    assert out.offer == Offer(16, 1)
    assert not state.settings.enabled


def test_enable_after_disable_delays_again():
    state = state_at(0, enabled=False)
    state, _ = run(state, Enable())
    _, out = run(state, change(state, 16, S.OCPP), draw=fixed(5))
    assert out.started is not None


def test_defaults_are_enabled_600_s_any_change_by_source():
    settings = DelaySettings()
    assert settings.enabled
    assert settings.max_duration_s == DEFAULT_MAX_DURATION_S == 600
    assert settings.at_any_change
    assert settings.policy is Policy.BY_SOURCE


# --------------------------------------------------------------------------- maximum


def test_max_1800_is_accepted_and_a_draw_may_reach_it():
    state = state_at(0, max_duration_s=MAX_DURATION_LIMIT_S)
    _, out = run(state, change(state, 16, S.OCPP), draw=fixed(1800))
    assert out.started.duration_s == 1800


def test_max_0_is_accepted():
    state, _ = run(state_at(0), SetMaxDuration(0))
    assert state.settings.max_duration_s == 0


@pytest.mark.parametrize("bad", [1801, -1, 10**6])
def test_max_outside_0_to_1800_is_refused(bad):
    with pytest.raises(ValueError, match="0 to 1800"):
        run(state_at(0), SetMaxDuration(bad))


@pytest.mark.parametrize("bad", [600.0, 600.5, "600", True, None])
def test_non_integer_max_is_refused(bad):
    with pytest.raises(ValueError, match="whole number of seconds"):
        validate_max_duration(bad)


def test_settings_refuse_an_invalid_max():
    with pytest.raises(ValueError):
        DelaySettings(max_duration_s=1801)


def test_lowering_max_caps_the_running_delay():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=500)
    state, out = run(state, SetMaxDuration(100), now=50.0)
    assert state.delay.deadline == 100.0
    assert out.offer == Offer(0, 1)


def test_lowering_max_below_the_time_waited_ends_the_delay():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=500)
    state, out = run(state, SetMaxDuration(0), now=50.0)
    assert out.ended.reason is EndReason.MAX_REDUCED
    assert out.offer == Offer(16, 1)


def test_raising_max_does_not_extend_the_running_delay():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    state, _ = run(state, SetMaxDuration(1800), now=50.0)
    assert state.delay.deadline == 300.0


# --------------------------------------------------------------------------- status


def test_status_when_idle():
    st = status(state_at(16), 0.0)
    assert (st.running, st.remaining_s, st.cause) == (False, 0, None)
    assert st.limit_during_delay_a is None and st.limit_after_delay_a is None
    assert (st.enabled, st.max_duration_s, st.policy) == (True, 600, Policy.BY_SOURCE)


def test_status_while_running():
    wall = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)
    state = state_at(0)
    state, _ = run(state, change(state, 16, S.OCPP), now=10.0, draw=fixed(300), wall_now=wall)
    st = status(state, 110.0)
    assert st.running
    assert st.remaining_s == 200
    assert (st.limit_during_delay_a, st.limit_after_delay_a) == (0, 16)
    assert st.started_at == wall
    assert st.cause == "ocpp"
    assert st.duration_s == 300


def test_status_remaining_rounds_up():
    state, _ = delayed(state_at(0), 16, S.OCPP, seconds=300)
    assert status(state, 299.5).remaining_s == 1


def test_settings_accept_the_policy_as_config_text():
    assert DelaySettings(policy="always").policy is Policy.ALWAYS


def test_settings_refuse_an_unknown_policy():
    with pytest.raises(ValueError, match="by_source, always"):
        DelaySettings(policy="sometimes")
