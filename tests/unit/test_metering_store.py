"""The SQLite metering store: batches, rollups, history, CSV, sessions, retention, deletion."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ukscp.clock import LONDON
from ukscp.events import (
    EventBus,
    LimitChanged,
    OfferedCurrentChanged,
    SessionEnded,
    SessionStarted,
)
from ukscp.metering import MeteringStore, Rollup, Sample
from ukscp.metering.buckets import epoch_ms

T0 = datetime(2026, 1, 5, tzinfo=UTC)
V = 230.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "metering.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[MeteringStore]:
    opened = MeteringStore(path)
    yield opened
    opened.close()


def feed(
    store: MeteringStore,
    start: datetime,
    seconds: int,
    *,
    step_s: int = 1,
    watts: float = 7200.0,
    register_wh: float = 0.0,
    export_wh: float = 0.0,
) -> float:
    """A sample every ``step_s`` over ``[start, start + seconds]`` at constant power,
    registers agreeing with it; returns the import register at the last sample."""
    base = epoch_ms(start)
    register = register_wh
    for t in range(0, seconds + 1, step_s):
        register = register_wh + watts * t / 3600
        store.append(Sample(base + t * 1000, watts, register, export_wh, watts / V, None, None))
    return register


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


def minutes(path: Path) -> list[Rollup]:
    return [
        Rollup(*row)
        for row in rows(
            path,
            "SELECT start_s, samples, power_sum_w, max_power_w, max_current_a, import_wh,"
            " export_wh FROM minute_rollups ORDER BY start_s",
        )
    ]


# -- batches and durability --------------------------------------------------------------


def test_samples_are_committed_by_flush_not_before(store: MeteringStore, path: Path) -> None:
    feed(store, T0, 9)
    assert rows(path, "SELECT count(*) FROM samples") == [(0,)]
    assert store.pending == 10
    assert store.flush() == 10
    assert rows(path, "SELECT count(*) FROM samples") == [(10,)]
    assert store.pending == 0


def test_a_store_reopened_without_close_resumes_at_the_last_commit(tmp_path: Path) -> None:
    whole = MeteringStore(tmp_path / "whole.sqlite3")
    feed(whole, T0, 240)
    whole.flush()

    first = MeteringStore(tmp_path / "cut.sqlite3")
    feed(first, T0, 97)
    first.flush()
    # As after a kill: no close, the open minute only in the committed state.
    second = MeteringStore(tmp_path / "cut.sqlite3")
    base = epoch_ms(T0)
    for t in range(98, 241):
        second.append(Sample(base + t * 1000, 7200.0, 7200.0 * t / 3600, 0.0, 7200 / V))
    second.flush()

    assert minutes(tmp_path / "cut.sqlite3") == minutes(tmp_path / "whole.sqlite3")
    assert second.rollup_state == whole.rollup_state
    for opened in (whole, first, second):
        opened.close()


def test_close_and_restart_within_a_minute_merge_into_one_minute(path: Path) -> None:
    first = MeteringStore(path)
    register = feed(first, T0, 29)
    first.close()
    second = MeteringStore(path)
    feed(second, T0 + timedelta(seconds=30), 90, register_wh=register + 7200 / 3600)
    second.close()
    first_minute = minutes(path)[0]
    assert first_minute.samples == 60
    assert first_minute.import_wh == pytest.approx(120.0)
    assert first_minute.mean_power_w == pytest.approx(7200.0)


def test_hour_rollups_are_the_sums_of_their_minutes(store: MeteringStore, path: Path) -> None:
    base = epoch_ms(T0 + timedelta(minutes=17))
    register = 0.0
    for t in range(0, 3 * 3600, 7):
        watts = 1000.0 + (t % 13) * 500
        register += 0.01 * (t % 5)
        store.append(Sample(base + t * 1000, watts, register, 0.0, t % 32, None, None))
    store.flush()
    from_minutes = rows(
        path,
        "SELECT start_s / 3600 * 3600, sum(samples), sum(power_sum_w), max(max_power_w),"
        " max(max_current_a), sum(import_wh) FROM minute_rollups GROUP BY 1 ORDER BY 1",
    )
    hours = rows(
        path,
        "SELECT start_s, samples, power_sum_w, max_power_w, max_current_a, import_wh"
        " FROM hour_rollups ORDER BY start_s",
    )
    assert len(hours) == len(from_minutes) == 4
    for hour, expected in zip(hours, from_minutes, strict=True):
        assert hour[:2] == expected[:2]
        assert hour[3:5] == expected[3:5]
        assert hour[2] == pytest.approx(expected[2])
        assert hour[5] == pytest.approx(expected[5])


def test_non_finite_samples_are_refused_and_nothing_is_stored(
    store: MeteringStore, path: Path
) -> None:
    base = epoch_ms(T0)
    with pytest.raises(ValueError, match="refused"):
        store.append(Sample(base, math.nan, 1.0, 0.0))
    with pytest.raises(ValueError, match="refused"):
        store.append(Sample(base, 10.0, math.inf, 0.0))
    store.flush()
    assert rows(path, "SELECT count(*) FROM samples") == [(0,)]
    assert store.rollup_state.last is None


def test_a_repeated_timestamp_keeps_the_first_reading(store: MeteringStore, path: Path) -> None:
    base = epoch_ms(T0)
    store.append(Sample(base, 10.0, 1.0, 0.0))
    store.append(Sample(base, 99.0, 1.0, 0.0))
    store.flush()
    assert rows(path, "SELECT power_w FROM samples") == [(10.0,)]


def test_retention_months_below_13_are_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="13"):
        MeteringStore(path, retention_months=12)


# -- history -------------------------------------------------------------------------------


def test_minute_history_has_the_energy_of_each_minute(store: MeteringStore) -> None:
    feed(store, T0, 600, watts=3000.0)
    store.flush()
    history = store.history(T0, T0 + timedelta(minutes=10), "1m")
    assert len(history) == 10
    assert history[0].start == T0.astimezone(LONDON)
    for row in history:
        assert row.import_wh == pytest.approx(50.0)  # 3 kW for a minute
        assert row.export_wh == 0.0
        assert row.mean_power_w == 3000.0
        assert row.max_power_w == 3000.0
        assert row.max_current_a == pytest.approx(3000 / V)


def test_second_history_gives_each_sample_the_energy_up_to_the_next(
    store: MeteringStore,
) -> None:
    feed(store, T0, 20, watts=3600.0)
    store.flush()
    history = store.history(T0 + timedelta(seconds=5), T0 + timedelta(seconds=10), "1s")
    assert [row.start for row in history] == [
        (T0 + timedelta(seconds=s)).astimezone(LONDON) for s in range(5, 10)
    ]
    assert all(row.import_wh == pytest.approx(1.0) for row in history)
    assert all(row.mean_power_w == row.max_power_w == 3600.0 for row in history)


def test_the_newest_sample_is_partial_and_has_no_energy_without_a_reading(
    store: MeteringStore,
) -> None:
    feed(store, T0, 3, watts=3600.0)
    store.flush()
    history = store.history(T0, T0 + timedelta(hours=1), "1s")
    assert [row.import_wh for row in history] == pytest.approx([1.0, 1.0, 1.0, 0.0])
    assert [row.partial for row in history] == [False, False, False, True]


def test_a_reading_at_the_query_gives_the_newest_second_its_energy_so_far(
    store: MeteringStore,
) -> None:
    register = feed(store, T0, 3, watts=3600.0)
    reading = Sample(epoch_ms(at(3.5)), 3600.0, register + 0.5, 0.0)
    history = store.history(T0, T0 + timedelta(hours=1), "1s", reading=reading)
    assert [row.import_wh for row in history] == pytest.approx([1.0, 1.0, 1.0, 0.5])
    assert history[-1].partial
    assert len(history) == 4  # the reading itself is no sample: it is never stored


def test_hour_history_sums_the_minutes(store: MeteringStore) -> None:
    feed(store, T0, 3 * 3600, step_s=5, watts=6000.0)
    store.flush()
    history = store.history(T0, T0 + timedelta(hours=3), "1h")
    assert [row.start for row in history] == [
        (T0 + timedelta(hours=h)).astimezone(LONDON) for h in range(3)
    ]
    assert [row.import_wh for row in history] == pytest.approx([6000.0] * 3)
    assert all(row.mean_power_w == pytest.approx(6000.0) for row in history)


def test_history_rounds_start_down_to_its_bucket_and_excludes_end(
    store: MeteringStore,
) -> None:
    feed(store, T0, 5 * 60, watts=600.0)
    store.flush()
    history = store.history(T0 + timedelta(seconds=90), T0 + timedelta(minutes=4), "1m")
    assert [row.start.minute for row in history] == [1, 2, 3]


def test_history_leaves_out_buckets_without_data(store: MeteringStore) -> None:
    feed(store, T0, 120)
    feed(store, T0 + timedelta(hours=2), 120, register_wh=1000.0)
    store.flush()
    history = store.history(T0, T0 + timedelta(hours=3), "1h")
    assert [row.start.hour for row in history] == [0, 2]


def test_daily_history_on_the_spring_clock_change_day_holds_23_hours(
    store: MeteringStore,
) -> None:
    start = datetime(2026, 3, 28, tzinfo=LONDON)
    feed(store, start, 3 * 86_400, step_s=10, watts=1000.0)
    store.flush()
    days = store.history(start, start + timedelta(days=3), "1d")
    assert [row.start for row in days] == [
        datetime(2026, 3, 28, tzinfo=LONDON),
        datetime(2026, 3, 29, tzinfo=LONDON),
        datetime(2026, 3, 30, tzinfo=LONDON),
    ]
    assert [row.import_wh for row in days] == pytest.approx([24_000.0, 23_000.0, 24_000.0])


def test_daily_history_on_the_autumn_clock_change_day_holds_25_hours(
    store: MeteringStore,
) -> None:
    start = datetime(2026, 10, 24, tzinfo=LONDON)
    feed(store, start, 3 * 86_400 + 3600, step_s=10, watts=1000.0)
    store.flush()
    days = store.history(start, datetime(2026, 10, 27, tzinfo=LONDON), "1d")
    assert [row.start.day for row in days] == [24, 25, 26]
    assert [row.start.utcoffset() for row in days] == [
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(0),
    ]
    assert [row.import_wh for row in days] == pytest.approx([24_000.0, 25_000.0, 24_000.0])


def test_daily_history_starts_at_local_midnight(store: MeteringStore) -> None:
    # 23:30 UTC on 1 July is already 2 July in London.
    feed(store, datetime(2026, 7, 1, 23, 30, tzinfo=UTC), 3600, step_s=10, watts=1000.0)
    store.flush()
    days = store.history(
        datetime(2026, 7, 1, tzinfo=LONDON), datetime(2026, 7, 3, tzinfo=LONDON), "1d"
    )
    assert [(row.start, round(row.import_wh)) for row in days] == [
        (datetime(2026, 7, 2, tzinfo=LONDON), 1000)
    ]


def test_history_refuses_an_unknown_resolution_and_naive_times(store: MeteringStore) -> None:
    with pytest.raises(ValueError, match="resolution"):
        store.history(T0, T0 + timedelta(hours=1), "5m")
    with pytest.raises(ValueError, match="timezone"):
        store.history(datetime(2026, 1, 5), T0, "1h")  # noqa: DTZ001


def test_uncommitted_samples_and_the_minute_in_progress_are_in_the_history(
    store: MeteringStore,
) -> None:
    feed(store, T0, 90, watts=3600.0)  # nothing committed yet
    history = store.history(T0, T0 + timedelta(hours=1), "1m")
    assert [(row.start, row.partial) for row in history] == [
        (T0.astimezone(LONDON), False),
        (at(60).astimezone(LONDON), True),
    ]
    assert [row.import_wh for row in history] == pytest.approx([60.0, 30.0])
    assert len(store.history(T0, T0 + timedelta(hours=1), "1s")) == 91


def test_fifteen_seconds_into_the_first_minute_it_is_there_with_its_energy(
    store: MeteringStore,
) -> None:
    # The owner's view after 15 s at 32 A: the minute in progress, measured up to the query.
    watts = 32 * V
    register = feed(store, T0, 14, watts=watts)
    reading = Sample(epoch_ms(at(15)), watts, register + watts / 3600, 0.0)
    [minute] = store.history(T0, at(15), "1m", reading=reading)
    assert minute.partial
    assert minute.import_wh == pytest.approx(watts * 15 / 3600)
    lines = list(store.export_csv(T0, at(15), "1m", reading=reading))
    assert lines[0].rstrip().endswith(",partial")
    assert lines[1] == "2026-01-05T00:00:00+00:00,30.667,0.000,7360.0,7360.0,32.00,true\r\n"


def test_a_reading_in_the_next_minute_completes_the_minute_and_opens_the_next(
    store: MeteringStore,
) -> None:
    register = feed(store, T0, 59, watts=3600.0)
    reading = Sample(epoch_ms(at(61)), 3600.0, register + 2.0, 0.0)
    history = store.history(T0, at(120), "1m", reading=reading)
    assert [(row.import_wh, row.partial) for row in history] == [
        pytest.approx((60.0, False)),
        pytest.approx((1.0, True)),
    ]
    assert history[1].mean_power_w is None  # no sample fell in it yet


def test_the_minute_in_progress_adds_to_its_committed_part(path: Path) -> None:
    first = MeteringStore(path)
    register = feed(first, T0, 29, watts=3600.0)
    first.close()  # the first half of the minute is in the file
    second = MeteringStore(path)
    feed(second, at(30), 15, watts=3600.0, register_wh=register + 1.0)
    [minute] = second.history(T0, at(60), "1m")
    assert minute.partial
    assert minute.import_wh == pytest.approx(45.0)
    [hour] = second.history(T0, at(3600), "1h")
    assert hour.partial and hour.import_wh == pytest.approx(45.0)
    second.close()


def test_the_hour_and_the_day_in_progress_are_partial_and_complete_ones_are_not(
    store: MeteringStore,
) -> None:
    feed(store, T0, 2 * 3600 + 30, step_s=10, watts=3600.0)
    store.flush()
    end = T0 + timedelta(days=1)
    hours = store.history(T0, end, "1h")
    assert [(round(row.import_wh), row.partial) for row in hours] == [
        (3600, False),
        (3600, False),
        (30, True),
    ]
    [day] = store.history(T0, end, "1d")
    assert day.partial and round(day.import_wh) == 7230


@pytest.mark.parametrize("resolution", ["1s", "1m", "1h", "1d"])
def test_a_commit_while_a_query_streams_counts_nothing_twice(
    store: MeteringStore, resolution: str
) -> None:
    register = feed(store, T0, 150, watts=3600.0)
    store.flush()
    feed(store, at(151), 100, watts=3600.0, register_wh=register + 1.0)  # in memory only
    rows = store.iter_history(T0, T0 + timedelta(hours=1), resolution)
    first = next(rows)
    store.flush()  # what was in memory goes to the file while the query runs
    total = first.import_wh + sum(row.import_wh for row in rows)
    assert total == pytest.approx(251.0)
    after = store.history(T0, T0 + timedelta(hours=1), resolution)
    assert total == pytest.approx(sum(row.import_wh for row in after))


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (datetime.min.replace(tzinfo=UTC), T0, "from must be from 1970-01-01"),
        (T0, datetime.max.replace(tzinfo=UTC), "to must be from 1970-01-01 up to 3000-01-01"),
        (datetime(1, 1, 1, tzinfo=LONDON), T0, "got 0001-01-01T00:00:00-00:01"),
    ],
)
def test_history_refuses_times_outside_the_range_it_can_hold(
    store: MeteringStore, start: datetime, end: datetime, words: str
) -> None:
    for resolution in ("1s", "1m", "1h", "1d"):
        with pytest.raises(ValueError, match=words):
            store.history(start, end, resolution)


# -- CSV export ------------------------------------------------------------------------------


def test_csv_export_has_a_header_and_one_line_per_minute(store: MeteringStore) -> None:
    feed(store, T0, 180, watts=1500.0)
    store.flush()
    lines = list(store.export_csv(T0, T0 + timedelta(minutes=3)))
    assert lines == [
        "start,energy_import_wh,energy_export_wh,mean_power_w,max_power_w,max_current_a,partial\r\n",
        "2026-01-05T00:00:00+00:00,25.000,0.000,1500.0,1500.0,6.52,false\r\n",
        "2026-01-05T00:01:00+00:00,25.000,0.000,1500.0,1500.0,6.52,false\r\n",
        "2026-01-05T00:02:00+00:00,25.000,0.000,1500.0,1500.0,6.52,false\r\n",
    ]


def test_csv_export_streams_page_by_page(store: MeteringStore) -> None:
    feed(store, T0, 6 * 86_400, step_s=60, watts=600.0)  # 8640 minutes: two pages
    store.flush()
    export = store.export_csv(T0, T0 + timedelta(days=7))
    assert isinstance(export, Iterator)
    assert next(export).startswith("start,")
    assert next(export).startswith("2026-01-05T00:00:00+00:00,10.000,")
    assert sum(1 for _ in export) == 6 * 1440  # the rest, and the minute of the last sample


def test_csv_times_carry_their_offset_so_the_repeated_hour_is_unambiguous(
    store: MeteringStore,
) -> None:
    start = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 01:00 BST, then 01:00 GMT
    feed(store, start, 2 * 3600, step_s=10, watts=1000.0)
    store.flush()
    lines = list(store.export_csv(start, start + timedelta(hours=2), "1h"))
    assert [line.split(",")[0] for line in lines[1:]] == [
        "2026-10-25T01:00:00+01:00",
        "2026-10-25T01:00:00+00:00",
    ]


def test_csv_export_at_one_second_has_milliseconds(store: MeteringStore) -> None:
    feed(store, T0, 2, watts=3600.0)
    store.flush()
    lines = list(store.export_csv(T0, T0 + timedelta(seconds=2), "1s"))
    assert lines[1] == "2026-01-05T00:00:00.000+00:00,1.000,0.000,3600.0,3600.0,15.65,false\r\n"
    assert len(lines) == 3


# -- sessions --------------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def charge_session(store: MeteringStore, bus: EventBus, session_id: str = "s1") -> None:
    """Plug in at 10 s, charge 7.2 kW, OCPP cuts to 10 A at 70 s, unplug at 130 s."""
    bus.publish(OfferedCurrentChanged(at=at(0), source="default_mode", amps=32.0, phases=1))
    feed(store, T0, 9, watts=0.0, register_wh=500.0, export_wh=2.0)
    bus.publish(
        SessionStarted(at=at(10), source="evse", session_id=session_id, energy_register_wh=500.0)
    )
    register = feed(store, at(10), 60, watts=7200.0, register_wh=500.0, export_wh=2.0)
    bus.publish(
        LimitChanged(
            at=at(70),
            source="ocpp",
            old_amps=32.0,
            new_amps=10.0,
            old_phases=1,
            new_phases=1,
            binding_source="ocpp",
            reason="TxProfile 7",
        )
    )
    bus.publish(OfferedCurrentChanged(at=at(70), source="ocpp", amps=10.0, phases=1))
    register = feed(
        store, at(71), 59, watts=2300.0, register_wh=register + 2300 / 3600, export_wh=3.0
    )
    bus.publish(
        SessionEnded(
            at=at(130),
            source="evse",
            session_id=session_id,
            energy_wh=register - 500.0,
            duration_s=120.0,
        )
    )


def test_a_session_records_energy_duration_peak_and_every_rate_change(
    store: MeteringStore,
) -> None:
    bus = EventBus()
    store.attach(bus)
    charge_session(store, bus)
    (session,) = store.sessions()
    assert session.session_id == "s1"
    assert session.started_at == at(10).astimezone(LONDON)
    assert session.stopped_at == at(130).astimezone(LONDON)
    assert session.duration_s == 120.0
    assert session.import_wh == pytest.approx(120.0 + 2300 / 60)
    assert session.import_kwh == pytest.approx(0.1583, abs=1e-4)
    assert session.export_wh == pytest.approx(1.0)  # the export register went 2 -> 3 Wh
    assert session.peak_power_w == 7200.0
    assert session.end_reason == "unplugged"
    assert [
        (r.kind, r.amps, r.source, r.cause, r.binding_source) for r in session.rate_changes
    ] == [
        ("initial", 32.0, "default_mode", "", None),
        ("limit", 10.0, "ocpp", "TxProfile 7", "ocpp"),
        ("offered", 10.0, "ocpp", "TxProfile 7", None),
    ]
    assert [r.at for r in session.rate_changes] == [
        at(10).astimezone(LONDON),
        at(70).astimezone(LONDON),
        at(70).astimezone(LONDON),
    ]


def test_rate_changes_outside_a_session_are_not_recorded(store: MeteringStore, path: Path) -> None:
    bus = EventBus()
    store.attach(bus)
    charge_session(store, bus)
    bus.publish(OfferedCurrentChanged(at=at(200), source="owner", amps=16.0, phases=1))
    assert rows(path, "SELECT count(*) FROM rate_changes") == [(3,)]


def test_an_open_session_shows_the_energy_so_far(store: MeteringStore) -> None:
    bus = EventBus()
    store.attach(bus)
    bus.publish(SessionStarted(at=T0, source="evse", session_id="live", energy_register_wh=0.0))
    feed(store, T0, 60, watts=3600.0)
    (session,) = store.sessions()
    assert session.stopped_at is None
    assert session.end_reason is None
    assert session.import_wh == pytest.approx(60.0)
    assert session.duration_s == 60.0
    assert session.peak_power_w == 3600.0


def test_a_session_begun_before_the_first_sample_takes_its_export_baseline_from_it(
    path: Path,
) -> None:
    # An EV plugged in as the charger starts: the session opens before the sampler's
    # first reading, and the meter has an export register, so the export is a number.
    store = MeteringStore(path)
    bus = EventBus()
    store.attach(bus)
    bus.publish(SessionStarted(at=T0, source="evse", session_id="early", energy_register_wh=0.0))
    feed(store, T0, 30, watts=3600.0, export_wh=4.0)
    store.flush()
    assert store.sessions()[0].export_wh == 0.0
    store.close()  # killed before the end: the baseline was committed with the samples
    reopened = MeteringStore(path)
    assert reopened.sessions()[0].export_wh == 0.0
    reopened.close()


def test_export_stays_unknown_where_the_meter_has_no_export_register(
    store: MeteringStore,
) -> None:
    bus = EventBus()
    store.attach(bus)
    bus.publish(SessionStarted(at=T0, source="evse", session_id="s", energy_register_wh=0.0))
    base = epoch_ms(T0)
    for t in range(10):
        store.append(Sample(base + t * 1000, 3600.0, t * 1.0, None))
    bus.publish(SessionEnded(at=at(9), source="evse", session_id="s", energy_wh=9.0, duration_s=9))
    [session] = store.sessions()
    assert session.export_wh is None
    assert session.import_wh == pytest.approx(9.0)


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (50, -1), (50, 2**63), (2**64, 0)])
def test_sessions_refuse_a_page_outside_sqlite_integers(
    store: MeteringStore, limit: int, offset: int
) -> None:
    with pytest.raises(ValueError, match="whole number from 0 to 9223372036854775807"):
        store.sessions(limit, offset)


def test_sessions_are_listed_newest_first_in_pages(store: MeteringStore) -> None:
    bus = EventBus()
    store.attach(bus)
    for n in range(5):
        start = at(1000 * n)
        bus.publish(
            SessionStarted(at=start, source="evse", session_id=f"s{n}", energy_register_wh=0.0)
        )
        bus.publish(
            SessionEnded(
                at=start + timedelta(seconds=60),
                source="evse",
                session_id=f"s{n}",
                energy_wh=0.0,
                duration_s=60.0,
            )
        )
    assert [s.session_id for s in store.sessions(limit=2)] == ["s4", "s3"]
    assert [s.session_id for s in store.sessions(limit=2, offset=3)] == ["s1", "s0"]
    assert store.sessions(limit=2, offset=5) == []


def test_a_session_left_open_by_a_crash_is_closed_as_interrupted(path: Path) -> None:
    first = MeteringStore(path)
    bus = EventBus()
    first.attach(bus)
    bus.publish(SessionStarted(at=T0, source="evse", session_id="cut", energy_register_wh=100.0))
    feed(first, T0, 30, watts=3600.0, register_wh=100.0)
    first.flush()  # then the process dies: no SessionEnded, no close

    second = MeteringStore(path)
    (session,) = second.sessions()
    assert session.end_reason == "interrupted"
    assert session.stopped_at == at(30).astimezone(LONDON)
    assert session.duration_s == 30.0
    assert session.import_wh == pytest.approx(30.0)
    assert session.peak_power_w == 3600.0
    second.close()
    first.close()


# -- retention -------------------------------------------------------------------------------


def test_retention_deletes_raw_samples_older_than_the_window_and_no_younger(path: Path) -> None:
    store = MeteringStore(path, raw_window_s=3600)
    now = T0 + timedelta(hours=2)
    base = epoch_ms(now - timedelta(hours=1))
    for ts in (base - 1000, base - 1, base, base + 1000):
        store.append(Sample(ts, 1.0, None, None))
    store.flush()
    result = store.enforce_retention(now)
    assert result.raw_samples == 2
    assert rows(path, "SELECT ts_ms FROM samples ORDER BY ts_ms") == [(base,), (base + 1000,)]
    store.close()


def test_retention_keeps_exactly_13_months_of_rollups(store: MeteringStore, path: Path) -> None:
    now = datetime(2027, 4, 15, 12, 0, 30, tzinfo=LONDON)  # BST
    horizon = datetime(2026, 3, 15, 12, 0, 30, tzinfo=LONDON)  # GMT, 13 months back
    feed(store, horizon - timedelta(minutes=61, seconds=30), 62 * 60 + 60, step_s=30, watts=60.0)
    store.flush()

    def first_minute() -> datetime:
        return datetime.fromtimestamp(minutes(path)[0].start_s, LONDON)

    # 31 s earlier the horizon is 11:59:59: the 11:59 minute still reaches past it.
    earlier = store.enforce_retention(now - timedelta(seconds=31))
    assert earlier.minute_rollups == 60  # 10:59 .. 11:58
    assert first_minute() == datetime(2026, 3, 15, 11, 59, tzinfo=LONDON)
    assert earlier.hour_rollups == 1  # 10:00-11:00

    result = store.enforce_retention(now)
    assert result.minute_rollups == 1  # 11:59, over at 12:00:00, before the horizon
    assert first_minute() == datetime(2026, 3, 15, 12, 0, tzinfo=LONDON)
    assert result.hour_rollups == 1  # 11:00-12:00
    assert rows(path, "SELECT min(start_s) FROM hour_rollups") == [
        (epoch_ms(datetime(2026, 3, 15, 12, tzinfo=LONDON)) // 1000,)
    ]


def test_retention_deletes_sessions_that_ended_13_months_ago_with_their_rates(
    store: MeteringStore, path: Path
) -> None:
    bus = EventBus()
    store.attach(bus)
    now = datetime(2027, 1, 20, 9, tzinfo=LONDON)
    horizon = datetime(2025, 12, 20, 9, tzinfo=LONDON)
    for name, end in (("old", horizon - timedelta(milliseconds=1)), ("kept", horizon)):
        start = end - timedelta(hours=2)
        bus.publish(OfferedCurrentChanged(at=start, source="owner", amps=16.0, phases=1))
        bus.publish(
            SessionStarted(at=start, source="evse", session_id=name, energy_register_wh=0.0)
        )
        bus.publish(
            OfferedCurrentChanged(at=start + timedelta(hours=1), source="ems", amps=8.0, phases=1)
        )
        bus.publish(
            SessionEnded(at=end, source="evse", session_id=name, energy_wh=1.0, duration_s=7200.0)
        )
    result = store.enforce_retention(now)
    assert result.sessions == 1
    assert [s.session_id for s in store.sessions()] == ["kept"]
    assert rows(path, "SELECT count(*) FROM rate_changes") == [(2,)]


def test_retention_never_deletes_an_open_session(store: MeteringStore) -> None:
    bus = EventBus()
    store.attach(bus)
    bus.publish(SessionStarted(at=T0, source="evse", session_id="long", energy_register_wh=0.0))
    assert store.enforce_retention(T0 + timedelta(days=800)).sessions == 0
    assert len(store.sessions()) == 1


# -- personal data -----------------------------------------------------------------------------


def test_delete_personal_data_removes_sessions_and_rate_changes_and_reports_counts(
    store: MeteringStore, path: Path
) -> None:
    bus = EventBus()
    store.attach(bus)
    charge_session(store, bus, "first")
    charge_session(store, bus, "second")
    store.flush()
    deleted = store.delete_personal_data()
    assert (deleted.sessions, deleted.rate_changes) == (2, 6)
    assert store.sessions() == []
    assert rows(path, "SELECT count(*) FROM rate_changes") == [(0,)]
    assert store.history(T0, T0 + timedelta(hours=1), "1m") != []  # the energy history stays


def test_deleted_sessions_leave_no_trace_in_the_files(store: MeteringStore, path: Path) -> None:
    bus = EventBus()
    store.attach(bus)
    charge_session(store, bus, "tell-tale-session-id")
    store.flush()
    store.delete_personal_data()
    for file in path.parent.iterdir():
        assert b"tell-tale-session-id" not in file.read_bytes(), file.name


def test_the_session_open_at_deletion_is_forgotten(store: MeteringStore) -> None:
    bus = EventBus()
    store.attach(bus)
    bus.publish(SessionStarted(at=T0, source="evse", session_id="open", energy_register_wh=0.0))
    assert store.delete_personal_data().sessions == 1
    bus.publish(OfferedCurrentChanged(at=at(5), source="owner", amps=6.0, phases=1))
    bus.publish(
        SessionEnded(at=at(9), source="evse", session_id="open", energy_wh=1.0, duration_s=9.0)
    )
    assert store.sessions() == []
    bus.publish(SessionStarted(at=at(20), source="evse", session_id="next", energy_register_wh=0.0))
    assert [s.session_id for s in store.sessions()] == ["next"]
