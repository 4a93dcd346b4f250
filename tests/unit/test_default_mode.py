"""The default-mode shell on the virtual clock: boundaries, owner actions, first use, boost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ukscp.clock import LONDON, VirtualClock
from ukscp.events import Event, EventBus, SessionEnded
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.limits.arbiter import LimitChange
from ukscp.regulation.default_mode import (
    SLOT,
    BoostEnded,
    BoostStarted,
    DefaultMode,
    DsrOverrideEnded,
    DsrOverrideStarted,
    FirstUseChoice,
    FirstUseNotPending,
    FirstUseOption,
    ScheduleChanged,
    ScheduleSource,
)
from ukscp.regulation.schedule import Schedule, ScheduleMode, Window
from ukscp.settings_store import SettingsStore

MONDAY_0700 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # GMT: London = UTC
MONDAY_0900 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # inside the morning peak
CAPS = {
    "hardware": Limit(32, LimitSource.HARDWARE, "board rating"),
    "supply": Limit(40, LimitSource.SUPPLY, "supply fuse"),
}


@dataclass
class Rig:
    clock: VirtualClock
    arbiter: Arbiter
    bus: EventBus
    path: Path
    store: SettingsStore
    changes: list[tuple[datetime, LimitChange]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def build(self, **kwargs: bool) -> DefaultMode:
        return DefaultMode(self.clock, self.arbiter, self.store, self.bus, **kwargs)

    def reopen(self) -> None:
        """A restart: a fresh store on the same file, a fresh arbiter."""
        self.store.close()
        self.store = SettingsStore(self.path)
        self.arbiter = Arbiter(CAPS, supply_phases=1)
        self.changes.clear()
        self.arbiter.subscribe(lambda change: self.changes.append((self.clock.now(), change)))

    @property
    def amps(self) -> float:
        return self.arbiter.current.amps

    def last_cause(self) -> Limit:
        return self.changes[-1][1].cause

    def of(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]


def make_rig(tmp_path: Path, start: datetime) -> Rig:
    clock = VirtualClock(start)
    bus = EventBus()
    path = tmp_path / "settings.sqlite3"
    rig = Rig(clock, Arbiter(CAPS, supply_phases=1), bus, path, SettingsStore(path))
    rig.arbiter.subscribe(lambda change: rig.changes.append((clock.now(), change)))
    bus.subscribe(Event, rig.events.append)
    return rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    built = make_rig(tmp_path, MONDAY_0700)
    yield built
    built.store.close()


@pytest.fixture
def peak_rig(tmp_path: Path) -> Iterator[Rig]:
    built = make_rig(tmp_path, MONDAY_0900)
    yield built
    built.store.close()


@pytest.fixture
async def running(rig: Rig) -> AsyncIterator[DefaultMode]:
    mode = rig.build()
    task = asyncio.create_task(mode.run())
    await rig.clock.settle()
    yield mode
    mode.stop()
    await asyncio.wait_for(task, 1)


@pytest.fixture
async def running_in_peak(peak_rig: Rig) -> AsyncIterator[DefaultMode]:
    mode = peak_rig.build()
    task = asyncio.create_task(mode.run())
    await peak_rig.clock.settle()
    yield mode
    mode.stop()
    await asyncio.wait_for(task, 1)


def london(hour: int, minute: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=LONDON)


# --------------------------------------------------------------------------- time passing


def test_outside_hours_at_construction_blocks_at_once_with_default_mode_source(peak_rig: Rig):
    peak_rig.build()
    assert peak_rig.amps == 0
    limit = peak_rig.arbiter.active()[SLOT]
    assert limit.source is LimitSource.DEFAULT_MODE
    assert limit.reason == "outside charging hours (default off-peak hours)"


def test_inside_hours_at_construction_leaves_the_arbiter_alone(rig: Rig):
    rig.build()
    assert SLOT not in rig.arbiter.active()
    assert rig.changes == []


async def test_reaching_the_morning_peak_blocks_with_default_mode_source(rig: Rig, running):
    await rig.clock.advance(3600 - 1)
    assert rig.amps == 32
    await rig.clock.advance(1)
    assert rig.amps == 0
    at, change = rig.changes[-1]
    assert at == london(8)
    assert change.cause.source is LimitSource.DEFAULT_MODE
    assert not change.cleared


async def test_reaching_the_end_of_the_peak_lifts_the_block_with_default_mode_source(
    rig: Rig, running
):
    await rig.clock.advance(4 * 3600)  # 11:00
    assert rig.amps == 32
    at, change = rig.changes[-1]
    assert at == london(11)
    assert change.cause.source is LimitSource.DEFAULT_MODE
    assert change.cause.reason == "charging hours began"
    assert SLOT not in rig.arbiter.active()
    assert len(rig.changes) == 2  # one block, one release: no hidden extra change


async def test_a_whole_weekday_makes_four_changes_at_the_peak_edges(rig: Rig, running):
    await rig.clock.advance(24 * 3600)
    assert [(at, change.new.amps) for at, change in rig.changes] == [
        (london(8), 0),
        (london(11), 32),
        (london(16), 0),
        (london(22), 32),
    ]
    assert {change.cause.source for _, change in rig.changes} == {LimitSource.DEFAULT_MODE}


async def test_a_wall_clock_jump_into_the_peak_is_noticed_within_a_minute(rig: Rig, running):
    rig.clock.set_wall_time(london(9, 30))
    await rig.clock.advance(60)
    assert rig.amps == 0
    assert rig.last_cause().source is LimitSource.DEFAULT_MODE


async def test_a_spring_forward_window_starts_at_the_jump(tmp_path: Path):
    rig = make_rig(tmp_path, datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    mode = rig.build()
    mode.set_schedule([Window.of("sun", "01:30", "06:00")])
    task = asyncio.create_task(mode.run())
    await rig.clock.advance(3 * 3600)
    assert [
        (at.astimezone(UTC), change.new.amps, change.cause.source) for at, change in rig.changes
    ] == [
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 0, LimitSource.OWNER),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 32, LimitSource.DEFAULT_MODE),  # 02:00 BST
    ]
    mode.stop()
    await task
    rig.store.close()


async def test_stop_ends_run(rig: Rig):
    mode = rig.build()
    task = asyncio.create_task(mode.run())
    await rig.clock.settle()
    mode.stop()
    await asyncio.wait_for(task, 1)
    assert task.done()


async def test_run_twice_is_refused(rig: Rig, running):
    with pytest.raises(RuntimeError, match="already running"):
        await running.run()


# --------------------------------------------------------------------------- owner: hours


async def test_owner_hours_that_block_now_carry_owner_source(rig: Rig, running):
    running.set_schedule([Window.of("mon", "22:00", "06:00")])
    assert rig.amps == 0
    assert rig.last_cause().source is LimitSource.OWNER
    assert rig.last_cause().reason == "owner changed charging hours: now outside charging hours"


async def test_owner_removing_hours_in_the_peak_allows_at_once_with_owner_source(
    peak_rig: Rig, running_in_peak
):
    running_in_peak.remove_schedule()
    assert peak_rig.amps == 32
    assert SLOT not in peak_rig.arbiter.active()
    assert len(peak_rig.changes) == 2  # the initial block, then exactly one release
    change = peak_rig.changes[-1][1]
    assert change.cause.source is LimitSource.OWNER
    assert change.cause.reason == "owner changed charging hours: charging allowed"


async def test_after_owner_unblocks_the_next_boundary_is_default_mode_again(
    peak_rig: Rig, running_in_peak
):
    running_in_peak.set_schedule([Window.of("mon", "09:00", "10:00")])
    assert peak_rig.last_cause().source is LimitSource.OWNER
    await peak_rig.clock.advance(3600)
    assert peak_rig.amps == 0
    assert peak_rig.last_cause().source is LimitSource.DEFAULT_MODE
    assert peak_rig.changes[-1][0] == london(10)


async def test_a_boundary_after_an_owner_block_is_reported_as_default_mode(rig: Rig, running):
    running.set_schedule([Window.of("mon", "08:00", "09:00")])  # blocked now, 07:00
    assert rig.last_cause().source is LimitSource.OWNER
    await rig.clock.advance(3600)
    assert rig.amps == 32
    assert rig.last_cause().source is LimitSource.DEFAULT_MODE


async def test_an_owner_edit_that_keeps_the_state_changes_nothing(rig: Rig, running):
    running.set_schedule([Window.of("mon", "06:00", "07:30")])
    assert rig.changes == []
    assert rig.of(ScheduleChanged)


async def test_schedule_changed_is_published_by_the_owner(rig: Rig, running):
    running.set_schedule([Window.of(["mon", "tue"], "22:00", "06:00")])
    event = rig.of(ScheduleChanged)[-1]
    assert isinstance(event, ScheduleChanged)
    assert event.source == "owner"
    assert (event.mode, event.previous_mode) == ("custom", "default")
    assert event.windows == ("Mon,Tue 22:00-06:00 (next day)",)
    assert not event.within_charging_hours


async def test_no_charging_hours_set_blocks_until_boosted(rig: Rig, running):
    running.set_schedule([])
    assert rig.amps == 0
    status = running.status()
    assert (status.mode, status.windows, status.next_change_at) == (ScheduleMode.CUSTOM, (), None)
    assert rig.arbiter.active()[SLOT].source is LimitSource.OWNER


async def test_bad_windows_are_refused_and_change_nothing(rig: Rig, running):
    overlapping = [Window.of("mon", "01:00", "03:00"), Window.of("mon", "02:00", "04:00")]
    with pytest.raises(ValueError, match="overlaps"):
        running.set_schedule(overlapping)
    assert running.schedule() == Schedule.default()
    assert rig.of(ScheduleChanged) == []


async def test_going_back_to_the_default_hours(peak_rig: Rig, running_in_peak):
    running_in_peak.remove_schedule()
    running_in_peak.use_default_schedule()
    assert peak_rig.amps == 0
    assert peak_rig.last_cause().source is LimitSource.OWNER
    assert running_in_peak.status().mode is ScheduleMode.DEFAULT
    assert running_in_peak.status().schedule_source is ScheduleSource.OWNER


# --------------------------------------------------------------------------- first use


def test_first_use_is_pending_with_the_default_hours_in_force(rig: Rig):
    status = rig.build().status()
    assert status.first_use_pending
    assert status.first_use is None
    assert (status.mode, status.schedule_source) == (ScheduleMode.DEFAULT, ScheduleSource.DEFAULT)


def test_accepting_at_first_use_is_recorded_with_its_time(rig: Rig):
    mode = rig.build()
    status = mode.first_use("accept")
    assert not status.first_use_pending
    assert status.first_use is not None
    assert status.first_use.choice is FirstUseOption.ACCEPT
    assert status.first_use.at == rig.clock.now()
    assert status.mode is ScheduleMode.DEFAULT
    event = rig.of(FirstUseChoice)[-1]
    assert isinstance(event, FirstUseChoice)
    assert (event.choice, event.mode, event.source) == ("accept", "default", "owner")


def test_the_first_use_choice_survives_a_restart(rig: Rig):
    rig.build().first_use("custom", [Window.of("sat", "10:00", "12:00")])
    chosen_at = rig.clock.now()
    rig.reopen()
    status = rig.build().status()
    assert not status.first_use_pending
    assert status.first_use is not None
    assert (status.first_use.choice, status.first_use.at) == (FirstUseOption.CUSTOM, chosen_at)
    assert status.windows == (Window.of("sat", "10:00", "12:00"),)
    assert status.changed_at == chosen_at
    assert rig.amps == 0  # Monday 07:00 is outside the owner's Saturday hours


def test_removing_at_first_use_allows_charging_in_the_peak(peak_rig: Rig):
    mode = peak_rig.build()
    mode.first_use(FirstUseOption.REMOVE)
    assert peak_rig.amps == 32
    assert peak_rig.last_cause().source is LimitSource.OWNER
    assert mode.status().mode is ScheduleMode.REMOVED


def test_the_first_use_choice_is_made_once(rig: Rig):
    mode = rig.build()
    mode.first_use("accept")
    with pytest.raises(FirstUseNotPending, match="already made"):
        mode.first_use("remove")


@pytest.mark.parametrize(
    ("choice", "windows", "message"),
    [
        ("custom", None, "custom choice needs windows"),
        ("remove", [Window.of("mon", "01:00", "02:00")], "only given with the custom choice"),
        ("maybe", None, "must be accept, remove or custom; got 'maybe'"),
    ],
)
def test_bad_first_use_choices_are_refused_in_words(rig: Rig, choice, windows, message):
    mode = rig.build()
    with pytest.raises(ValueError, match=message):
        mode.first_use(choice, windows)
    assert mode.first_use_pending


def test_changing_the_hours_while_first_use_is_pending_is_the_choice(rig: Rig):
    mode = rig.build()
    mode.remove_schedule()
    status = mode.status()
    assert not status.first_use_pending
    assert status.first_use is not None
    assert status.first_use.choice is FirstUseOption.REMOVE


def test_later_changes_keep_the_first_use_record(rig: Rig):
    mode = rig.build()
    mode.first_use("accept")
    first = mode.status().first_use
    rig.clock.set_wall_time(london(7, 30))
    mode.remove_schedule()
    assert mode.status().first_use == first
    assert mode.status().changed_at == london(7, 30)


def test_a_damaged_stored_schedule_falls_back_to_the_defaults(rig: Rig):
    rig.store.set("default_mode.schedule", {"schedule": {"mode": "sometimes"}})
    rig.store.set("default_mode.boost", "garbage")
    status = rig.build().status()
    assert status.mode is ScheduleMode.DEFAULT
    assert status.boost is None


# --------------------------------------------------------------------------- boost


async def test_boost_in_the_peak_allows_at_once_with_owner_source(peak_rig: Rig, running_in_peak):
    running_in_peak.boost()
    assert peak_rig.amps == 32
    change = peak_rig.changes[-1][1]
    assert change.cause.source is LimitSource.OWNER
    assert change.cause.reason == "owner boost: charge now"
    event = peak_rig.of(BoostStarted)[-1]
    assert isinstance(event, BoostStarted)
    assert event.until_session_end


async def test_a_session_boost_outlasts_boundaries_until_the_session_ends(
    peak_rig: Rig, running_in_peak
):
    running_in_peak.boost()
    await peak_rig.clock.advance(8 * 3600)  # through 11:00 and 16:00 to 17:00
    assert peak_rig.amps == 32
    assert len(peak_rig.changes) == 2
    peak_rig.bus.publish(
        SessionEnded(at=peak_rig.clock.now(), session_id="s1", energy_wh=1.0, duration_s=1.0)
    )
    assert peak_rig.amps == 0
    assert peak_rig.last_cause().source is LimitSource.OWNER
    ended = peak_rig.of(BoostEnded)[-1]
    assert isinstance(ended, BoostEnded)
    assert ended.reason == "session ended"


async def test_a_timed_boost_ends_on_its_own_at_its_time(peak_rig: Rig, running_in_peak):
    running_in_peak.boost(timedelta(minutes=30))
    await peak_rig.clock.advance(30 * 60 - 1)
    assert peak_rig.amps == 32
    await peak_rig.clock.advance(1)
    assert peak_rig.amps == 0
    at, change = peak_rig.changes[-1]
    assert at == london(9, 30)
    assert change.cause.source is LimitSource.OWNER
    ended = peak_rig.of(BoostEnded)[-1]
    assert isinstance(ended, BoostEnded)
    assert ended.reason == "expired"
    assert running_in_peak.status().boost is None


async def test_a_boost_until_a_time_in_the_hours_ends_without_a_stop(
    peak_rig: Rig, running_in_peak
):
    running_in_peak.boost(until=london(11))
    await peak_rig.clock.advance(3 * 3600)
    assert peak_rig.amps == 32
    assert len(peak_rig.changes) == 2  # initial block, boost release: no stop-start at 11:00
    assert peak_rig.of(BoostEnded)


async def test_a_timed_boost_survives_the_end_of_the_session(peak_rig: Rig, running_in_peak):
    running_in_peak.boost(timedelta(hours=1))
    running_in_peak.on_session_ended()
    assert peak_rig.amps == 32


async def test_cancelling_a_boost_blocks_again_with_owner_source(peak_rig: Rig, running_in_peak):
    running_in_peak.boost()
    running_in_peak.cancel_boost()
    assert peak_rig.amps == 0
    assert peak_rig.last_cause().source is LimitSource.OWNER
    ended = peak_rig.of(BoostEnded)[-1]
    assert isinstance(ended, BoostEnded)
    assert (ended.reason, ended.source) == ("cancelled", "owner")


async def test_cancelling_without_a_boost_does_nothing(rig: Rig, running):
    running.cancel_boost()
    assert rig.of(BoostEnded) == []


@pytest.mark.parametrize(
    ("until", "message"),
    [
        (timedelta(0), "must be positive"),
        (datetime(2026, 1, 5, 8, 0, tzinfo=UTC), "not in the future"),
        (datetime(2026, 1, 5, 12, 0), "UTC offset"),  # noqa: DTZ001
    ],
)
async def test_bad_boost_ends_are_refused(peak_rig: Rig, running_in_peak, until, message):
    with pytest.raises(ValueError, match=message):
        running_in_peak.boost(until)
    assert peak_rig.amps == 0


async def test_a_boost_survives_a_restart(peak_rig: Rig):
    peak_rig.build().boost(timedelta(hours=1))
    peak_rig.reopen()
    mode = peak_rig.build()
    assert peak_rig.amps == 32
    assert mode.status().boost is not None


async def test_a_boost_that_ran_out_during_a_restart_ends_at_start(peak_rig: Rig):
    peak_rig.build().boost(timedelta(minutes=5))
    peak_rig.reopen()
    await peak_rig.clock.advance(600)
    peak_rig.build()
    assert peak_rig.amps == 0
    ended = peak_rig.of(BoostEnded)[-1]
    assert isinstance(ended, BoostEnded)
    assert ended.reason == "expired"


# --------------------------------------------------------------------------- DSR override


async def test_the_dsr_override_is_a_flag_with_an_end(rig: Rig, running):
    running.override_dsr(timedelta(hours=2))
    assert running.dsr_overridden()
    assert rig.of(DsrOverrideStarted)
    assert rig.changes == []  # the override limits nothing by itself
    await rig.clock.advance(2 * 3600)
    assert not running.dsr_overridden()
    ended = rig.of(DsrOverrideEnded)[-1]
    assert isinstance(ended, DsrOverrideEnded)
    assert ended.reason == "expired"


async def test_a_session_long_dsr_override_ends_with_the_session(rig: Rig, running):
    running.override_dsr()
    assert running.status().dsr_override is not None
    running.on_session_ended()
    assert not running.dsr_overridden()


async def test_cancelling_the_dsr_override(rig: Rig, running):
    running.override_dsr(london(23))
    running.cancel_dsr_override()
    assert not running.dsr_overridden()


# --------------------------------------------------------------------------- DSR agreement


def test_sold_with_a_dsr_agreement_charges_in_the_peak(peak_rig: Rig):
    mode = peak_rig.build(sold_with_dsr_agreement=True)
    assert peak_rig.amps == 32
    status = mode.status()
    assert status.sold_with_dsr_agreement
    assert not status.first_use_pending
    assert (status.mode, status.schedule_source) == (
        ScheduleMode.REMOVED,
        ScheduleSource.DSR_AGREEMENT,
    )


def test_sold_with_a_dsr_agreement_asks_no_first_use_choice(peak_rig: Rig):
    mode = peak_rig.build(sold_with_dsr_agreement=True)
    with pytest.raises(FirstUseNotPending, match="DSR agreement"):
        mode.first_use("accept")


def test_sold_with_a_dsr_agreement_the_owner_may_still_set_hours(peak_rig: Rig):
    mode = peak_rig.build(sold_with_dsr_agreement=True)
    mode.use_default_schedule()
    assert peak_rig.amps == 0
    assert mode.status().schedule_source is ScheduleSource.OWNER


# --------------------------------------------------------------------------- status


async def test_status_json_is_plain_json(peak_rig: Rig, running_in_peak):
    running_in_peak.boost(timedelta(hours=1))
    body = running_in_peak.status().to_json()
    assert json.loads(json.dumps(body)) == body
    assert body["mode"] == "default"
    assert body["windows"][0] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "00:00",
        "end": "08:00",
    }
    assert body["first_use_pending"] is True
    assert body["within_charging_hours"] is False
    assert body["charging_allowed"] is True
    assert body["next_change_at"] == "2026-01-05T11:00:00+00:00"
    assert body["boost"] == {
        "started_at": "2026-01-05T09:00:00+00:00",
        "until": "2026-01-05T10:00:00+00:00",
        "until_session_end": False,
    }
    assert body["dsr_override"] is None
    assert body["sold_with_dsr_agreement"] is False


async def test_a_boost_shorter_than_the_recheck_interval_ends_on_the_second(
    peak_rig: Rig, running_in_peak
):
    running_in_peak.boost(timedelta(seconds=20))
    await peak_rig.clock.advance(19)
    assert peak_rig.amps == 32
    await peak_rig.clock.advance(1)
    assert peak_rig.amps == 0
    assert peak_rig.changes[-1][0] == london(9, 0) + timedelta(seconds=20)


async def test_the_api_path_applies_a_schedule_from_json(peak_rig: Rig, running_in_peak):
    from ukscp.regulation.schedule import schedule_from_json

    body = {"mode": "custom", "windows": [{"days": ["mon"], "start": "08:30", "end": "10:00"}]}
    status = running_in_peak.apply_schedule(schedule_from_json(body))
    assert status.charging_allowed
    assert status.to_json()["windows"] == body["windows"]
    assert peak_rig.last_cause().source is LimitSource.OWNER


async def test_a_boundary_on_the_spring_dst_day_applies_on_the_second(tmp_path):
    """Waiting is computed in UTC: London times subtract as wall time across the change."""
    from datetime import UTC, datetime

    from ukscp.clock import VirtualClock
    from ukscp.events import EventBus
    from ukscp.limits import Arbiter, Limit, LimitSource
    from ukscp.regulation.default_mode import DefaultMode
    from ukscp.regulation.schedule import Weekday, Window
    from ukscp.settings_store import SettingsStore

    clock = VirtualClock(datetime(2026, 3, 29, 0, 30, 30, tzinfo=UTC))  # 00:30:30 GMT
    arbiter = Arbiter({"hw": Limit(32, LimitSource.HARDWARE)}, supply_phases=1)
    changes: list[datetime] = []
    arbiter.subscribe(lambda change: changes.append(clock.now().astimezone(UTC)))
    mode = DefaultMode(clock, arbiter, SettingsStore(tmp_path / "s.db"), EventBus())
    # 01:30 does not exist that day: the window opens at the jump, 01:00 UTC
    mode.set_schedule([Window.of({Weekday.SUN}, "01:30", "05:00")])
    changes.clear()
    task = asyncio.create_task(mode.run())
    await clock.advance(2 * 3600)
    mode.stop()
    await task
    assert changes == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]
