"""Metering history queries before and after a change: two source trees, one file.

On a machine shared with other work, the absolute figures of ``benchmarks/metering.py``
move by tens of per cent from one run to the next. This runs the same queries
(``metering.history_queries``) with two source trees of ukscp in alternation, each in
a process of its own on its own copy of one metering file, and compares the CPU time
(``time.process_time``: the queries run SQLite in-process) per query: medians and
minima over every run of every round.

    .venv/bin/python benchmarks/metering.py --keep /tmp/metering.sqlite3
    git archive BASE src | tar -x -C /tmp/before
    .venv/bin/python benchmarks/metering_ab.py --file /tmp/metering.sqlite3 \\
        --before /tmp/before/src --after src [--rounds 10] [--runs 10] [--label TEXT]

Writes ``benchmarks/results/metering_ab.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "metering_ab.md"
INGEST = "ingest, 5 samples per commit (µs per sample)"
INGEST_SAMPLES = 20_000


def child(file: Path, runs: int, tree: Path) -> None:
    """In the process of one tree (first on ``sys.path``): time each query ``runs`` times."""
    import ukscp.metering.store
    from ukscp.metering import MeteringStore

    sys.path.insert(0, str(HERE))
    from metering import history_queries, ingest_run, machine  # adds this repo's src/: too late

    loaded = Path(ukscp.metering.store.__file__).resolve()
    if not loaded.is_relative_to(tree):
        raise SystemExit(f"measured {loaded}, not the tree {tree}")

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "metering.sqlite3"
        shutil.copy(file, copy)
        store = MeteringStore(copy)
        times: dict[str, list[float]] = {}
        for name, query in history_queries(store).items():
            query()  # warm the page and statement caches
            runs_ms = []
            for _ in range(runs):
                started = time.process_time()
                query()
                runs_ms.append((time.process_time() - started) * 1000)
            times[name] = runs_ms
        store.close()
    # Ingest as the sampler does it (a commit every 5 samples): CPU µs per sample.
    times[INGEST] = [
        1e6 / ingest_run(5, INGEST_SAMPLES, timer=time.process_time) for _ in range(runs)
    ]
    print(json.dumps({"times": times, "machine": machine()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path, required=True, help="from metering.py --keep")
    parser.add_argument("--before", type=Path, help="src/ of the tree before")
    parser.add_argument("--after", type=Path, help="src/ of the tree after")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--label", default="", help="what changed, for the results file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # the tree to time
    args = parser.parse_args()
    if args.child:
        child(args.file, args.runs, args.child)
        return
    if args.before is None or args.after is None:
        parser.error("--before and --after are required")

    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    times: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    machine = ""
    for round_ in range(args.rounds):
        order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
        for which in order:
            answer = subprocess.run(
                [sys.executable, __file__, "--child", str(trees[which]), "--file", str(args.file),
                 "--runs", str(args.runs)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(trees[which])},
            ).stdout
            result = json.loads(answer)
            machine = result["machine"]
            for name, runs in result["times"].items():
                times[which].setdefault(name, []).extend(runs)

    lines = []
    for name in times["before"]:
        before, after = times["before"][name], times["after"][name]
        med_b, med_a = statistics.median(before), statistics.median(after)
        min_b, min_a = min(before), min(after)
        lines.append(
            f"| {name} | {med_b:.2f} | {med_a:.2f} | {med_a / med_b:.2f} "
            f"| {min_b:.2f} | {min_a:.2f} | {min_a / min_b:.2f} |"
        )
    count = args.rounds * args.runs
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        f"""# Metering history queries, before and after a change

Measured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/metering_ab.py --rounds {args.rounds} \
--runs {args.runs}`{f": {args.label}" if args.label else ""}.
Machine: {machine}, shared with other work while measuring.
File: the 13-month file of `benchmarks/metering.py --keep` (a fresh copy per process).

The two trees ran in alternation, {args.rounds} rounds, each a process of its own timing
every query {args.runs} times after one warm-up: {count} runs per query and tree. CPU time
of the process (`time.process_time`), in ms; the minimum is the least disturbed by the
other work on the machine. The last row is `metering.ingest_run` ({INGEST_SAMPLES:,}
samples through `append` and `flush` into an empty store), in CPU µs per sample.

| query | median before | median after | ratio | min before | min after | ratio |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}
"""
    )
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
