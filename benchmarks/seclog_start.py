"""What the start-up checks of stored data cost: the security log's pages and chain, file modes.

At each start the charger reads every page of the security log (``PRAGMA
quick_check``, so that a corrupt page is found then and not at the first write
that reaches it), verifies its whole hash chain, and takes the access of other
users away from everything in the data directory. This times each against logs
of several sizes (records of 100 characters of info, as the charger's are), and
the walk over a data directory of many files (a firmware slot holds ~130).
Writes ``benchmarks/results/seclog_start.md``.

    .venv/bin/python benchmarks/seclog_start.py [--runs 7] [--records 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ukscp.clock import VirtualClock
from ukscp.files import restrict_to_owner
from ukscp.security.seclog import SecurityEventType, SecurityLog
from ukscp.storage import open_database

RESULTS = Path(__file__).parent / "results" / "seclog_start.md"


def make_log(path: Path, records: int) -> int:
    """A closed security log of ``records`` records; returns its size in bytes."""
    log = SecurityLog(path, VirtualClock())
    for n in range(records):
        log.record(SecurityEventType.LOGIN_FAILED, f"attempt {n:08d} from 192.0.2.1 " + "x" * 70)
    log.close()
    return path.stat().st_size


def timed(work: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds of each run of ``work`` (after one run to warm the page cache)."""
    work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def open_plain(path: Path) -> None:
    open_database(path, "").close()  # what every other store does: no page read


def open_checked(path: Path) -> None:
    SecurityLog(path, VirtualClock()).close()  # quick_check of every page


def verify(path: Path) -> None:
    log = SecurityLog(path, VirtualClock())
    assert log.verify().ok
    log.close()


def tighten_opened(root: Path) -> float:
    """Milliseconds to take other users' access away from a tree that is all open to them."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    start = time.perf_counter()
    restrict_to_owner(root)
    return (time.perf_counter() - start) * 1000


def added(before: list[float], after: list[float]) -> float:
    return statistics.median(after) - statistics.median(before)


def row(what: str, times: list[float]) -> str:
    runs = " / ".join(f"{t:.1f}" for t in times)
    return f"| {what} | **{statistics.median(times):.1f}** | {runs} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--records", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()

    sections = []
    for records in args.records:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "security.sqlite3"
            size = make_log(path, records)
            plain = timed(lambda p=path: open_plain(p), args.runs)
            checked = timed(lambda p=path: open_checked(p), args.runs)
            chain = timed(lambda p=path: verify(p), args.runs)
        sections.append(
            f"### {records:,} records ({size / 2**20:.1f} MiB)\n\n"
            "| what | median (ms) | runs (ms) |\n|---|---|---|\n"
            + "\n".join(
                [
                    row("open, no page read (as the other stores)", plain),
                    row("open with `quick_check` (the security log now)", checked),
                    row("open + verify the whole chain", chain),
                ]
            )
            + f"\n\nAdded at start: **{added(plain, checked):.1f} ms** for the page check,"
            f" **{added(checked, chain):.1f} ms** for the chain.\n"
        )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        for n in range(args.files):
            folder = root / f"d{n // 100}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{n}").write_bytes(b"x")

        opened = [tighten_opened(root) for _ in range(args.runs)]
        closed = timed(lambda: restrict_to_owner(root), args.runs)

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        f"""# Start-up checks of stored data

Measured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/seclog_start.py --runs {args.runs}`.
Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Linux {platform.release()},
Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}. Files in a temporary
directory on the machine's disk, page cache warm (one run first); median in bold.

## The security log

{chr(10).join(sections)}
A charger writes a few security records a day (starts, logins, settings); 13 months of that
is some thousands. 100,000 is a log an attacker filled with failed logins.

## File modes (`restrict_to_owner`), {args.files:,} files in {args.files // 100} folders

| what | median (ms) | runs (ms) |
|---|---|---|
{row("every file and folder open to others (all changed)", opened)}
{row("already the owner's only (the usual start)", closed)}
""",
        encoding="utf-8",
    )
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
