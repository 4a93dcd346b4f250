"""The meter sampler on the virtual clock, alone and with the simulated charger."""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ukscp.clock import VirtualClock
from ukscp.events import EventBus, LimitChanged
from ukscp.evse import EvseController
from ukscp.hardware.sim import SimBoard, SimEV, SimMeter
from ukscp.metering import MeteringStore, MeterSampler
from ukscp.metering.buckets import epoch_ms

V = 230.0


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


class PowerOnlyMeter:
    """A meter with no registers and no phase currents."""

    def __init__(self, watts: float) -> None:
        self.watts = watts

    def power_w(self) -> float:
        return self.watts


class PowerAndCurrentsMeter(PowerOnlyMeter):
    def currents_a(self) -> tuple[float, float, float]:
        return (10.0, 11.0, 9.5)


class FlakyMeter:
    """Registers and power; reads at the listed calls raise or return NaN."""

    def __init__(self, raise_on: set[int], nan_on: set[int]) -> None:
        self.calls = 0
        self.raise_on = raise_on
        self.nan_on = nan_on

    def power_w(self) -> float:
        self.calls += 1
        if self.calls in self.raise_on:
            raise OSError("Modbus timeout")
        return math.nan if self.calls in self.nan_on else 1000.0

    def energy_import_wh(self) -> float:
        return self.calls * 1000.0 / 3600

    def energy_export_wh(self) -> float:
        return 0.0


async def sampling(
    clock: VirtualClock, sampler: MeterSampler
) -> tuple[asyncio.Task[None], MeterSampler]:
    task = asyncio.create_task(sampler.run())
    await clock.settle()
    return task, sampler


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "metering.sqlite3"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[MeteringStore]:
    opened = MeteringStore(path)
    yield opened
    opened.close()


# -- cadence and batches ---------------------------------------------------------------


async def test_samples_once_a_second_on_the_clock(path: Path, store: MeteringStore) -> None:
    clock = VirtualClock()
    task, sampler = await sampling(clock, MeterSampler(PowerOnlyMeter(100.0), clock, store))
    await clock.advance(60)
    sampler.stop()
    await task
    stamps = [row[0] for row in rows(path, "SELECT ts_ms FROM samples ORDER BY ts_ms")]
    start = epoch_ms(clock.now() - timedelta(seconds=60))
    assert stamps == [start + 1000 * s for s in range(61)]


async def test_batches_are_committed_every_flush_interval(path: Path, store: MeteringStore) -> None:
    clock = VirtualClock()
    sampler = MeterSampler(PowerOnlyMeter(100.0), clock, store, flush_every_s=5)
    task, _ = await sampling(clock, sampler)
    await clock.advance(7)
    assert rows(path, "SELECT count(*) FROM samples") == [(6,)]  # 0..5 s
    await clock.advance(5)
    assert rows(path, "SELECT count(*) FROM samples") == [(11,)]  # 0..10 s
    sampler.stop()
    await task
    assert rows(path, "SELECT count(*) FROM samples") == [(13,)]  # stop commits the rest


async def test_interval_can_be_other_than_one_second(path: Path, store: MeteringStore) -> None:
    clock = VirtualClock()
    task, sampler = await sampling(
        clock, MeterSampler(PowerOnlyMeter(100.0), clock, store, interval_s=0.25)
    )
    await clock.advance(2)
    sampler.stop()
    await task
    assert rows(path, "SELECT count(*) FROM samples") == [(9,)]


class SteppedClock:
    """A clock whose time moves only by sleeping, or when the test stalls it."""

    def __init__(self) -> None:
        self.t = 0.0
        self.start = VirtualClock().now()
        self.sampler: MeterSampler | None = None
        self.sleeps = 0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        self.sleeps += 1
        if self.sleeps >= 6 and self.sampler is not None:
            self.sampler.stop()
        await asyncio.sleep(0)


class StallingMeter(PowerOnlyMeter):
    """Its third read takes ``stall_s`` (a stuck Modbus request, a long GC pause)."""

    def __init__(self, clock: SteppedClock, stall_s: float) -> None:
        super().__init__(1.0)
        self.clock = clock
        self.stall_s = stall_s
        self.reads = 0

    def power_w(self) -> float:
        self.reads += 1
        if self.reads == 3:
            self.clock.t += self.stall_s
        return self.watts


@pytest.mark.parametrize(
    ("stall_s", "expected"),
    [
        (1.3, [0.0, 1.0, 2.0, 3.3, 4.0, 5.0]),  # late: taken at once, then back on the grid
        (3.5, [0.0, 1.0, 2.0, 5.5, 6.0, 7.0]),  # ticks 3 and 4 missed: skipped, no burst
    ],
)
async def test_a_stalled_read_does_not_shift_or_burst_the_cadence(
    path: Path, store: MeteringStore, stall_s: float, expected: list[float]
) -> None:
    clock = SteppedClock()
    sampler = MeterSampler(StallingMeter(clock, stall_s), clock, store)
    clock.sampler = sampler
    await sampler.run()
    stamps = [row[0] for row in rows(path, "SELECT ts_ms FROM samples ORDER BY ts_ms")]
    origin = epoch_ms(clock.start)
    # The stalled read is stamped when it began; the next one when the stall ended.
    assert [(ts - origin) / 1000 for ts in stamps] == expected


async def test_settings_must_be_positive(store: MeteringStore) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        MeterSampler(PowerOnlyMeter(1.0), VirtualClock(), store, interval_s=0)
    with pytest.raises(ValueError, match="flush_every_s"):
        MeterSampler(PowerOnlyMeter(1.0), VirtualClock(), store, flush_every_s=math.nan)


# -- capabilities and bad input -----------------------------------------------------------


async def test_missing_capabilities_are_stored_as_null_and_power_is_integrated(
    path: Path, store: MeteringStore
) -> None:
    clock = VirtualClock()
    task, sampler = await sampling(clock, MeterSampler(PowerOnlyMeter(1200.0), clock, store))
    await clock.advance(120)
    sampler.stop()
    await task
    assert rows(path, "SELECT DISTINCT import_wh, export_wh, l1_a, l2_a, l3_a FROM samples") == [
        (None, None, None, None, None)
    ]
    history = store.history(clock.now() - timedelta(minutes=2), clock.now(), "1m")
    assert [row.import_wh for row in history] == pytest.approx([20.0, 20.0])  # 1.2 kW, 1 min


async def test_phase_currents_are_stored_when_the_meter_has_them(
    path: Path, store: MeteringStore
) -> None:
    clock = VirtualClock()
    task, sampler = await sampling(clock, MeterSampler(PowerAndCurrentsMeter(5.0), clock, store))
    await clock.advance(1)
    sampler.stop()
    await task
    assert rows(path, "SELECT DISTINCT import_wh, l1_a, l2_a, l3_a FROM samples") == [
        (None, 10.0, 11.0, 9.5)
    ]


async def test_a_read_that_raises_or_gives_nan_is_logged_and_skipped(
    path: Path, store: MeteringStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock()
    meter = FlakyMeter(raise_on={3, 4}, nan_on={7})
    task, sampler = await sampling(clock, MeterSampler(meter, clock, store))
    with caplog.at_level(logging.WARNING, logger="ukscp.metering"):
        await clock.advance(9)
    sampler.stop()
    await task
    assert meter.calls == 10
    kept = rows(path, "SELECT ts_ms, power_w FROM samples ORDER BY ts_ms")
    assert len(kept) == 7
    assert all(power == 1000.0 for _, power in kept)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Modbus timeout" in m for m in messages)
    assert any("nan" in m for m in messages)
    assert len([m for m in messages if "meter read failed" in m]) == 2  # not once per failure


async def test_a_failed_commit_keeps_the_batch_for_the_next_one(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class FailingOnce(MeteringStore):
        failed = False

        def flush(self) -> int:
            if not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("disk I/O error")
            return super().flush()

    clock = VirtualClock()
    store = FailingOnce(path)
    task, sampler = await sampling(
        clock, MeterSampler(PowerOnlyMeter(1.0), clock, store, flush_every_s=5)
    )
    with caplog.at_level(logging.ERROR, logger="ukscp.metering"):
        await clock.advance(7)
        assert rows(path, "SELECT count(*) FROM samples") == [(0,)]
        await clock.advance(5)
    assert rows(path, "SELECT count(*) FROM samples") == [(11,)]
    assert any("commit failed" in r.getMessage() for r in caplog.records)
    sampler.stop()
    await task
    store.close()


# -- retention ------------------------------------------------------------------------------


async def test_retention_runs_at_start_and_then_periodically(path: Path) -> None:
    clock = VirtualClock()
    store = MeteringStore(path, raw_window_s=10)
    sampler = MeterSampler(PowerOnlyMeter(1.0), clock, store, retention_every_s=30)
    task, _ = await sampling(clock, sampler)
    await clock.advance(65)
    sampler.stop()
    await task
    start = epoch_ms(clock.now() - timedelta(seconds=65))
    # The run at 60 s deleted everything older than 50 s.
    assert rows(path, "SELECT min(ts_ms), count(*) FROM samples") == [(start + 50_000, 16)]
    store.close()


# -- with the simulated charger ------------------------------------------------------------


@dataclass
class Rig:
    clock: VirtualClock
    ev: SimEV
    board: SimBoard
    meter: SimMeter
    bus: EventBus
    evse: EvseController
    store: MeteringStore
    sampler: MeterSampler


@pytest.fixture
async def rig(path: Path) -> AsyncIterator[Rig]:
    clock = VirtualClock()
    ev = SimEV(capacity_wh=100_000.0)
    board = SimBoard(clock, ev, max_current_a=32, phases=1)
    meter = SimMeter(board)
    bus = EventBus()
    evse = EvseController(board, meter, clock, bus)
    store = MeteringStore(path)
    store.attach(bus)
    sampler = MeterSampler(meter, clock, store)
    built = Rig(clock, ev, board, meter, bus, evse, store, sampler)
    tasks = [asyncio.create_task(evse.run()), asyncio.create_task(sampler.run())]
    await clock.settle()
    yield built
    sampler.stop()
    evse.stop()
    await asyncio.gather(*tasks)
    store.close()


async def test_minute_rollups_match_the_energy_the_sim_meter_measured(rig: Rig) -> None:
    start = rig.clock.now()
    register_at_start = rig.meter.energy_import_wh()
    rig.evse.apply_limit(32, 1, "test")
    rig.ev.plug_in()
    await rig.clock.advance(300)
    rig.evse.apply_limit(16, 1, "test")
    await rig.clock.advance(300)
    rig.store.flush()

    minutes = rig.store.history(start, rig.clock.now(), "1m")
    assert len(minutes) == 10
    full = [row.import_wh for row in minutes[1:5]] + [row.import_wh for row in minutes[6:]]
    assert full[:4] == pytest.approx([32 * V / 60] * 4)
    assert full[4:] == pytest.approx([16 * V / 60] * 4)
    assert minutes[2].mean_power_w == pytest.approx(32 * V)
    assert minutes[2].max_current_a == 32.0
    open_minute = rig.store.rollup_state.open_minute
    assert open_minute is not None
    total = sum(row.import_wh for row in minutes) + open_minute.import_wh
    assert total == pytest.approx(rig.meter.energy_import_wh() - register_at_start, abs=1e-9)


async def test_hourly_and_daily_history_agree_with_the_meter(rig: Rig) -> None:
    start = rig.clock.now()
    rig.evse.apply_limit(10, 1, "test")
    rig.ev.plug_in()
    await rig.clock.advance(3600 + 120)
    rig.store.flush()
    hours = rig.store.history(start, rig.clock.now(), "1h")
    # The first hour less the second it took to start charging; then 2 minutes.
    assert [row.import_wh for row in hours] == pytest.approx([10 * V, 10 * V / 30], abs=1.0)
    days = rig.store.history(start, rig.clock.now(), "1d")
    state = rig.store.rollup_state.open_minute
    assert state is not None
    assert days[0].import_wh + state.import_wh == pytest.approx(rig.meter.energy_import_wh())


async def test_a_session_is_recorded_with_its_rate_changes(rig: Rig) -> None:
    rig.evse.apply_limit(32, 1, "default_mode")
    rig.ev.plug_in()
    await rig.clock.advance(120)
    rig.bus.publish(
        LimitChanged(
            at=rig.clock.now(),
            source="ocpp",
            old_amps=32,
            new_amps=16,
            old_phases=1,
            new_phases=1,
            binding_source="ocpp",
            reason="TxProfile 3",
        )
    )
    rig.evse.apply_limit(16, 1, "ocpp")
    await rig.clock.advance(120)
    rig.ev.unplug()
    await rig.clock.advance(5)

    (session,) = rig.store.sessions()
    assert session.end_reason == "unplugged"
    assert session.import_wh == pytest.approx(rig.meter.energy_import_wh())
    assert session.import_wh == pytest.approx((32 + 16) * V * 120 / 3600, rel=0.01)
    assert session.export_wh == 0.0
    assert session.peak_power_w == 32 * V
    assert session.duration_s == pytest.approx(240, abs=1)
    assert [(r.kind, r.amps, r.source, r.cause) for r in session.rate_changes] == [
        ("initial", 32.0, "default_mode", ""),
        ("limit", 16.0, "ocpp", "TxProfile 3"),
        ("offered", 16.0, "ocpp", "TxProfile 3"),
    ]
