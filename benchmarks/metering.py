"""Metering store: ingest throughput, on-disk size of 13 months, history query latency.

1. Ingest: samples fed through ``MeteringStore.append`` (validation, incremental
   rollup, session peak) and committed by ``flush`` (executemany in one
   transaction) in batches of 5 (the sampler's 5 s commits) and of 1000.
   Several runs of 200,000 samples each; medians.
2. Size: 13 months of 1 s samples (about 34 million) fed through the same
   path with timestamps, committed every 5 minutes of data, retention run every
   hour of data (raw window 48 h), sessions and rate changes published on an
   EventBus the store is attached to; then a checkpoint and the file's size.
   The data is deliberately hard to compress: fractional power, currents and
   registers every second, a few watts of noise while idle, one evening
   session a day at 32 A with a rate change every 20 minutes.
3. Queries on that file: one month at 1 h, 13 months at 1 d, plus a day at
   1 m, an hour at 1 s and a month's CSV export at 1 m; warm cache, medians of
   several runs.

    .venv/bin/python benchmarks/metering.py [--runs 5] [--months 13] [--keep FILE]

Writes ``benchmarks/results/metering.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ukscp.clock import LONDON
from ukscp.events import EventBus, LimitChanged, OfferedCurrentChanged, SessionEnded, SessionStarted
from ukscp.metering import MeteringStore, Sample
from ukscp.metering.buckets import epoch_ms, months_before

RESULTS = Path(__file__).parent / "results" / "metering.md"
TARGET_INGEST = 50_000.0  # samples/s
TARGET_SIZE_MB = 150.0
TARGET_MONTH_1H_MS = 50.0
V = 230.0
NOW = datetime(2027, 3, 1, 0, 0, tzinfo=LONDON)  # end of the generated history


def ingest_run(
    batch: int, count: int = 200_000, timer: Callable[[], float] = time.perf_counter
) -> float:
    """Samples per second through append + flush, committing every ``batch`` samples
    (seconds of ``timer``: wall time, or the process's CPU time)."""
    rng = random.Random(batch)
    base = epoch_ms(NOW)
    samples = []
    register = 1_000_000.0
    for t in range(count):
        watts = 7360.0 + rng.uniform(-40, 40)
        register += watts / 3600
        samples.append(Sample(base + t * 1000, watts, register, 0.0, watts / V, 0.0, 0.0))
    with tempfile.TemporaryDirectory() as tmp:
        store = MeteringStore(Path(tmp) / "metering.sqlite3")
        started = timer()
        for i, sample in enumerate(samples, 1):
            store.append(sample)
            if i % batch == 0:
                store.flush()
        store.flush()
        elapsed = timer() - started
        store.close()
    return count / elapsed


def generate(path: Path, months: int, progress: bool) -> tuple[float, int]:
    """Fill ``path`` with ``months`` of 1 s data ending at NOW; returns (seconds, samples)."""
    rng = random.Random(13)
    store = MeteringStore(path)
    bus = EventBus()
    store.attach(bus)
    start = months_before(NOW, months)
    first_ms, end_ms = epoch_ms(start), epoch_ms(NOW)
    register = 2_000_000.0
    session: tuple[int, int] | None = None  # (start ms, end ms)
    amps = 32.0
    next_session_ms = first_ms + 18 * 3_600_000
    count = 0
    started = time.perf_counter()
    for ts in range(first_ms, end_ms, 1000):
        if session is None and ts >= next_session_ms:
            length = rng.randint(2 * 3600, 5 * 3600) * 1000
            session = (ts, ts + length)
            amps = 32.0
            at = datetime.fromtimestamp(ts / 1000, UTC)
            bus.publish(OfferedCurrentChanged(at=at, source="default_mode", amps=amps, phases=1))
            bus.publish(
                SessionStarted(
                    at=at, source="evse", session_id=f"s{ts}", energy_register_wh=register
                )
            )
        if session is not None:
            if (ts - session[0]) % 1_200_000 == 0 and ts > session[0]:
                new = rng.choice([6.0, 10.0, 16.0, 20.0, 32.0])
                at = datetime.fromtimestamp(ts / 1000, UTC)
                bus.publish(
                    LimitChanged(
                        at=at,
                        source="ocpp",
                        old_amps=amps,
                        new_amps=new,
                        old_phases=1,
                        new_phases=1,
                        binding_source="ocpp",
                        reason="TxProfile 12",
                    )
                )
                bus.publish(OfferedCurrentChanged(at=at, source="ocpp", amps=new, phases=1))
                amps = new
            current = amps + rng.uniform(-0.2, 0.2)
            if ts >= session[1]:
                at = datetime.fromtimestamp(ts / 1000, UTC)
                bus.publish(
                    SessionEnded(
                        at=at,
                        source="evse",
                        session_id=f"s{session[0]}",
                        energy_wh=1.0,
                        duration_s=(session[1] - session[0]) / 1000,
                    )
                )
                session = None
                next_session_ms = ts + rng.randint(20 * 3600, 26 * 3600) * 1000
        else:
            current = rng.uniform(0.0, 0.02)
        watts = current * (V + rng.uniform(-3, 3))
        register += watts / 3600
        store.append(Sample(ts, watts, register, 0.0, current, 0.0, 0.0))
        count += 1
        if count % 300 == 0:
            store.flush()
        if count % 3600 == 0:
            store.enforce_retention(datetime.fromtimestamp(ts / 1000, UTC))
            if progress and count % (30 * 86400) == 0:
                print(f"  {count / 86400:.0f} days", file=sys.stderr, flush=True)
    store.flush()
    store.enforce_retention(NOW)
    store.close()
    return time.perf_counter() - started, count


def history_queries(store: MeteringStore) -> dict[str, Callable[[], int]]:
    """The queries timed on the generated file, each returning its row (line) count."""
    month_start = NOW - timedelta(days=31)
    return {
        "one month at 1 h": lambda: len(store.history(month_start, NOW, "1h")),
        "13 months at 1 d": lambda: len(store.history(months_before(NOW, 13), NOW, "1d")),
        "one day at 1 m": lambda: len(store.history(NOW - timedelta(days=1), NOW, "1m")),
        "one hour at 1 s": lambda: len(store.history(NOW - timedelta(hours=1), NOW, "1s")),
        "CSV export, one month at 1 m": lambda: sum(
            1 for _ in store.export_csv(month_start, NOW, "1m")
        ),
        "sessions, newest 50": lambda: len(store.sessions(50)),
    }


def time_ms(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, max) wall time in ms of ``action`` over ``runs`` warm runs (the caller
    has run it once already, which warms the page and statement caches)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def table_sizes(path: Path) -> dict[str, int]:
    """Bytes per table and index, if this SQLite has the dbstat table."""
    try:
        with sqlite3.connect(path) as db:
            return dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:
        return {}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--keep", type=Path, help="keep the generated database here")
    args = parser.parse_args()

    print("ingest...", file=sys.stderr)
    ingest = {batch: [ingest_run(batch) for _ in range(args.runs)] for batch in (5, 1000)}

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "metering.sqlite3"
        print(f"generating {args.months} months...", file=sys.stderr)
        gen_s, generated = generate(path, args.months, progress=True)
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        with sqlite3.connect(path) as db:
            counts = {
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in (
                    "samples",
                    "minute_rollups",
                    "hour_rollups",
                    "sessions",
                    "rate_changes",
                )
            }
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            page = db.execute("PRAGMA page_size").fetchone()[0]
        sizes = table_sizes(path)

        store = MeteringStore(path)
        queries = history_queries(store)
        rows = {name: query() for name, query in queries.items()}
        latency = {name: time_ms(query, max(args.runs, 20)) for name, query in queries.items()}
        store.close()

    ingest_5 = statistics.median(ingest[5])
    size_mb = size / 1e6
    month_1h = latency["one month at 1 h"][0]
    verdict = {
        "ingest": "met" if ingest_5 >= TARGET_INGEST else "NOT met",
        "size": "met" if size_mb < TARGET_SIZE_MB else "NOT met",
        "query": "met" if month_1h < TARGET_MONTH_1H_MS else "NOT met",
    }
    ingest_rows = "\n".join(
        f"| {batch} | {' / '.join(f'{r:,.0f}' for r in runs)} "
        f"| **{statistics.median(runs):,.0f}** |"
        for batch, runs in ingest.items()
    )
    latency_rows = "\n".join(
        f"| {name} | {rows[name]:,} | {median:.2f} | {worst:.2f} |"
        for name, (median, worst) in latency.items()
    )
    table_rows = "\n".join(
        f"| {name} | {nbytes / 1e6:.1f} |"
        for name, nbytes in sorted(sizes.items(), key=lambda item: -item[1])
        if nbytes > 100_000
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        f"""# Metering store: ingest, size of 13 months, history queries

Measured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/metering.py --runs {args.runs} \
--months {args.months}`.
Machine: {machine()}. Database in a temporary directory on the machine's disk (ext4).

## Ingest throughput

Samples through the real store path: `MeteringStore.append` (validation, incremental
minute rollup, session peak) then `flush` (one transaction: `executemany` of the raw
rows, upsert of the completed minute and hour rollups, the rollup state).
{args.runs} runs of 200,000 samples per batch size; median in bold.
A batch of 5 is what the sampler does in service (a commit every 5 s at 1 sample/s);
1000 is a bulk import.

| samples per commit | runs (samples/s) | median |
|---|---|---|
{ingest_rows}

**Median {ingest_5:,.0f} samples/s with 5-sample commits (target >= {TARGET_INGEST:,.0f}): \
{verdict["ingest"]}.**

## On-disk size of {args.months} months of 1 s data

{generated:,} samples ({args.months} months to {NOW:%Y-%m-%d}) fed through the same path
with timestamps in {gen_s:.0f} s, committed every 300 samples, retention run every
3600 samples (raw window 48 h), {counts["sessions"]} sessions with {counts["rate_changes"]}
rate changes recorded through an `EventBus`. Then `close()` (checkpoint, WAL truncated).
Every value fractional (idle noise, 32 A sessions with a rate change every 20 min),
so the size is not flattered by SQLite storing whole-number reals as integers.

| what | rows |
|---|---|
| raw samples (48 h) | {counts["samples"]:,} |
| minute rollups | {counts["minute_rollups"]:,} |
| hour rollups | {counts["hour_rollups"]:,} |
| sessions / rate changes | {counts["sessions"]:,} / {counts["rate_changes"]:,} |
| free pages (reused by later inserts) | {free:,} x {page} B |

| table or index | MB |
|---|---|
{table_rows}

**Database file {size_mb:.1f} MB (target < {TARGET_SIZE_MB:.0f} MB): {verdict["size"]}.**

## History query latency

On the {args.months}-month file above, through `MeteringStore.history` /
`export_csv` / `sessions` (results fully materialised), warm cache, median and
worst of {max(args.runs, 20)} runs after one warm-up. 1 h rows come from the hour
rollups (kept as each minute completes), 1 d rows from the hours of each
Europe/London day.

| query | rows (CSV: lines) | median (ms) | worst (ms) |
|---|---|---|---|
{latency_rows}

**One month at 1 h: {month_1h:.2f} ms (target < {TARGET_MONTH_1H_MS:.0f} ms): \
{verdict["query"]}. 13 months at 1 d: {latency["13 months at 1 d"][0]:.2f} ms.**
"""
    )
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
