"""The pure charging-hours core of regulation 10: windows, defaults, boundaries, DST."""

from datetime import UTC, datetime, time, timedelta

import pytest

from ukscp.clock import LONDON
from ukscp.regulation.schedule import (
    ALL_DAYS,
    DEFAULT_WINDOWS,
    MAX_WINDOWS,
    WEEKDAYS,
    Schedule,
    ScheduleMode,
    Weekday,
    Window,
    allowed_at,
    next_boundary,
    schedule_from_json,
    validate_windows,
    windows_from_json,
)

DEFAULT = Schedule.default()
# 2026-01-05 is a Monday (GMT); 2026-06-15 is a Monday (BST).
WINTER_MONDAY = datetime(2026, 1, 5, tzinfo=LONDON)
SUMMER_MONDAY = datetime(2026, 6, 15, tzinfo=LONDON)
SPRING_SUNDAY = (2026, 3, 29)  # clocks go 01:00 GMT -> 02:00 BST
AUTUMN_SUNDAY = (2026, 10, 25)  # clocks go 02:00 BST -> 01:00 GMT


def at(day: datetime, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def boundaries(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    when = start
    for _ in range(count):
        nxt = next_boundary(schedule, when)
        assert nxt is not None
        found.append(nxt.astimezone(UTC))
        when = nxt
    return found


def custom(*windows: tuple[str, str, str]) -> Schedule:
    return Schedule.custom(Window.of(days.split(","), start, end) for days, start, end in windows)


# --------------------------------------------------------------------------- default hours

# (local time, allowed on a weekday)
WEEKDAY_EDGES = [
    ("00:00", True),
    ("07:59", True),
    ("08:00", False),
    ("09:30", False),
    ("10:59", False),
    ("11:00", True),
    ("15:59", True),
    ("16:00", False),
    ("21:59", False),
    ("22:00", True),
    ("23:59", True),
]


@pytest.mark.parametrize("monday", [WINTER_MONDAY, SUMMER_MONDAY], ids=["gmt", "bst"])
@pytest.mark.parametrize("offset", range(5), ids=["mon", "tue", "wed", "thu", "fri"])
@pytest.mark.parametrize(("hhmm", "allowed"), WEEKDAY_EDGES)
def test_default_hours_block_the_weekday_peaks_only(monday, offset, hhmm, allowed):
    day = monday + timedelta(days=offset)
    assert allowed_at(DEFAULT, at(day, hhmm)) is allowed


@pytest.mark.parametrize("monday", [WINTER_MONDAY, SUMMER_MONDAY], ids=["gmt", "bst"])
@pytest.mark.parametrize("offset", [5, 6], ids=["sat", "sun"])
@pytest.mark.parametrize("hhmm", [hhmm for hhmm, _ in WEEKDAY_EDGES])
def test_default_hours_allow_charging_all_weekend(monday, offset, hhmm):
    assert allowed_at(DEFAULT, at(monday + timedelta(days=offset), hhmm))


def test_the_last_second_before_a_peak_is_still_allowed():
    assert allowed_at(DEFAULT, at(WINTER_MONDAY, "07:59").replace(second=59, microsecond=999999))


def test_an_aware_time_in_another_zone_is_read_in_london_time():
    # 07:30 UTC on a summer Monday is 08:30 BST: inside the morning peak.
    assert not allowed_at(DEFAULT, datetime(2026, 6, 15, 7, 30, tzinfo=UTC))
    assert allowed_at(DEFAULT, datetime(2026, 1, 5, 7, 30, tzinfo=UTC))


def test_a_naive_time_is_a_london_wall_time():
    assert not allowed_at(DEFAULT, datetime(2026, 6, 15, 8, 30))  # noqa: DTZ001
    assert allowed_at(DEFAULT, datetime(2026, 6, 15, 7, 30))  # noqa: DTZ001


def test_default_windows_are_the_documented_ones():
    assert [w.label for w in DEFAULT_WINDOWS] == [
        "Mon-Fri 00:00-08:00",
        "Mon-Fri 11:00-16:00",
        "Mon-Fri 22:00-24:00",
        "Sat,Sun 00:00-24:00",
    ]
    assert DEFAULT.mode is ScheduleMode.DEFAULT


def test_default_boundaries_over_a_week_are_the_twenty_peak_edges():
    found = boundaries(DEFAULT, at(WINTER_MONDAY, "00:00"), 21)
    expected = [utc(2026, 1, 5 + day, hour) for day in range(5) for hour in (8, 11, 16, 22)] + [
        utc(2026, 1, 12, 8)
    ]
    assert found == expected


def test_friday_night_to_monday_morning_is_one_charging_period():
    assert next_boundary(DEFAULT, at(WINTER_MONDAY + timedelta(days=4), "22:00")) == at(
        WINTER_MONDAY + timedelta(days=7), "08:00"
    )


def test_next_boundary_is_strictly_after_the_given_instant():
    assert next_boundary(DEFAULT, at(WINTER_MONDAY, "08:00")) == at(WINTER_MONDAY, "11:00")
    assert next_boundary(DEFAULT, at(WINTER_MONDAY, "07:59")) == at(WINTER_MONDAY, "08:00")


def test_next_boundary_in_summer_is_on_london_time():
    assert next_boundary(DEFAULT, at(SUMMER_MONDAY, "00:00")) == utc(2026, 6, 15, 7)


def test_next_boundary_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_boundary(DEFAULT, datetime(2026, 1, 5, 8))  # noqa: DTZ001


# --------------------------------------------------------------------------- windows


def test_a_window_can_cross_midnight():
    schedule = custom(("mon", "22:00", "08:00"))
    monday, tuesday = WINTER_MONDAY, WINTER_MONDAY + timedelta(days=1)
    assert not allowed_at(schedule, at(monday, "21:59"))
    assert allowed_at(schedule, at(monday, "22:00"))
    assert allowed_at(schedule, at(tuesday, "00:00"))
    assert allowed_at(schedule, at(tuesday, "07:59"))
    assert not allowed_at(schedule, at(tuesday, "08:00"))
    # It is Monday night's window, not Sunday night's.
    assert not allowed_at(schedule, at(monday, "07:00"))
    assert not allowed_at(schedule, at(tuesday, "22:00"))


def test_a_sunday_night_window_wraps_into_monday():
    schedule = custom(("sun", "22:00", "06:00"))
    assert allowed_at(schedule, at(WINTER_MONDAY, "05:59"))
    assert not allowed_at(schedule, at(WINTER_MONDAY, "06:00"))
    assert allowed_at(schedule, at(WINTER_MONDAY + timedelta(days=6), "23:00"))
    assert boundaries(schedule, at(WINTER_MONDAY, "00:00"), 3) == [
        utc(2026, 1, 5, 6),
        utc(2026, 1, 11, 22),
        utc(2026, 1, 12, 6),
    ]


def test_end_at_midnight_may_be_written_00_00_or_24_00():
    assert Window.of("mon", "22:00", "00:00") == Window.of("mon", "22:00", "24:00")
    window = Window.of("mon", "22:00", "00:00")
    assert not window.crosses_midnight
    assert window.to_json()["end"] == "24:00"


def test_a_whole_day_is_00_00_to_24_00():
    window = Window.of("sat", "00:00", "24:00")
    assert window.duration_min == 24 * 60


def test_windows_accept_time_objects_and_weekday_values():
    window = Window.of(Weekday.TUE, time(6, 30), time(7, 45))
    assert window == Window.of(["tuesday"], "06:30", "07:45")
    assert window.label == "Tue 06:30-07:45"


def test_touching_windows_are_allowed_and_make_no_boundary():
    schedule = custom(("mon", "00:00", "08:00"), ("mon", "08:00", "10:00"))
    assert next_boundary(schedule, at(WINTER_MONDAY, "00:00")) == at(WINTER_MONDAY, "10:00")


def test_whole_days_side_by_side_make_one_charging_period():
    schedule = custom(("sat", "00:00", "24:00"), ("sun", "00:00", "24:00"))
    saturday = WINTER_MONDAY + timedelta(days=5)
    assert next_boundary(schedule, at(saturday, "03:00")) == at(
        saturday + timedelta(days=2), "00:00"
    )


def test_labels_group_days():
    assert Window.of(WEEKDAYS, "09:00", "10:00").label == "Mon-Fri 09:00-10:00"
    assert Window.of(["mon", "wed", "fri"], "09:00", "10:00").label == "Mon,Wed,Fri 09:00-10:00"
    assert Window.of(ALL_DAYS, "23:00", "01:00").label == "Mon-Sun 23:00-01:00 (next day)"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        ("mon", time(8, 0, 30), "09:00", r"start 08:00:30 is not on the whole-minute grid"),
        ("mon", "08:00", time(9, 0, 0, 5), r"end .* is not on the whole-minute grid"),
        ("mon", "8am", "09:00", r"start must be a time as HH:MM, got '8am'"),
        ("mon", "8:00", "09:00", r"start must be a time as HH:MM"),
        ("mon", "24:00", "09:00", r"start must be a time as HH:MM, got '24:00'"),
        ("mon", "08:00", "24:01", r"end must be a time as HH:MM \(or 24:00\)"),
        ("mon", "08:00", "08:00", r"Mon 08:00-08:00 starts and ends at the same time"),
        ("mon", "00:00", "00:00", r"use 00:00-24:00 for a whole day"),
        ([], "08:00", "09:00", r"at least one day"),
        ("funday", "08:00", "09:00", r"'funday' is not a day of the week"),
    ],
)
def test_bad_windows_are_refused_in_words(days, start, end, message):
    with pytest.raises(ValueError, match=message):
        Window.of(days, start, end)


def test_a_time_with_a_zone_is_refused():
    with pytest.raises(ValueError, match="without a time zone"):
        Window.of("mon", time(8, tzinfo=UTC), "09:00")


def test_overlapping_windows_on_the_same_day_are_refused_naming_both():
    with pytest.raises(ValueError) as info:
        validate_windows(
            [Window.of(WEEKDAYS, "00:00", "08:00"), Window.of(["wed", "sat"], "07:00", "09:00")]
        )
    assert str(info.value) == (
        "window 2 (Wed,Sat 07:00-09:00) overlaps window 1 (Mon-Fri 00:00-08:00) "
        "from Wednesday 07:00 to Wednesday 08:00"
    )


def test_a_window_spilling_past_midnight_into_another_is_refused():
    with pytest.raises(ValueError, match=r"window 2 \(Tue 06:00-09:00\) overlaps window 1 "):
        validate_windows([Window.of("mon", "22:00", "07:00"), Window.of("tue", "06:00", "09:00")])


def test_a_sunday_night_window_overlapping_monday_morning_is_refused():
    with pytest.raises(ValueError, match="from Monday 05:00 to Monday 06:00"):
        validate_windows([Window.of("mon", "05:00", "09:00"), Window.of("sun", "22:00", "06:00")])


def test_the_same_window_twice_is_an_overlap():
    window = Window.of("mon", "01:00", "02:00")
    with pytest.raises(ValueError, match=r"window 2 .* overlaps window 1"):
        Schedule.custom([window, window])


def test_windows_on_different_days_at_the_same_time_do_not_overlap():
    assert (
        len(
            validate_windows(
                [Window.of("mon", "01:00", "02:00"), Window.of("tue", "01:00", "02:00")]
            )
        )
        == 2
    )


def test_too_many_windows_are_refused():
    windows = [
        Window.of(
            "mon", f"{i // 4:02d}:{(i % 4) * 15:02d}", f"{i // 4:02d}:{(i % 4) * 15 + 10:02d}"
        )
        for i in range(MAX_WINDOWS + 1)
    ]
    with pytest.raises(ValueError, match=f"at most {MAX_WINDOWS} charging windows"):
        validate_windows(windows)


def test_windows_from_json_name_the_bad_window_by_number():
    good = {"days": ["mon"], "start": "01:00", "end": "02:00"}
    with pytest.raises(ValueError, match=r"window 2: end must be a time as HH:MM"):
        windows_from_json([good, {"days": ["tue"], "start": "01:00", "end": "2pm"}])
    with pytest.raises(ValueError, match=r"window 1: unknown window field\(s\): colour"):
        windows_from_json([{**good, "colour": "red"}])
    with pytest.raises(ValueError, match=r"window 1: a window needs end"):
        windows_from_json([{"days": ["mon"], "start": "01:00"}])
    with pytest.raises(ValueError, match=r'window 1: "days" must be a list'):
        windows_from_json([{**good, "days": "mon"}])
    with pytest.raises(ValueError, match="windows must be a list"):
        windows_from_json({"days": ["mon"]})


def test_window_json_round_trips():
    windows = windows_from_json(
        [
            {"days": ["fri", "mon"], "start": "22:00", "end": "07:30"},
            {"days": ["sun"], "start": "00:00", "end": "24:00"},
        ]
    )
    assert windows_from_json([w.to_json() for w in windows]) == windows
    assert windows[0].to_json() == {"days": ["mon", "fri"], "start": "22:00", "end": "07:30"}


# --------------------------------------------------------------------------- modes


def test_a_removed_schedule_allows_charging_at_any_time_and_never_changes():
    removed = Schedule.removed()
    assert allowed_at(removed, at(WINTER_MONDAY, "09:00"))
    assert next_boundary(removed, at(WINTER_MONDAY, "09:00")) is None
    assert not removed.restricts_charging


def test_no_charging_hours_set_never_allows_charging():
    none_set = Schedule.custom([])
    assert none_set.mode is ScheduleMode.CUSTOM
    assert not allowed_at(none_set, at(WINTER_MONDAY + timedelta(days=5), "03:00"))
    assert next_boundary(none_set, at(WINTER_MONDAY, "09:00")) is None
    assert none_set != Schedule.removed()


def test_windows_covering_the_whole_week_never_change():
    whole_week = custom(("mon,tue,wed,thu,fri,sat,sun", "00:00", "24:00"))
    assert next_boundary(whole_week, at(WINTER_MONDAY, "09:00")) is None
    assert not whole_week.restricts_charging


def test_a_default_schedule_must_carry_the_default_windows():
    with pytest.raises(ValueError, match="default windows"):
        Schedule(ScheduleMode.DEFAULT, (Window.of("mon", "01:00", "02:00"),))


def test_a_removed_schedule_has_no_windows():
    with pytest.raises(ValueError, match="removed schedule has no windows"):
        Schedule(ScheduleMode.REMOVED, (Window.of("mon", "01:00", "02:00"),))


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule.default(),
        Schedule.removed(),
        Schedule.custom([]),
        custom(("sat", "01:00", "02:00")),
    ],
)
def test_schedule_json_round_trips(schedule):
    assert schedule_from_json(schedule.to_json()) == schedule


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "custom"}, "custom schedule needs windows"),
        ({"mode": "sometimes"}, "mode must be one of default, custom, removed; got 'sometimes'"),
        ({}, "mode must be one of"),
        ({"mode": "removed", "windows": [{"days": ["mon"]}]}, "removed mode has no windows"),
        ({"mode": "default", "extra": 1}, r"unknown schedule field\(s\): extra"),
        ([], "must be an object"),
    ],
)
def test_bad_schedule_json_is_refused_in_words(body, message):
    with pytest.raises(ValueError, match=message):
        schedule_from_json(body)


def test_the_default_mode_accepts_no_windows_or_its_own():
    assert schedule_from_json({"mode": "default", "windows": []}) == Schedule.default()
    assert schedule_from_json({"mode": "default"}) == Schedule.default()
    own = [w.to_json() for w in reversed(DEFAULT_WINDOWS)]
    assert schedule_from_json({"mode": "default", "windows": own}) == Schedule.default()


def test_the_default_mode_refuses_other_windows():
    body = {"mode": "default", "windows": [{"days": ["mon"], "start": "01:00", "end": "02:00"}]}
    with pytest.raises(ValueError, match="default mode has fixed windows; use custom"):
        schedule_from_json(body)


# --------------------------------------------------------------------------- DST, spring


def spring(hour: int, minute: int = 0) -> datetime:
    return utc(*SPRING_SUNDAY, hour, minute)


SPRING_JUMP = spring(1)  # 01:00 GMT, the clock then reads 02:00 BST


def test_spring_jump_instant_reads_02_00_bst():
    assert SPRING_JUMP.astimezone(LONDON).strftime("%H:%M %Z") == "02:00 BST"


def test_a_window_starting_in_the_missing_hour_starts_at_the_jump():
    schedule = custom(("sun", "01:30", "06:00"))
    assert not allowed_at(schedule, SPRING_JUMP - timedelta(microseconds=1))
    assert allowed_at(schedule, SPRING_JUMP)
    assert next_boundary(schedule, spring(0)) == SPRING_JUMP
    assert next_boundary(schedule, SPRING_JUMP) == spring(5)  # 06:00 BST


def test_a_window_ending_in_the_missing_hour_ends_at_the_jump():
    schedule = custom(("sat", "22:00", "01:30"))
    assert allowed_at(schedule, spring(0, 59))
    assert not allowed_at(schedule, SPRING_JUMP)
    assert boundaries(schedule, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 28, 22), SPRING_JUMP]


def test_a_window_ending_at_02_00_ends_at_the_jump():
    schedule = custom(("sun", "00:00", "02:00"))
    assert boundaries(schedule, utc(2026, 3, 28, 12), 2) == [spring(0), SPRING_JUMP]


def test_a_window_starting_at_02_00_starts_at_the_jump():
    schedule = custom(("sun", "02:00", "05:00"))
    assert boundaries(schedule, utc(2026, 3, 28, 12), 2) == [SPRING_JUMP, spring(4)]


def test_a_window_inside_the_missing_hour_does_not_happen_that_day():
    schedule = custom(("sun", "01:10", "01:50"))
    # Next occurrence is the following Sunday, 01:10 BST.
    assert next_boundary(schedule, utc(2026, 3, 28, 12)) == utc(2026, 4, 5, 0, 10)


def test_a_boundary_at_00_59_before_the_jump_is_ordinary():
    schedule = custom(("sun", "00:59", "01:30"))
    assert boundaries(schedule, spring(0), 2) == [spring(0, 59), SPRING_JUMP]


def test_a_naive_missing_wall_time_gets_the_state_of_its_reading():
    schedule = custom(("sun", "01:30", "06:00"))
    assert allowed_at(schedule, datetime(*SPRING_SUNDAY, 1, 45))  # noqa: DTZ001
    assert not allowed_at(schedule, datetime(*SPRING_SUNDAY, 1, 15))  # noqa: DTZ001


def test_default_hours_in_the_week_after_the_spring_change_follow_bst():
    assert boundaries(DEFAULT, spring(0), 2) == [utc(2026, 3, 30, 7), utc(2026, 3, 30, 10)]


# --------------------------------------------------------------------------- DST, autumn


def autumn(hour: int, minute: int = 0) -> datetime:
    return utc(*AUTUMN_SUNDAY, hour, minute)


FALL_BACK = autumn(1)  # 02:00 BST becomes 01:00 GMT: the second pass begins


def test_the_autumn_second_pass_begins_at_01_00_gmt():
    assert FALL_BACK.astimezone(LONDON).strftime("%H:%M %Z") == "01:00 GMT"
    assert autumn(0, 30).astimezone(LONDON).strftime("%H:%M %Z") == "01:30 BST"


def test_a_window_starting_in_the_repeated_hour_starts_once_on_the_first_pass():
    schedule = custom(("sun", "01:30", "06:00"))
    assert not allowed_at(schedule, autumn(0, 29))
    assert allowed_at(schedule, autumn(0, 30))  # 01:30 BST
    assert allowed_at(schedule, autumn(1, 10))  # 01:10 GMT: the second pass stands still
    assert boundaries(schedule, utc(2026, 10, 24, 12), 2) == [autumn(0, 30), autumn(6)]


def test_a_window_ending_in_the_repeated_hour_ends_once_on_the_first_pass():
    schedule = custom(("sat", "22:00", "01:30"))
    assert allowed_at(schedule, autumn(0, 29))
    assert not allowed_at(schedule, autumn(0, 30))
    assert not allowed_at(schedule, autumn(1, 10))  # 01:10 GMT
    assert boundaries(schedule, utc(2026, 10, 24, 12), 2) == [utc(2026, 10, 24, 21), autumn(0, 30)]


def test_a_window_ending_at_02_00_ends_when_the_clock_next_reads_02_00():
    schedule = custom(("sun", "00:00", "02:00"))
    assert allowed_at(schedule, autumn(1, 59))  # 01:59 GMT
    assert boundaries(schedule, utc(2026, 10, 24, 12), 2) == [utc(2026, 10, 24, 23), autumn(2)]


def test_a_window_starting_at_01_00_starts_on_the_first_pass_only():
    schedule = custom(("sun", "01:00", "03:00"))
    assert boundaries(schedule, utc(2026, 10, 24, 12), 2) == [autumn(0), autumn(3)]


def test_a_window_inside_the_repeated_hour_happens_once():
    schedule = custom(("sun", "01:10", "01:50"))
    assert boundaries(schedule, utc(2026, 10, 24, 12), 3) == [
        autumn(0, 10),
        autumn(0, 50),
        utc(2026, 11, 1, 1, 10),
    ]


def test_a_naive_repeated_wall_time_follows_its_fold():
    schedule = custom(("sun", "01:30", "06:00"))
    first_pass = datetime(*AUTUMN_SUNDAY, 1, 10)  # noqa: DTZ001
    assert not allowed_at(schedule, first_pass)
    assert allowed_at(schedule, first_pass.replace(fold=1))


def test_default_hours_in_the_week_after_the_autumn_change_follow_gmt():
    assert boundaries(DEFAULT, autumn(0), 2) == [utc(2026, 10, 26, 8), utc(2026, 10, 26, 11)]


# --------------------------------------------------------------------------- exhaustive DST check

DST_SCHEDULES = [
    DEFAULT,
    custom(("sun", "01:30", "06:00")),
    custom(("sat", "22:00", "01:30")),
    custom(("sun", "00:00", "02:00")),
    custom(("sun", "01:10", "01:50"), ("sun", "03:00", "04:00")),
    custom(("sun", "01:00", "02:00")),
    custom(("sat,sun", "23:30", "01:00"), ("sun", "02:00", "02:30")),
    custom(("mon,tue,wed,thu,fri,sat,sun", "00:30", "01:45")),
]


@pytest.mark.parametrize(
    "week_start", [utc(2026, 3, 26, 0), utc(2026, 10, 22, 0)], ids=["spring", "autumn"]
)
@pytest.mark.parametrize("schedule", DST_SCHEDULES, ids=range(len(DST_SCHEDULES)))
def test_next_boundary_finds_every_change_of_a_minute_by_minute_walk(week_start, schedule):
    minutes = 7 * 24 * 60
    states = [allowed_at(schedule, week_start + timedelta(minutes=i)) for i in range(minutes)]
    walked = [
        week_start + timedelta(minutes=i) for i in range(1, minutes) if states[i] != states[i - 1]
    ]
    chained: list[datetime] = []
    when = week_start
    while True:
        nxt = next_boundary(schedule, when)
        if nxt is None or nxt >= week_start + timedelta(minutes=minutes):
            break
        chained.append(nxt.astimezone(UTC))
        when = nxt
    assert chained == walked
