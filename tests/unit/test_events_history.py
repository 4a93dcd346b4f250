from datetime import UTC, datetime
from pathlib import Path

from ukscp.events import (
    ChargerStarted,
    Event,
    EventBus,
    EvseStateChanged,
    LimitChanged,
    SessionStarted,
)
from ukscp.history import EventHistory

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_subscribers_get_events_of_their_type_and_subtypes():
    bus = EventBus()
    everything: list[Event] = []
    states: list[EvseStateChanged] = []
    bus.subscribe(Event, everything.append)
    bus.subscribe(EvseStateChanged, states.append)
    bus.publish(EvseStateChanged(at=AT, source="evse", old="A", new="B"))
    bus.publish(ChargerStarted(at=AT, version="1"))
    assert len(everything) == 2
    assert [s.new for s in states] == ["B"]


def test_an_ended_subscription_gets_no_more_events():
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe(ChargerStarted, seen.append)
    bus.publish(ChargerStarted(at=AT, version="1"))
    unsubscribe()
    unsubscribe()  # ending it twice is harmless
    bus.publish(ChargerStarted(at=AT, version="2"))
    assert [e.version for e in seen if isinstance(e, ChargerStarted)] == ["1"]


def test_a_failing_handler_does_not_stop_the_others():
    bus = EventBus()
    got: list[Event] = []

    def broken(_: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(Event, broken)
    bus.subscribe(Event, got.append)
    bus.publish(ChargerStarted(at=AT, version="1"))
    assert len(got) == 1


def test_history_stores_kind_source_and_detail(tmp_path: Path):
    history = EventHistory(tmp_path / "h.sqlite3")
    bus = EventBus()
    history.attach(bus)
    bus.publish(
        LimitChanged(
            at=AT,
            source="ems",
            old_amps=32,
            new_amps=10,
            old_phases=1,
            new_phases=1,
            binding_source="ems",
            reason="pv",
        )
    )
    [record] = history.recent()
    assert (record.kind, record.source, record.at) == ("LimitChanged", "ems", AT)
    assert record.detail["new_amps"] == 10
    assert record.detail["reason"] == "pv"


def test_history_is_durable_without_a_clean_close(tmp_path: Path):
    path = tmp_path / "h.sqlite3"
    history = EventHistory(path)
    history.record(ChargerStarted(at=AT, version="1"))
    # no close(): a killed process never gets to close either
    reopened = EventHistory(path)
    assert [r.kind for r in reopened.all()] == ["ChargerStarted"]


def test_recent_filters_by_kind_newest_first(tmp_path: Path):
    history = EventHistory(tmp_path / "h.sqlite3")
    for new in "BCB":
        history.record(EvseStateChanged(at=AT, old="A", new=new))
    history.record(ChargerStarted(at=AT, version="1"))
    states = history.recent(kind="EvseStateChanged")
    assert [r.detail["new"] for r in states] == ["B", "C", "B"]


def test_delete_all_but_keeps_only_the_kinds_named_and_leaves_no_trace(tmp_path: Path):
    path = tmp_path / "h.sqlite3"
    history = EventHistory(path)
    history.record(ChargerStarted(at=AT, version="1"))
    for n in range(30):
        history.record(
            SessionStarted(at=AT, session_id=f"tell-tale-session-{n}", energy_register_wh=0.0)
        )
        history.record(EvseStateChanged(at=AT, old="A", new="B"))
    assert history.delete_all_but({"ChargerStarted"}) == 60
    assert [r.kind for r in history.all()] == ["ChargerStarted"]
    history.record(ChargerStarted(at=AT, version="2"))  # the history goes on as before
    history.close()
    for file in tmp_path.iterdir():
        assert b"tell-tale-session" not in file.read_bytes(), file.name
    assert [r.kind for r in EventHistory(path).all()] == ["ChargerStarted", "ChargerStarted"]
