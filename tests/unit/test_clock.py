import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ukscp.clock import LONDON, Alarm, RealClock, VirtualClock


async def test_virtual_sleep_wakes_only_when_time_reaches_its_deadline():
    clock = VirtualClock()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(600)
        woke.append(clock.monotonic())

    task = asyncio.create_task(sleeper())
    await clock.advance(599)
    assert woke == []
    await clock.advance(1)
    assert woke == [600]
    await task


async def test_virtual_sleepers_wake_in_deadline_order_at_their_own_time():
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 30), ("early", 10))]
    await clock.advance(100)
    assert woke == [("early", 10), ("late", 30)]
    assert clock.monotonic() == 100
    await asyncio.gather(*tasks)


async def test_a_periodic_task_runs_once_per_period_under_advance():
    clock = VirtualClock()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(1)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await clock.advance(5)
    task.cancel()
    assert ticks == [1, 2, 3, 4, 5]


async def test_virtual_wall_time_is_london_and_follows_bst():
    clock = VirtualClock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # BST starts 01:00 UTC
    assert clock.now().tzinfo == LONDON
    assert clock.now().hour == 0
    await clock.advance(3600)
    assert clock.now().hour == 2  # 01:30 UTC is 02:30 BST
    assert clock.now().utcoffset() == timedelta(hours=1)


async def test_virtual_clock_refuses_to_go_backwards():
    with pytest.raises(ValueError, match="backwards"):
        await VirtualClock().advance(-1)


def test_virtual_clock_needs_an_aware_start():
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 1, 1))  # noqa: DTZ001


def test_wall_time_jump_leaves_monotonic_time_alone():
    clock = VirtualClock()
    clock.set_wall_time(datetime(2030, 6, 1, 12, tzinfo=UTC))
    assert clock.now() == datetime(2030, 6, 1, 13, tzinfo=LONDON)
    assert clock.monotonic() == 0


async def test_real_clock_reports_london_time_and_advances():
    clock = RealClock()
    assert clock.now().tzinfo == LONDON
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() > before


async def test_an_alarm_sleeps_its_time_unless_woken():
    clock = VirtualClock()
    alarm = Alarm(clock)
    woke: list[float] = []

    async def sleeper() -> None:
        await alarm.sleep(100)
        woke.append(clock.monotonic())

    task = asyncio.create_task(sleeper())
    await clock.advance(10)
    alarm.wake()
    await clock.settle()
    assert woke == [10]
    await task
    task = asyncio.create_task(sleeper())
    await clock.advance(100)
    assert woke == [10, 110]


async def test_cancelling_the_sleeping_task_still_cancels_it():
    clock = VirtualClock()
    alarm = Alarm(clock)
    task = asyncio.create_task(alarm.sleep(100))
    await clock.settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
