"""The asyncio delay gate on the virtual clock: a 600 s delay is a test of milliseconds."""

import time

import pytest

from ukscp.clock import VirtualClock
from ukscp.events import EventBus
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.regulation.delay_gate import (
    RandomDelayCancelled,
    RandomDelayEnabledChanged,
    RandomDelayEnded,
    RandomDelayEndedEarly,
    RandomDelayExpired,
    RandomDelayGate,
    RandomDelayMaxDurationChanged,
    RandomDelayNotApplied,
    RandomDelayStarted,
)
from ukscp.regulation.random_delay import DelaySettings, Policy

S = LimitSource
CAPS = {
    "hardware": Limit(32, S.HARDWARE, "board rating"),
    "supply": Limit(40, S.SUPPLY, "supply fuse"),
}


class Rig:
    """An arbiter, a bus, an EV flag and a recording EVSE around one gate."""

    def __init__(self, clock, *, draw_s=600, start_amps=0.0, ev=True, **settings):
        self.clock = clock
        self.bus = EventBus()
        self.events = []
        self.bus.subscribe(RandomDelayStarted, self.events.append)
        self.bus.subscribe(RandomDelayEnded, self.events.append)
        self.bus.subscribe(RandomDelayNotApplied, self.events.append)
        self.bus.subscribe(RandomDelayEnabledChanged, self.events.append)
        self.bus.subscribe(RandomDelayMaxDurationChanged, self.events.append)
        self.applied = []
        self.ev = ev
        self.draws = []
        self.draw_s = draw_s
        self.arbiter = Arbiter(CAPS, supply_phases=1)
        self.arbiter.set("ocpp", Limit(start_amps, S.OCPP, "profile 1"))
        self.gate = RandomDelayGate(
            clock=clock,
            bus=self.bus,
            apply=lambda amps, phases, source: self.applied.append((amps, phases, source)),
            ev_connected=lambda: self.ev,
            initial=self.arbiter.current,
            settings=DelaySettings(**settings),
            draw=self.draw,
        )
        self.arbiter.subscribe(self.gate.on_limit_change)

    def draw(self, maximum):
        self.draws.append(maximum)
        return min(self.draw_s, maximum)

    def kinds(self):
        return [type(event) for event in self.events]


@pytest.fixture
def clock():
    return VirtualClock()


async def test_600_s_delay_holds_then_applies_the_latest_at_expiry(clock):
    rig = Rig(clock, draw_s=600)
    started = time.perf_counter()
    rig.arbiter.set("ocpp", Limit(16, S.OCPP, "profile 2"))
    assert rig.applied == []  # held at 0 A, which the EVSE already has
    await clock.advance(599)
    assert rig.applied == []
    await clock.advance(1)
    assert rig.applied == [(16, 1, "ocpp")]
    assert time.perf_counter() - started < 1.0


async def test_change_during_delay_applies_at_the_original_expiry(clock):
    rig = Rig(clock, draw_s=600)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    await clock.advance(300)
    rig.arbiter.set("ocpp", Limit(20, S.OCPP))
    await clock.advance(300)
    assert rig.applied == [(20, 1, "ocpp")]
    assert rig.draws == [600]  # one draw: the second change joined the first delay


async def test_held_value_is_kept_on_a_stop(clock):
    rig = Rig(clock, draw_s=120, start_amps=16)
    rig.arbiter.set("ocpp", Limit(0, S.OCPP))
    assert rig.gate.offered.amps == 16
    await clock.advance(120)
    assert rig.applied == [(0, 1, "ocpp")]


async def test_events_are_published_for_start_and_expiry(clock):
    rig = Rig(clock, draw_s=42)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP, "profile 2"))
    await clock.advance(42)
    started, expired = rig.events
    assert isinstance(started, RandomDelayStarted)
    assert (started.duration_s, started.cause, started.source) == (42, "ocpp", "ocpp")
    assert (started.held_amps, started.requested_amps) == (0, 16)
    assert started.reason == "profile 2"
    assert isinstance(expired, RandomDelayExpired)
    assert (expired.end_reason, expired.applied_amps, expired.elapsed_s) == ("expired", 16, 42)


async def test_dsr_change_is_applied_at_once_and_says_why(clock):
    rig = Rig(clock, start_amps=16)
    rig.arbiter.set("dsr", Limit(6, S.DSR, "event 7"))
    assert rig.applied == [(6, 1, "dsr")]
    assert rig.draws == []
    (event,) = rig.events
    assert isinstance(event, RandomDelayNotApplied)
    assert "demand side response" in event.why


async def test_supply_decrease_during_delay_is_applied_at_once(clock):
    rig = Rig(clock, start_amps=32)
    rig.arbiter.set("ocpp", Limit(10, S.OCPP))  # delayed: EVSE keeps 32 A
    rig.arbiter.set("supply_dlm", Limit(8, S.SUPPLY, "house load"))
    assert rig.applied == [(8, 1, "supply")]
    # 8 A is below both the held 32 A and the delayed 10 A: nothing is left to hold
    assert not rig.gate.status().running
    assert RandomDelayEndedEarly in rig.kinds()


async def test_cancel_applies_the_latest_and_publishes_who_cancelled(clock):
    rig = Rig(clock)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    await clock.advance(10)
    rig.gate.cancel(source="owner")
    assert rig.applied == [(16, 1, "ocpp")]
    cancelled = rig.events[-1]
    assert isinstance(cancelled, RandomDelayCancelled)
    assert (cancelled.source, cancelled.cause, cancelled.elapsed_s) == ("owner", "ocpp", 10)
    await clock.advance(1000)
    assert rig.applied == [(16, 1, "ocpp")]  # the cancelled timer never fires


async def test_cancel_has_no_effect_on_the_next_delay(clock):
    rig = Rig(clock, draw_s=60)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    rig.gate.cancel()
    rig.arbiter.set("ocpp", Limit(0, S.OCPP))
    assert rig.gate.status().running
    await clock.advance(60)
    assert rig.applied == [(16, 1, "ocpp"), (0, 1, "ocpp")]


async def test_disable_mid_delay_applies_the_latest_and_publishes_the_change(clock):
    rig = Rig(clock)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    rig.gate.disable(source="ocpp")
    assert rig.applied == [(16, 1, "ocpp")]
    assert RandomDelayEnabledChanged in rig.kinds()
    changed = next(e for e in rig.events if isinstance(e, RandomDelayEnabledChanged))
    assert (changed.enabled, changed.source) == (False, "ocpp")
    ended = next(e for e in rig.events if isinstance(e, RandomDelayEndedEarly))
    assert ended.end_reason == "disabled"


async def test_enable_when_already_enabled_publishes_nothing(clock):
    rig = Rig(clock)
    rig.gate.enable()
    assert rig.events == []


async def test_request_back_to_held_value_ends_the_delay_without_applying(clock):
    rig = Rig(clock)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    rig.arbiter.set("ocpp", Limit(0, S.OCPP))
    assert rig.applied == []
    assert rig.events[-1].end_reason == "returned_to_held"
    await clock.advance(600)
    assert rig.applied == []


async def test_set_max_duration_publishes_old_and_new(clock):
    rig = Rig(clock)
    rig.gate.set_max_duration(1800, source="ocpp")
    (event,) = rig.events
    assert isinstance(event, RandomDelayMaxDurationChanged)
    assert (event.old_s, event.new_s, event.source) == (600, 1800, "ocpp")
    assert rig.gate.settings.max_duration_s == 1800


@pytest.mark.parametrize("bad", [-1, 1801, 60.5, "600", True])
async def test_set_max_duration_refuses_invalid_values(clock, bad):
    rig = Rig(clock)
    with pytest.raises(ValueError, match="random delay max duration"):
        rig.gate.set_max_duration(bad)
    assert rig.events == []


async def test_lowering_max_reschedules_the_running_timer(clock):
    rig = Rig(clock, draw_s=600)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    await clock.advance(50)
    rig.gate.set_max_duration(100)
    await clock.advance(49)
    assert rig.applied == []
    await clock.advance(1)
    assert rig.applied == [(16, 1, "ocpp")]


async def test_power_restored_gives_zero_then_the_limit(clock):
    rig = Rig(clock, draw_s=300, start_amps=16)
    rig.gate.power_restored()
    assert rig.applied == [(0, 1, "random_delay")]
    assert rig.events[0].cause == "restoration"
    await clock.advance(300)
    assert rig.applied[-1] == (16, 1, "ocpp")


async def test_power_restored_with_delay_disabled_applies_the_limit_at_once(clock):
    rig = Rig(clock, start_amps=16, enabled=False)
    rig.gate.power_restored()
    assert rig.applied == [(16, 1, "ocpp")]


async def test_no_delay_without_an_ev(clock):
    rig = Rig(clock, ev=False)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    assert rig.applied == [(16, 1, "ocpp")]
    assert rig.draws == []


async def test_unplug_during_delay_ends_it(clock):
    rig = Rig(clock)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    rig.ev = False
    rig.gate.ev_unplugged()
    assert rig.events[-1].end_reason == "ev_disconnected"
    assert not rig.gate.status().running


async def test_plug_in_is_not_delayed(clock):
    rig = Rig(clock, start_amps=16, ev=False)
    rig.ev = True
    rig.gate.ev_plugged()
    assert rig.draws == []
    assert rig.gate.offered.amps == 16
    assert rig.events[-1].cause == "plug_in"


async def test_always_policy_delays_an_owner_boost(clock):
    rig = Rig(clock, draw_s=30, policy=Policy.ALWAYS)
    rig.arbiter.set("ocpp", Limit(32, S.OCPP))
    await clock.advance(30)
    rig.arbiter.set("owner", Limit(10, S.OWNER, "owner limit"))
    assert rig.gate.status().running
    await clock.advance(30)
    assert rig.applied[-1] == (10, 1, "owner")


async def test_status_counts_down(clock):
    rig = Rig(clock, draw_s=600)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP, "profile 2"))
    await clock.advance(200)
    status = rig.gate.status()
    assert status.running
    assert status.remaining_s == 400
    assert (status.limit_during_delay_a, status.limit_after_delay_a) == (0, 16)
    assert status.cause == "ocpp"
    assert (status.enabled, status.max_duration_s, status.policy) == (True, 600, Policy.BY_SOURCE)


async def test_status_started_at_is_the_wall_time_of_the_start(clock):
    rig = Rig(clock)
    before = clock.now()
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    await clock.advance(10)
    assert rig.gate.status().started_at == before


async def test_close_stops_the_timer_and_ignores_later_changes(clock):
    rig = Rig(clock)
    rig.arbiter.set("ocpp", Limit(16, S.OCPP))
    rig.gate.close()
    await clock.advance(600)
    rig.arbiter.set("ocpp", Limit(20, S.OCPP))
    assert rig.applied == []
