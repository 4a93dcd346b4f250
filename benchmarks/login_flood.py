"""A login flood against the real charger: does charging and metering keep time?

The charger is the real ``ukscp run --sim-plug`` (simulated EV charging), started as the
e2e tests start it (``tests.e2e.conftest.start_charger``): set up on a first start, then
started again on the same data directory. It runs as this script's ``charger`` mode,
which only adds an event-loop lag probe (a task that sleeps 50 ms and records how late
it woke, ``time.monotonic``) and hands over to ukscp's CLI.

Each run has two windows of ``--seconds`` each:

1. quiet: the benchmark asks ``GET /api/v1/health`` every 100 ms on a kept-alive
   HTTPS connection (the owner's page would ask the same way);
2. flood: the same, while a second process (this script's ``flood`` mode) sends wrong
   logins from ``--flooders`` threads, each login from a new loopback address
   (127.x.y.z) and a new username, so that no lockout or slow-down stops it: every one
   reaches the password check. The flood process runs at nice 19: on a real network
   the attacker's CPU (16 threads making TLS handshakes) is not the charger's.

Per window: event-loop lag (p50, p99, max), meter samples stored per second (counted in
the charger's metering database after it stopped), ``/health`` latency (p50, p99), and
the flood's answers. ``--code DIR`` runs the charger from another source tree (e.g. a
``git archive`` of an older commit) for a before/after comparison. Writes
``benchmarks/results/login_flood.md`` (the section of ``--label``).

    .venv/bin/python benchmarks/login_flood.py [--runs 3] [--seconds 15] [--flooders 16] \
        [--label after] [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import itertools
import json
import os
import platform
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import start_charger

SCRIPT = Path(__file__).resolve()
RESULTS = SCRIPT.parent / "results" / "login_flood.md"
LAG_ENV = "UKSCP_BENCH_LAG_FILE"
PROBE_S = 0.05


# ----------------------------------------------------------------------- charger side


def charger_process(argv: list[str]) -> None:
    """``ukscp`` with an event-loop lag probe; the lags go to $UKSCP_BENCH_LAG_FILE at exit."""
    import ukscp.app

    lags: list[tuple[float, float]] = []  # (wall time woken, seconds late)
    run = ukscp.app.App.run

    async def probe() -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(PROBE_S)
            lags.append((time.time(), time.monotonic() - asked - PROBE_S))

    async def run_with_probe(self: Any, stop: asyncio.Event, on_ready: Any) -> int:
        task = asyncio.create_task(probe())
        try:
            return await run(self, stop, on_ready)
        finally:
            task.cancel()

    ukscp.app.App.run = run_with_probe  # type: ignore[method-assign]
    out = Path(os.environ[LAG_ENV])
    atexit.register(lambda: out.write_text(json.dumps(lags)))

    from ukscp.cli import main as ukscp_main

    sys.argv = ["ukscp", *argv]
    ukscp_main()


# ------------------------------------------------------------------------- flood side


def flood_process(url: str, cafile: str, seconds: float, flooders: int) -> None:
    """Wrong logins from ``flooders`` threads for ``seconds``; prints the answers as JSON."""
    context = ssl.create_default_context(cafile=cafile)
    answers: collections.Counter[int] = collections.Counter()
    stop = time.monotonic() + seconds

    def flood(first: int) -> None:
        for n in itertools.count():
            if time.monotonic() >= stop:
                return
            address = f"127.{first}.{n // 250 % 250 + 1}.{n % 250 + 1}"
            transport = httpx.HTTPTransport(local_address=address, verify=context)
            with httpx.Client(transport=transport, base_url=url, timeout=30) as client:
                body = {"username": f"guess{first}x{n}", "password": "not-the-password-at-all"}
                try:
                    answers[client.post("/api/v1/login", json=body).status_code] += 1
                except httpx.HTTPError:
                    answers[0] += 1

    threads = [threading.Thread(target=flood, args=(k,)) for k in range(2, 2 + flooders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(dict(answers)))


# ---------------------------------------------------------------------------- measuring


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def poll_health(client: httpx.Client, seconds: float) -> tuple[float, float, list[float], int]:
    """(start, end, latencies in ms, unanswered) of /health every 100 ms for ``seconds``.

    An answer that does not come within the client's 5 s counts as unanswered, with
    the time waited as its latency.
    """
    latencies = []
    unanswered = 0
    start = time.time()
    while time.time() - start < seconds:
        asked = time.perf_counter()
        try:
            assert client.get("/api/v1/health").status_code == 200
        except httpx.TimeoutException:
            unanswered += 1
        latencies.append((time.perf_counter() - asked) * 1000)
        time.sleep(max(0.0, 0.1 - (time.perf_counter() - asked)))
    return start, time.time(), latencies, unanswered


def one_run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Both windows of one run: lag, samples/s, /health latency, flood answers."""
    with tempfile.TemporaryDirectory() as work:
        data_dir, lag_file = Path(work) / "data", Path(work) / "lags.json"
        env = {LAG_ENV: str(lag_file)}
        if args.code:
            env["PYTHONPATH"] = str(Path(args.code).resolve())
        command = [sys.executable, str(SCRIPT), "charger"]
        start_charger(data_dir, command=command, env=env).stop()
        charger = start_charger(data_dir, "--sim-plug", command=command, env=env)
        try:
            time.sleep(3)  # settle
            windows = {"quiet": poll_health(charger.client, args.seconds)}
            # At nice 19: on a real network the attacker's CPU is not the charger's.
            flood = subprocess.Popen(
                ["nice", "-n", "19", sys.executable, str(SCRIPT), "flood", charger.url,
                 str(data_dir / "tls" / "device-cert.pem"), str(args.seconds + 2),
                 str(args.flooders)],
                stdout=subprocess.PIPE, text=True,
            )
            time.sleep(1)  # the flood is under way
            windows["flood"] = poll_health(charger.client, args.seconds)
            out, _ = flood.communicate(timeout=600)
            answers = json.loads(out)
        finally:
            charger.stop(timeout=120)
        lags = json.loads(lag_file.read_text())
        with sqlite3.connect(data_dir / "metering.sqlite3") as db:
            stamps = [row[0] / 1000 for row in db.execute("SELECT ts_ms FROM samples")]
    result = {}
    for name, (start, end, latencies, unanswered) in windows.items():
        in_window = [lag * 1000 for woke, lag in lags if start <= woke <= end]
        result[name] = {
            "lag_p50": statistics.median(in_window),
            "lag_p99": percentile(in_window, 99),
            "lag_max": max(in_window),
            "samples_per_s": sum(start <= t <= end for t in stamps) / (end - start),
            "health_p50": statistics.median(latencies),
            "health_p99": percentile(latencies, 99),
            "unanswered": unanswered,
            "answers": answers if name == "flood" else {},
        }
    return result


def main() -> None:
    if sys.argv[1:2] == ["charger"]:
        charger_process(sys.argv[2:])
        return
    if sys.argv[1:2] == ["flood"]:
        url, cafile, seconds, flooders = sys.argv[2:6]
        flood_process(url, cafile, float(seconds), int(flooders))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--flooders", type=int, default=16)
    parser.add_argument("--label", default="after")
    parser.add_argument("--code", help="source tree (its src/) to run the charger from")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    runs = [one_run(args) for _ in range(args.runs)]
    rows = []
    for number, run in enumerate(runs, 1):
        for window, m in run.items():
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(m["answers"].items())) or "-"
            rows.append(
                f"| {args.label} | {number} | {window} | {m['lag_p50']:.1f} | {m['lag_p99']:.1f}"
                f" | {m['lag_max']:.0f} | {m['samples_per_s']:.2f} | {m['health_p50']:.1f}"
                f" | {m['health_p99']:.1f} | {m['unanswered']} | {answers} |"
            )
    summary = []
    for window in ("quiet", "flood"):
        def med(key: str, w: str = window) -> float:
            return statistics.median(run[w][key] for run in runs)

        summary.append(
            f"- **{args.label}, {window}: event-loop lag p50 {med('lag_p50'):.1f} ms, p99 "
            f"{med('lag_p99'):.1f} ms, max {med('lag_max'):.0f} ms; {med('samples_per_s'):.2f}"
            f" meter samples stored/s; /health p50 {med('health_p50'):.1f} ms, p99 "
            f"{med('health_p99'):.1f} ms** (medians of {len(runs)} runs)"
        )
    print("\n".join(rows + summary))
    if args.no_write:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    code = f"the source tree {args.code}" if args.code else f"commit {commit}"
    section = (
        f"### {args.label}\n\nMeasured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/login_flood.py"
        f" --runs {args.runs} --seconds {args.seconds:g} --flooders {args.flooders} --label "
        f"{args.label}` on {code}. Machine: {platform.machine()}, {os.cpu_count()} cores, Linux "
        f"{platform.release()}, Python {platform.python_version()}; load average (1 min) at the"
        f" end {os.getloadavg()[0]:.2f} (the cores are shared with other work).\n\n"
        "| code | run | window | lag p50 (ms) | lag p99 (ms) | lag max (ms) | samples/s |"
        " /health p50 (ms) | /health p99 (ms) | /health unanswered in 5 s |"
        " flood answers (status: count; 0 = no answer) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        + "\n".join(summary) + "\n"
    )
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    sections = ["### " + part for part in existing.split("\n### ")[1:]]
    kept = [s.rstrip() + "\n" for s in sections if not s.startswith(f"### {args.label}\n")]
    RESULTS.write_text(_PREAMBLE + "\n".join([*kept, section]), encoding="utf-8")
    print(f"wrote {RESULTS}")


_PREAMBLE = """# Login flood: charging and metering keep time

`benchmarks/login_flood.py` (see its docstring): the real `ukscp run --sim-plug` with an
event-loop lag probe (a 50 ms sleep, how late it wakes), a quiet window and a flood window;
in the flood a second process sends wrong logins from 16 threads, each from a new
loopback address and username (so that no lockout stops them: every one reaches the
password check, argon2id at argon2-cffi's defaults, 64 MiB, t=3, p=4). Meter samples are
counted in the charger's database (one a second when the loop keeps time). Target: no
login traffic delays charging or metering by more than 100 ms.

"""


if __name__ == "__main__":
    main()
