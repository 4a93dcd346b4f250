"""Owner API latency over one kept-alive HTTPS connection to the real charger.

Starts the real ``ukscp run --sim-plug`` process (as the e2e tests start it,
``tests.e2e.conftest.start_charger``: set up on a first start, then started again on
the same data directory, the owner logged in with a bearer token), then times
``GET /api/v1/status`` and ``POST /api/v1/limits/ems`` ({"amps": 16, "cause": "local"})
back to back on ONE kept-alive HTTPS connection: request sent -> whole answer read,
``time.perf_counter`` in this process, after a warm-up. Repeats the run on a fresh data
directory and reports p50/p99 per run and over all requests. Writes
``benchmarks/results/api.md`` unless ``--no-write``; ``--label`` names the code
measured (e.g. "before", "after").

    .venv/bin/python benchmarks/api_latency.py [--runs 3] [--requests 500] [--label after]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import UKSCP, start_charger

RESULTS = Path(__file__).parent / "results" / "api.md"
WARM_UP = 50
TARGET_P99_MS = 5.0


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``samples``."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def one_run(requests: int, nice: int, settle_s: float) -> dict[str, list[float]]:
    """Milliseconds per request, for each route, on one kept-alive connection.

    ``settle_s`` after the charger is ready pass before the warm-up: its first seconds
    (first calls of each code path, start-up work) are not its steady state.
    """
    times: dict[str, list[float]] = {"GET /api/v1/status": [], "POST /api/v1/limits/ems": []}
    command = ["nice", "-n", str(nice), str(UKSCP)] if nice else None
    with tempfile.TemporaryDirectory() as data_dir:
        start_charger(Path(data_dir)).stop()
        charger = start_charger(Path(data_dir), "--sim-plug", command=command)
        try:
            client = charger.client
            time.sleep(settle_s)
            connections_before = None
            for i in range(WARM_UP + requests):
                for route in times:
                    method, path = route.split(" ")
                    started = time.perf_counter()
                    if method == "GET":
                        answer = client.get(path)
                    else:
                        answer = client.post(path, json={"amps": 16, "cause": "local"})
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    assert answer.status_code == 200, answer.text
                    if i >= WARM_UP:
                        times[route].append(elapsed_ms)
                if i == 0:
                    connections_before = _client_connections(charger.process.pid)
            # One connection throughout: the pool must not have opened another.
            assert _client_connections(charger.process.pid) == connections_before == 1
        finally:
            charger.stop()
    return times


def _client_connections(pid: int) -> int:
    """Established TCP connections of the charger on its page's port (psutil)."""
    import psutil

    return sum(1 for c in psutil.Process(pid).net_connections("tcp") if c.status == "ESTABLISHED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--label", default="after")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the charger and this client at this niceness (e.g. -10, as root): on a"
        " machine shared with other work, measures ukscp rather than its neighbours",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds after the charger is ready before the warm-up (its start is not measured)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.nice:
        os.nice(args.nice)

    runs = [one_run(args.requests, args.nice, args.settle) for _ in range(args.runs)]
    rows = []
    pooled: dict[str, list[float]] = {}
    for number, run in enumerate(runs, 1):
        for route, samples in run.items():
            pooled.setdefault(route, []).extend(samples)
            rows.append(
                f"| {args.label} | {number} | `{route}` | {statistics.median(samples):.2f}"
                f" | {percentile(samples, 99):.2f} | {max(samples):.2f} |"
            )
    # The machine is shared and noisy: the verdict is on the median of the runs' p99.
    run_p99 = {
        route: statistics.median(percentile(run[route], 99) for run in runs) for route in pooled
    }
    summary = [
        f"- **{args.label}, `{route}`: p50 {statistics.median(s):.2f} ms, "
        f"p99 {run_p99[route]:.2f} ms** (median of {len(runs)} runs' p99; pooled p99 "
        f"{percentile(s, 99):.2f} ms over {len(s):,} requests; target p99 < "
        f"{TARGET_P99_MS:.0f} ms: {'met' if run_p99[route] < TARGET_P99_MS else 'NOT met'})."
        for route, s in pooled.items()
    ]
    print("\n".join(rows + summary))
    if args.no_write:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = os.getloadavg()[0]
    header = (
        f"### {args.label}\n\nMeasured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/api_latency.py "
        f"--runs {args.runs} --requests {args.requests} --settle {args.settle:g}"
        f" --label {args.label}"
        f"{f' --nice {args.nice}' if args.nice else ''}` on commit {commit}.\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (`nproc`), Linux "
        f"{platform.release()}, Python {platform.python_version()}. Load average (1 min) at the "
        f"end: {load:.2f} (the cores are shared with other work).\n\n"
        "| code | run | request | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|---|---|\n"
    )
    section = header + "\n".join(rows) + "\n\n" + "\n".join(summary) + "\n"
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    RESULTS.write_text(_merge(existing, args.label, section), encoding="utf-8")
    print(f"wrote {RESULTS}")


_PREAMBLE = """# Owner API latency: one kept-alive HTTPS connection

`benchmarks/api_latency.py` starts the real `ukscp run --sim-plug` (simulated EV charging;
set up on a first start, then started again on the same data directory, as in service),
logs the owner in with a bearer token, and times `GET /api/v1/status` and
`POST /api/v1/limits/ems` (`{"amps": 16, "cause": "local"}`) alternately over ONE
kept-alive HTTPS connection (httpx, TLS 1.3, the device's own certificate): from the
request sent to the whole answer read, in the client. 50 warm-up pairs are not counted.
Client and charger share the machine's 2 cores, on loopback.

"before" is the code in which the listening socket was made with
`socket.socket(family, SOCK_STREAM)`: proto 0, inherited by every accepted socket, so
asyncio's `_set_nodelay` (which requires `sock.proto == IPPROTO_TCP`) never set
TCP_NODELAY. An answer written in two parts (headers, then body) then waited for the
client's delayed ACK of the first: about 40 ms per answer, whatever the route or status.
"after" sets TCP_NODELAY on every accepted connection (`ukscp.web.connections.Acceptor`)
and makes the listener with IPPROTO_TCP; `tests/e2e/test_web_edge_e2e.py::
test_accepted_connections_have_tcp_nodelay` reads the option off the charger's own socket.

"""


def _merge(existing: str, label: str, section: str) -> str:
    """The results file with ``label``'s section replaced (or added), the others kept."""
    sections = ["### " + part for part in existing.split("\n### ")[1:]]
    kept = [s.rstrip() + "\n" for s in sections if not s.startswith(f"### {label}\n")]
    return _PREAMBLE + "\n".join([*kept, section])


if __name__ == "__main__":
    main()
