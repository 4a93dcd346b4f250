import pytest

from ukscp.app import App
from ukscp.limits import LimitSource


async def test_the_lowest_of_several_dsr_events_binds(app: App):
    app.dsr.start_event("a", 16, "feeder")
    app.dsr.start_event("b", 8, "price")
    assert (app.arbiter.current.amps, app.arbiter.current.source) == (8, LimitSource.DSR)
    assert "DSR event b" in app.arbiter.current.reason
    app.dsr.end_event("b")
    assert app.arbiter.current.amps == 16
    app.dsr.end_event("b")  # repeated end: ignored
    app.dsr.end_event("a")
    assert app.arbiter.current.source is not LimitSource.DSR


async def test_an_event_that_changes_replaces_its_limit(app: App):
    app.dsr.start_event("a", 16, "feeder")
    app.dsr.start_event("a", 10, "feeder, deeper")
    assert app.arbiter.current.amps == 10
    assert [event.amps for event in app.dsr.active_events()] == [10]


async def test_a_nonsense_dsr_current_is_refused(app: App):
    with pytest.raises(ValueError, match="finite number"):
        app.dsr.start_event("a", -4, "bad")
    assert app.dsr.active_events() == []
