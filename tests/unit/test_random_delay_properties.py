"""Property tests of the randomised delay core, including a stateful model.

The state machine's rules are the events of a charger's life (plug, unplug, a
limit change from any source, the timer firing, cancel, disable/enable, a new
maximum, a power restoration); its invariants are the regulation's: the EVSE
only ever sees the held value or the latest request, no delay outlasts the
maximum, and no delay ever holds a DSR or safety change.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ukscp.limits import Limit, LimitSource
from ukscp.limits.limit import DeclaredCause
from ukscp.regulation.random_delay import (
    MAX_DURATION_LIMIT_S,
    Cancel,
    Cause,
    DelaySettings,
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
    classify,
    equivalent,
    initial_state,
    step,
)

S = LimitSource
LOWERING = (Direction.DECREASE, Direction.STOP)
RAISING = (Direction.INCREASE, Direction.START)

offers = st.builds(
    Offer,
    amps=st.sampled_from([0.0, 0.05, 6.0, 6.05, 6.2, 10.0, 16.0, 20.0, 32.0]),
    phases=st.sampled_from([1, 3]),
)
draws = st.integers(min_value=0, max_value=MAX_DURATION_LIMIT_S)


def draw_from(value):
    """A deterministic draw that stays inside 0..max whatever the maximum."""
    return lambda maximum: value % (maximum + 1)


# --------------------------------------------------------------------------- plain properties


@given(offers, offers)
def test_a_rise_one_way_is_a_fall_the_other_way(a, b):
    forward, backward = classify(a, b), classify(b, a)
    if forward is None:
        assert backward is None
    if forward is Direction.START:
        assert backward is Direction.STOP
    if forward is Direction.INCREASE:
        assert backward is Direction.DECREASE


@given(offers, offers)
def test_equivalent_offers_are_exactly_the_unchanged_ones(a, b):
    assert equivalent(a, b) is (classify(a, b) is None)


@given(
    maximum=st.integers(min_value=1, max_value=MAX_DURATION_LIMIT_S),
    value=draws,
    source=st.sampled_from([S.OCPP, S.DEFAULT_MODE]),
)
def test_a_started_delay_lasts_the_draw_and_never_more_than_max(maximum, value, source):
    state = initial_state(
        Offer(0, 1), settings=DelaySettings(max_duration_s=maximum), ev_connected=True
    )
    request = LimitRequest(Offer(0, 1), Offer(16, 1), Cause(source), ev_connected=True)
    state, out = step(state, request, 100.0, draw_from(value))
    expected = value % (maximum + 1)
    if expected == 0:
        assert out.started is None and out.offer == Offer(16, 1)
    else:
        assert out.started.duration_s == expected
        assert out.started.deadline - out.started.started <= maximum


@given(
    policy=st.sampled_from(list(Policy)),
    source=st.sampled_from([S.DSR, S.SAFETY]),
    old=offers,
    new=offers,
    randomised=st.booleans(),
)
def test_dsr_and_safety_changes_pass_at_once_with_no_delay_running(
    policy, source, old, new, randomised
):
    state = initial_state(old, settings=DelaySettings(policy=policy), ev_connected=True)
    cause = Cause(source, randomised=randomised)
    state, out = step(state, LimitRequest(old, new, cause, ev_connected=True), 0.0, draw_from(7))
    assert out.started is None
    assert out.offer == new


@given(
    source=st.sampled_from([S.DSR, S.OWNER]),
    declared=st.sampled_from([None, *DeclaredCause]),
    randomised=st.booleans(),
    asks=st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_DURATION_LIMIT_S)),
    cleared=st.booleans(),
    old=offers,
    new=offers,
)
def test_no_dsr_or_owner_change_is_ever_delayed_whatever_the_channel_says(
    source, declared, randomised, asks, cleared, old, new
):
    """Policy by_source: a DSR event (a DSR-provider CSMS, OpenADR, an energy manager's
    dsr) or an owner action passes at once, whatever cause, flag or delay its channel
    adds to the limit (regulation 11)."""
    state = initial_state(old, settings=DelaySettings(policy=Policy.BY_SOURCE), ev_connected=True)
    limit = Limit(
        new.amps, source, randomised=randomised, random_delay_max_s=asks, declared=declared
    )
    request = LimitRequest(old, new, Cause.of_limit(limit, cleared=cleared), ev_connected=True)
    state, out = step(state, request, 0.0, draw_from(7))
    assert out.started is None
    assert out.offer == new


# --------------------------------------------------------------------------- the state machine


class DelayMachine(RuleBasedStateMachine):
    """A charger's life as seen by the delay core, with the regulation as invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.ev = False
        self.state = initial_state(Offer(32, 1, "hardware"))

    @initialize(
        policy=st.sampled_from(list(Policy)),
        at_any_change=st.booleans(),
        maximum=draws,
        enabled=st.booleans(),
        amps=st.sampled_from([0.0, 16.0, 32.0]),
    )
    def configure(self, policy, at_any_change, maximum, enabled, amps):
        config = DelaySettings(
            enabled=enabled, max_duration_s=maximum, at_any_change=at_any_change, policy=policy
        )
        self.state = initial_state(Offer(amps, 1, "hardware"), settings=config)

    # ------------------------------------------------------------- driving the core

    def apply(self, event, draw_value=0):
        before = self.state
        self.state, out = step(before, event, self.now, draw_from(draw_value))
        self.check_step(before, event, out)
        return out

    def check_step(self, before, event, out):
        after = self.state
        assert out.offer == after.offered
        # The EVSE only ever moves to the latest request, or stays on (or is
        # given, at a restoration) the value a new delay holds.
        if out.offer != before.offered:
            held = out.started.held if out.started is not None else None
            assert out.offer == after.requested or out.offer == held
        if out.started is not None:
            delay = out.started
            assert delay.cause.key not in (S.DSR, S.SAFETY)
            assert 1 <= delay.duration_s <= before.settings.max_duration_s
            assert after.settings.enabled and after.ev_connected
        if out.ended is not None:
            assert out.offer == after.requested
            assert out.ended.elapsed_s <= out.ended.delay.duration_s + 1e-9
        if isinstance(event, LimitRequest) and event.cause.key in (S.DSR, S.SAFETY):
            self.check_never_held(event, after.offered)

    @staticmethod
    def check_never_held(event, offered):
        """A DSR or safety change is in force at once: the EVSE never waits for it."""
        direction = classify(event.old, event.new)
        if direction in RAISING:
            assert offered == event.new
        elif direction in LOWERING:
            # At the new value, or already below it (a held lower value).
            assert offered == event.new or classify(event.new, offered) in LOWERING

    def fire_expiry_at_deadline(self):
        delay = self.state.delay
        self.now = delay.deadline
        out = self.apply(TimerExpired(delay.delay_id))
        assert out.ended is not None and out.ended.reason is EndReason.EXPIRED
        assert out.ended.elapsed_s <= self.state.settings.max_duration_s + 1e-9

    # ------------------------------------------------------------- rules

    @rule()
    def plug(self):
        self.ev = True
        self.apply(EvPlugged())

    @rule()
    def unplug(self):
        self.ev = False
        out = self.apply(EvUnplugged())
        assert self.state.delay is None
        assert out.ended is None or out.ended.reason is EndReason.EV_DISCONNECTED

    @rule(
        source=st.sampled_from(list(LimitSource)),
        new=offers,
        randomised=st.booleans(),
        declared=st.sampled_from([None, *DeclaredCause]),
        cleared=st.booleans(),
        draw_value=draws,
    )
    def limit_change(self, source, new, randomised, declared, cleared, draw_value):
        new = Offer(new.amps, new.phases, source.value)
        limit = Limit(new.amps, source, randomised=randomised, declared=declared)
        cause = Cause.of_limit(limit, cleared=cleared)
        held_before = self.state.delay.held if self.state.delay else None
        request = LimitRequest(self.state.requested, new, cause, ev_connected=self.ev)
        out = self.apply(request, draw_value)
        if held_before is not None and self.state.delay is not None:
            assert out.started is None  # never restarted
            assert self.state.offered == held_before  # still holding

    @rule(seconds=st.floats(min_value=0, max_value=2000, allow_nan=False))
    def time_passes(self, seconds):
        target = self.now + seconds
        delay = self.state.delay
        if delay is not None and delay.deadline <= target:
            self.fire_expiry_at_deadline()
        self.now = target

    @precondition(lambda self: self.state.delay is not None)
    @rule()
    def expiry(self):
        self.fire_expiry_at_deadline()

    @rule(offset=st.integers(min_value=-2, max_value=2))
    def stray_timer(self, offset):
        """A timer for another delay, or for this one before its deadline, changes nothing."""
        delay = self.state.delay
        delay_id = self.state.next_id + offset if delay is None else delay.delay_id + offset
        if delay is not None and offset == 0 and self.now >= delay.deadline:
            return  # that would be a genuine expiry
        before = self.state
        out = self.apply(TimerExpired(delay_id))
        assert out.ended is None and self.state == before

    @rule()
    def cancel(self):
        running = self.state.delay is not None
        out = self.apply(Cancel())
        assert self.state.delay is None
        assert (out.ended is not None) is running

    @rule()
    def disable(self):
        self.apply(Disable())
        assert self.state.delay is None

    @rule()
    def enable(self):
        self.apply(Enable())

    @rule(seconds=draws)
    def set_max(self, seconds):
        self.apply(SetMaxDuration(seconds))

    @rule(draw_value=draws)
    def power_restored(self, draw_value):
        self.ev = True
        self.apply(PowerRestored(), draw_value)

    # ------------------------------------------------------------- invariants

    @invariant()
    def evse_has_the_held_value_or_the_latest_request(self):
        delay = self.state.delay
        expected = delay.held if delay is not None else self.state.requested
        assert self.state.offered == expected

    @invariant()
    def a_delay_never_exceeds_the_maximum(self):
        delay = self.state.delay
        if delay is not None:
            assert delay.deadline - delay.started <= self.state.settings.max_duration_s + 1e-9
            assert delay.duration_s <= MAX_DURATION_LIMIT_S
            assert self.now <= delay.deadline

    @invariant()
    def no_delay_runs_for_dsr_or_safety(self):
        delay = self.state.delay
        assert delay is None or delay.cause.key not in (S.DSR, S.SAFETY)

    @invariant()
    def no_delay_runs_when_disabled_or_unplugged(self):
        if self.state.delay is not None:
            assert self.state.settings.enabled
            assert self.state.ev_connected

    @invariant()
    def a_running_delay_holds_a_different_value(self):
        delay = self.state.delay
        if delay is not None:
            assert not equivalent(delay.held, self.state.requested)


DelayMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestDelayMachine = DelayMachine.TestCase
