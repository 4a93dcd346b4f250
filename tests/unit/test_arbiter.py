import pytest
from hypothesis import given
from hypothesis import strategies as st

from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.limits.arbiter import LimitChange, arbitrate

CAPS = {
    "hardware": Limit(32, LimitSource.HARDWARE, "board rating"),
    "supply": Limit(40, LimitSource.SUPPLY, "supply fuse"),
}


def make_arbiter(phases: int = 1) -> tuple[Arbiter, list[LimitChange]]:
    arbiter = Arbiter(CAPS, supply_phases=phases)
    changes: list[LimitChange] = []
    arbiter.subscribe(changes.append)
    return arbiter, changes


def test_with_only_caps_the_smallest_cap_binds():
    arbiter, _ = make_arbiter()
    assert arbiter.current.amps == 32
    assert arbiter.current.source is LimitSource.HARDWARE


def test_a_lower_limit_binds_and_reports_its_source():
    arbiter, _ = make_arbiter()
    arbiter.set("ems", Limit(10, LimitSource.EMS, "pv surplus"))
    assert (arbiter.current.amps, arbiter.current.source) == (10, LimitSource.EMS)
    assert arbiter.current.reason == "pv surplus"


def test_a_limit_above_the_caps_is_clamped_to_the_caps():
    arbiter, _ = make_arbiter()
    arbiter.set("ocpp", Limit(63, LimitSource.OCPP, "profile 1"))
    assert arbiter.current.amps == 32
    assert arbiter.current.source is LimitSource.HARDWARE


def test_clearing_a_limit_restores_the_next_binding_one():
    arbiter, changes = make_arbiter()
    arbiter.set("ems", Limit(10, LimitSource.EMS))
    arbiter.clear("ems")
    assert arbiter.current.amps == 32
    assert changes[-1].cleared
    assert changes[-1].cause.source is LimitSource.EMS


def test_change_reports_the_cause_not_the_winner():
    arbiter, changes = make_arbiter()
    arbiter.set("ocpp", Limit(16, LimitSource.OCPP))
    arbiter.set("owner", Limit(0, LimitSource.OWNER, "pause"))
    arbiter.clear("owner")
    last = changes[-1]
    assert last.new.source is LimitSource.OCPP
    assert last.cause.source is LimitSource.OWNER


def test_setting_a_limit_that_does_not_bind_reports_no_change():
    arbiter, changes = make_arbiter()
    arbiter.set("ems", Limit(50, LimitSource.EMS))
    assert changes == []


def test_ties_report_the_most_protective_source():
    result = arbitrate(
        [Limit(10, LimitSource.OCPP), Limit(10, LimitSource.SAFETY), Limit(10, LimitSource.DSR)],
        supply_phases=1,
    )
    assert result.source is LimitSource.SAFETY


def test_phase_count_is_the_smallest_allowed():
    arbiter, changes = make_arbiter(phases=3)
    assert arbiter.current.phases == 3
    arbiter.set("ems", Limit(16, LimitSource.EMS, phases=1))
    assert arbiter.current.phases == 1
    assert changes[-1].new.power_w_per_volt == 16


def test_caps_cannot_be_cleared():
    arbiter, _ = make_arbiter()
    with pytest.raises(ValueError, match="cannot be cleared"):
        arbiter.clear("supply")


def test_clearing_an_absent_slot_changes_nothing():
    arbiter, changes = make_arbiter()
    arbiter.clear("ems")
    assert changes == []


@pytest.mark.parametrize("amps", [-1, float("nan"), float("inf")])
def test_a_limit_must_be_a_finite_non_negative_current(amps: float):
    with pytest.raises(ValueError, match="finite number"):
        Limit(amps, LimitSource.EMS)


def test_a_limit_phase_count_must_be_1_or_3():
    with pytest.raises(ValueError, match="1 or 3"):
        Limit(10, LimitSource.EMS, phases=2)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=100, allow_nan=False),
            st.sampled_from(list(LimitSource)),
        ),
        min_size=1,
    )
)
def test_arbitrated_current_is_the_minimum_of_all_limits(items: list[tuple[float, LimitSource]]):
    limits = [Limit(a, s) for a, s in items]
    result = arbitrate(limits, supply_phases=1)
    assert result.amps == min(a for a, _ in items)
    assert result.binding in limits


def test_clearing_on_someone_elses_behalf_reports_them_as_the_cause():
    arbiter, changes = make_arbiter()
    arbiter.set("default_mode", Limit(0, LimitSource.DEFAULT_MODE, "peak"))
    arbiter.clear("default_mode", cause=Limit(0, LimitSource.OWNER, "boost"))
    assert changes[-1].cause.source is LimitSource.OWNER
    assert changes[-1].cleared
    assert arbiter.current.amps == 32


def test_slot_watchers_hear_every_set_and_clear_binding_or_not_until_they_stop():
    arbiter, changes = make_arbiter()
    heard: list[int] = []
    stop = arbiter.watch_slots(lambda: heard.append(len(arbiter.active())))
    arbiter.set("ems", Limit(40, LimitSource.EMS))  # above the cap: the result does not move
    assert changes == [] and len(heard) == 1
    arbiter.clear("ems")
    arbiter.clear("ems")  # nothing to clear: nothing heard
    assert len(heard) == 2
    stop()
    arbiter.set("ems", Limit(10, LimitSource.EMS))
    assert len(heard) == 2 and len(changes) == 1
