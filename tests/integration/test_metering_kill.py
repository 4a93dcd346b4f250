"""A charger killed with SIGKILL mid-run loses no committed sample and no consistency.

A child process runs the real :class:`MeterSampler` and :class:`MeteringStore`
on a sped-up real clock (one real second is ten minutes, so minutes complete
while it runs) and prints the last sample it has committed after each commit.
The test kills it without warning, reopens the file and checks it.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from ukscp.metering import MeteringStore, Rollup, Sample
from ukscp.metering.rollup import merge

CHILD = r'''
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ukscp.clock import LONDON
from ukscp.metering import MeteringStore, MeterSampler

SPEED = 600.0


class FastClock:
    """The real event loop and monotonic clock, sped up 600 times."""

    def __init__(self):
        self._t0 = time.monotonic()
        self._epoch = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def monotonic(self):
        return (time.monotonic() - self._t0) * SPEED

    def now(self):
        return (self._epoch + timedelta(seconds=self.monotonic())).astimezone(LONDON)

    async def sleep(self, seconds):
        await asyncio.sleep(max(0.0, seconds) / SPEED)


class CountingMeter:
    """Every reading is a function of one counter, so a torn row would show."""

    def __init__(self):
        self.n = 0

    def power_w(self):
        self.n += 1
        return 1000.0 + self.n

    def energy_import_wh(self):
        return self.n * 0.5

    def energy_export_wh(self):
        return self.n * 0.25

    def currents_a(self):
        return (float(self.n % 32), float(self.n % 7), 0.0)


class ReportingStore(MeteringStore):
    taken = 0

    def append(self, sample):
        super().append(sample)
        self.taken = int(sample.power_w - 1000)

    def flush(self):
        taken = self.taken
        committed = super().flush()
        print(f"committed {taken}", flush=True)
        return committed


async def main():
    store = ReportingStore(Path(sys.argv[1]))
    flush_every_s = float(sys.argv[2])
    await MeterSampler(CountingMeter(), FastClock(), store, flush_every_s=flush_every_s).run()


asyncio.run(main())
'''


def counter(sample: Sample) -> int:
    return round(sample.power_w - 1000)


def run_and_kill(tmp_path: Path, db: Path, kill_at: int, flush_every_s: float) -> int:
    """Run the child until it reports ``kill_at`` samples committed, SIGKILL it,
    and return the last committed counter it reported."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), str(flush_every_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported = 0
    deadline = time.monotonic() + 60
    try:
        assert child.stdout is not None
        while reported < kill_at and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                assert child.stderr is not None
                pytest.fail(f"child died by itself: {child.stderr.read()}")
            reported = int(line.split()[1])
        assert reported >= kill_at, "child too slow"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return reported


def read_samples(db: Path) -> list[Sample]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [
            Sample(*row)
            for row in conn.execute(
                "SELECT ts_ms, power_w, import_wh, export_wh, l1_a, l2_a, l3_a FROM samples"
                " ORDER BY ts_ms"
            )
        ]


def read_rollups(db: Path, table: str) -> list[Rollup]:
    with sqlite3.connect(db) as conn:
        return [
            Rollup(*row)
            for row in conn.execute(
                "SELECT start_s, samples, power_sum_w, max_power_w, max_current_a, import_wh,"
                f" export_wh FROM {table} ORDER BY start_s"
            )
        ]


def assert_rollups_agree_with_samples(db: Path, store: MeteringStore) -> None:
    samples = read_samples(db)
    state = store.rollup_state
    assert state.last == samples[-1]  # the state was committed with the samples

    by_minute: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_minute[sample.ts_ms // 60_000 * 60].append(sample)
    minutes = read_rollups(db, "minute_rollups")
    buckets = [*minutes, *([state.open_minute] if state.open_minute else [])]
    seen: dict[int, Rollup] = {}
    for bucket in buckets:  # a minute written in two parts (close, restart) merges
        prior = seen.get(bucket.start_s)
        seen[bucket.start_s] = bucket if prior is None else merge(prior, bucket)
    assert sorted(seen) == sorted(by_minute)
    for start, rollup in seen.items():
        inside = by_minute[start]
        assert rollup.samples == len(inside)
        assert rollup.power_sum_w == pytest.approx(sum(s.power_w for s in inside))
        assert rollup.max_power_w == max(s.power_w for s in inside)
        assert rollup.max_current_a == max(max(s.l1_a or 0, s.l2_a or 0) for s in inside)

    first, last = samples[0], samples[-1]
    assert first.import_wh is not None and last.import_wh is not None
    assert first.export_wh is not None and last.export_wh is not None
    imported = math.fsum(r.import_wh for r in buckets)
    exported = math.fsum(r.export_wh for r in buckets)
    assert imported == pytest.approx(last.import_wh - first.import_wh, abs=1e-9)
    assert exported == pytest.approx(last.export_wh - first.export_wh, abs=1e-9)

    hours: dict[int, float] = defaultdict(float)
    for minute in minutes:
        hours[minute.start_s // 3600 * 3600] += minute.import_wh
    stored_hours = read_rollups(db, "hour_rollups")
    assert {h.start_s: pytest.approx(h.import_wh) for h in stored_hours} == dict(hours)


@pytest.mark.parametrize(
    ("kill_at", "flush_every_s"),
    # Small batches as in service, and big ones, to be killed inside a commit more often.
    [(150, 5.0), (333, 5.0), (487, 5.0), (200, 60.0), (420, 60.0)],
)
def test_every_committed_sample_survives_a_sigkill_whole(
    tmp_path: Path, kill_at: int, flush_every_s: float
) -> None:
    db = tmp_path / "metering.sqlite3"
    reported = run_and_kill(tmp_path, db, kill_at, flush_every_s)

    samples = read_samples(db)
    counters = [counter(s) for s in samples]
    # Everything reported committed is there, nothing is missing in between, and
    # rows are whole: every field of a row comes from the same reading.
    assert counters == list(range(1, len(counters) + 1))
    assert len(counters) >= reported
    for sample, n in zip(samples, counters, strict=True):
        assert (sample.import_wh, sample.export_wh) == (n * 0.5, n * 0.25)
        assert (sample.l1_a, sample.l2_a, sample.l3_a) == (n % 32, n % 7, 0.0)
    assert [s.ts_ms for s in samples] == sorted({s.ts_ms for s in samples})

    store = MeteringStore(db)
    assert len(read_rollups(db, "minute_rollups")) >= 2  # minutes completed before the kill
    assert_rollups_agree_with_samples(db, store)

    # The reopened store carries on from the committed state.
    last = samples[-1]
    n = counter(last)
    for step in range(1, 121):
        k = n + step
        store.append(
            Sample(last.ts_ms + 1000 * step, 1000.0 + k, k * 0.5, k * 0.25, k % 32, k % 7, 0.0)
        )
    store.close()
    reopened = MeteringStore(db)
    assert_rollups_agree_with_samples(db, reopened)
    reopened.close()
