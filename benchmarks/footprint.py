"""Footprint of an idle charger while charging: resident memory and CPU.

Sets a charger up (first start), then starts the real ``ukscp run --sim-plug``
process again on that data directory (simulated EV charging at 32 A, the owner
logged in over HTTPS), lets it settle, then samples its RSS every second and its CPU time over
the window. Repeats the run and reports medians. Writes
``benchmarks/results/footprint.md``.

    .venv/bin/python benchmarks/footprint.py [--runs 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import start_charger

RESULTS = Path(__file__).parent / "results" / "footprint.md"
TARGET_RSS_MB = 100.0
TARGET_CPU_PCT = 2.0


def measure(seconds: float, settle: float) -> tuple[float, float, float]:
    """One run: (median RSS MB, peak RSS MB, CPU % of one core)."""
    with tempfile.TemporaryDirectory() as data_dir:
        # First start: the owner's setup. The charger measured is the one in service
        # afterwards, started again on the same data directory, as after any reboot.
        start_charger(Path(data_dir)).stop()
        charger = start_charger(Path(data_dir), "--sim-plug")
        try:
            time.sleep(settle)
            status = charger.client.get("/api/v1/status").json()
            assert status["state"] == "C", f"EV not charging: {status}"
            proc = psutil.Process(charger.process.pid)
            cpu_start = proc.cpu_times()
            wall_start = time.monotonic()
            rss = []
            while time.monotonic() - wall_start < seconds:
                rss.append(proc.memory_info().rss / 2**20)
                time.sleep(1)
            cpu_end = proc.cpu_times()
            wall = time.monotonic() - wall_start
            cpu = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
            return statistics.median(rss), max(rss), 100 * cpu / wall
        finally:
            charger.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=5)
    args = parser.parse_args()

    runs = [measure(args.seconds, args.settle) for _ in range(args.runs)]
    rss_median = statistics.median(r[0] for r in runs)
    rss_peak = max(r[1] for r in runs)
    cpu_median = statistics.median(r[2] for r in runs)
    rows = "\n".join(
        f"| {i + 1} | {r[0]:.1f} | {r[1]:.1f} | {r[2]:.2f} |" for i, r in enumerate(runs)
    )
    verdict = "met" if rss_peak < TARGET_RSS_MB and cpu_median < TARGET_CPU_PCT else "NOT met"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        f"""# Footprint: idle `ukscp run --sim-plug` while charging

Measured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/footprint.py` with {args.runs} runs of \
{args.seconds:.0f} s each, after {args.settle:.0f} s to settle. RSS sampled every second with
psutil; CPU is the process's user+system time over the window divided by wall time (100 % =
one core). The charger was set up on a first start, then started again on the same data
directory (as in service); the simulated EV charges at 32 A throughout; the API is idle
but for the owner's login over HTTPS.

Machine: {platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}, \
{platform.system()} {platform.release()}.

| run | median RSS (MB) | peak RSS (MB) | CPU (% of one core) |
|---|---|---|---|
{rows}

**Median RSS {rss_median:.1f} MB (peak {rss_peak:.1f} MB, target < {TARGET_RSS_MB:.0f} MB); \
median CPU {cpu_median:.2f} % (target < {TARGET_CPU_PCT:.0f} %): {verdict}.**
""",
        encoding="utf-8",
    )
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
