"""OCPP 1.6J: SetChargingProfile to PWM latency, and how many messages one charge point moves.

The charge point is the real ``ukscp run`` process (started as the e2e tests start it,
``tests.e2e.conftest.start_charger``), with the simulated board. The central system is
the ``ocpp`` library's server side, the ``CsmsServer`` of the integration tests
(``tests/integration/test_ocpp16_support.py``), in this process. Both on loopback,
security profile 1 (Basic auth over plain ``ws://``, allowed for the lab).

The charger process is this script run as ``ocpp_latency.py charger run ...``: it wraps five
functions with a timestamp (``time.monotonic_ns``, the same clock in both processes) and
then hands over to ukscp's own CLI; nothing else changes. The points timed:

* received: the router's ``GuardedRouter.route_message`` gets the SetChargingProfile frame (the
  WebSocket frame has been read; nothing parsed yet: ukscp's frame check comes next, then
  the ``ocpp`` library's parsing);
* handler: ``SmartCharging16.set_charging_profile`` is entered (after the library's
  JSON-schema validation and ukscp's own 1.6 payload check);
* arbiter: ``Arbiter.set`` is called for the ``ocpp`` slot;
* EVSE: ``EvseController.apply_limit`` is called (the gate let the limit through);
* PWM: ``SimBoard.set_current_a`` has returned with the profile's current, i.e. the new
  duty cycle is on the (simulated) pilot.

Each run, on a fresh data directory:

1. first start (the owner's setup), stopped; then 2,000 MeterValues are put in the
   charger's persistent queue, as an outage of the CSMS leaves them;
2. the charger starts again and, once it is up, the central system comes up: the backlog
   drain rate is MeterValues received by the CSMS per second, first to last (the
   charger sends one CALL at a time and waits for its answer, as OCPP-J asks);
3. the CSMS makes GetConfiguration(HeartbeatInterval) round trips back to back;
4. the simulated EV is plugged in; once charging, the CSMS sends TxDefaultProfiles
   alternating 10 A / 16 A (same id: each replaces the last), one every 20 ms after the
   previous answer, a few warm-up profiles first. The CSMS is configured with
   ``ocpp.randomises_delay: true``: its profiles skip the randomised delay by the policy
   table (a CSMS that already randomises), through the gate as in service; the random
   delay itself stays enabled at its 600 s default. A profile whose PWM did not change
   before the next one arrived fails the run (that would be a delay, or a lost change).

Writes ``benchmarks/results/ocpp.md``.

    .venv/bin/python benchmarks/ocpp_latency.py [--runs 5] [--profiles 300] [--backlog 2000] \
        [--round-trips 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The central system comes from the integration tests: the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCRIPT = Path(__file__).resolve()
RESULTS = SCRIPT.parent / "results" / "ocpp.md"
TRACE_ENV = "UKSCP_BENCH_OCPP_TRACE"
IDENTITY = "CP_BENCH"
KEY = "benchmark-authorization-key-5c1e"  # a throwaway key for a temporary charger
WARM_UP = 10
PACE_S = 0.02
LIMITS = (10.0, 16.0)
# Where a profile is, in order: the frame read; ukscp's handler entered (after both
# schema checks); the CSMS's limit handed to the arbiter; the arbitrated, gated limit
# handed to the EVSE controller; then the PWM written.
STAGES = ("received", "handler", "arbiter", "evse")
STEPS = (
    ("received", "handler", "frame -> handler (frame check, schema checks, routing)"),
    ("handler", "arbiter", "handler -> arbiter (parse, install, persist, composite limit)"),
    ("arbiter", "evse", "arbiter -> EVSE (arbitration, listeners, random-delay gate)"),
    ("evse", "pwm", "EVSE -> PWM written (controller, its listeners, board)"),
)


# ----------------------------------------------------------------------------- charger side


def ukscp_path(stack: traceback.StackSummary) -> list[str]:
    """ukscp's own functions on ``stack``, outermost first, as ``module.py:function``.

    The hops a profile takes from the router's receive to the board: the
    ``ocpp`` library's and asyncio's frames, and this script's wrappers, are
    left out, so two versions of ukscp are counted alike.
    """
    path = []
    for frame in stack:
        parts = Path(frame.filename).parts
        if "ukscp" in parts and "benchmarks" not in parts:
            inside = parts[len(parts) - parts[::-1].index("ukscp") :]
            path.append(f"{'/'.join(inside)}:{frame.name}")
    start = next((i for i, hop in enumerate(path) if hop.endswith(":route_message")), 0)
    return path[start:]


def charger_process(argv: list[str]) -> None:
    """``ukscp run`` with timestamps on the profile's path; dumped to a file at exit."""
    from ukscp.evse.controller import EvseController
    from ukscp.hardware.sim.board import SimBoard
    from ukscp.limits.arbiter import Arbiter
    from ukscp.ocpp.router import GuardedRouter

    try:
        from ukscp.ocpp.smart_charging.v16 import SmartCharging16
    except ImportError:  # a tree from before the functional blocks, for a before/after table
        from ukscp.ocpp.v16.smart import SmartCharging16  # type: ignore[no-redef]

    trace: dict[str, list[Any]] = {stage: [] for stage in STAGES}
    trace["pwm"] = []
    trace["path"] = []  # ukscp's functions on the stack when a profile writes the PWM
    handling_profile = [False]
    route_message = GuardedRouter.route_message
    set_charging_profile = SmartCharging16.set_charging_profile
    arbiter_set = Arbiter.set
    apply_limit = EvseController.apply_limit
    set_current_a = SimBoard.set_current_a

    async def traced_route_message(self: Any, raw: str) -> None:
        profile = '"SetChargingProfile"' in raw
        if profile:
            trace["received"].append(time.monotonic_ns())
        handling_profile[0] = profile
        try:
            await route_message(self, raw)
        finally:
            handling_profile[0] = False

    def traced_set_charging_profile(self: Any, connector_id: int, profile: Any) -> str:
        trace["handler"].append(time.monotonic_ns())
        return set_charging_profile(self, connector_id, profile)

    def traced_arbiter_set(self: Any, slot: str, limit: Any) -> Any:
        if slot == "ocpp":
            trace["arbiter"].append(time.monotonic_ns())
        return arbiter_set(self, slot, limit)

    def traced_apply_limit(self: Any, amps: float, phases: int, source: str) -> None:
        trace["evse"].append(time.monotonic_ns())
        apply_limit(self, amps, phases, source)

    def traced_set_current_a(self: Any, amps: float) -> None:
        set_current_a(self, amps)
        trace["pwm"].append((time.monotonic_ns(), amps))
        if handling_profile[0] and not trace["path"]:
            trace["path"] = ukscp_path(traceback.extract_stack()[:-1])

    GuardedRouter.route_message = traced_route_message  # type: ignore[method-assign]
    SmartCharging16.set_charging_profile = traced_set_charging_profile  # type: ignore[method-assign]
    Arbiter.set = traced_arbiter_set  # type: ignore[method-assign]
    EvseController.apply_limit = traced_apply_limit  # type: ignore[method-assign]
    SimBoard.set_current_a = traced_set_current_a  # type: ignore[method-assign]
    out = Path(os.environ[TRACE_ENV])
    atexit.register(lambda: out.write_text(json.dumps(trace)))

    from ukscp.cli import main as ukscp_main

    sys.argv = ["ukscp", *argv]
    ukscp_main()


# ----------------------------------------------------------------------------- CSMS side


class Stamped(list[Any]):
    """The CSMS's list of received requests, with the time each one arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[int] = []

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic_ns())
        super().append(item)


@dataclass
class Run:
    latency_us: list[float]  # received -> PWM, one per measured profile
    steps_us: dict[str, list[float]]  # the STEPS of each measured profile
    round_trip_us: list[float]  # CSMS: SetChargingProfile sent -> answer
    drain_per_s: float  # MeterValues of the backlog, per second
    get_configuration_per_s: float  # CSMS round trips per second
    path: list[str]  # ukscp's functions from the router's receive to the PWM


def meter_values_payload(n: int) -> dict[str, Any]:
    """A MeterValues as the charger queues it (snake_case fields, four measurands)."""
    at = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + n
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    values = [
        ("Energy.Active.Import.Register", "Wh", f"{12000 + n * 2.1:.1f}"),
        ("Power.Active.Import", "W", "7360"),
        ("Current.Import", "A", "32"),
        ("Current.Offered", "A", "32"),
    ]
    return {
        "connector_id": 1,
        "meter_value": [
            {
                "timestamp": stamp.replace("+00:00", "Z"),
                "sampled_value": [
                    {"value": v, "context": "Sample.Periodic", "measurand": m,
                     "location": "Outlet", "unit": u}
                    for m, u, v in values
                ],
            }
        ],
    }


def tx_default_profile(limit: float) -> dict[str, Any]:
    return {
        "chargingProfileId": 1,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


async def until(check: Callable[[], bool], within_s: float, what: str) -> None:
    """Poll ``check`` (in this process) until it holds, or fail at the deadline."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def drain_output(process: Any, tail: list[str]) -> None:
    """Keep reading the charger's log so that a full pipe never blocks it."""
    for line in process.stdout:
        tail.append(line)
        del tail[:-200]


async def one_run(args: argparse.Namespace, work: Path) -> Run:
    from ocpp.v16 import call

    from tests.e2e.conftest import free_port, start_charger
    from tests.integration.test_ocpp16_support import CsmsServer
    from ukscp.ocpp.queue import QUEUE_FILE, MessageQueue

    data_dir = work / "data"
    trace_file = work / "trace.json"
    key_file = work / "ocpp_key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    port = free_port()
    config = work / "charger.yaml"
    config.write_text(
        "ocpp: {enabled: true, version: '1.6', "
        f"url: 'ws://127.0.0.1:{port}/ocpp', identity: {IDENTITY}, security_profile: 1, "
        f"authorization_key_file: '{key_file}', allow_insecure_transport: true, "
        "randomises_delay: true}\n"
    )
    command = [sys.executable, str(SCRIPT), "charger"]
    env = {TRACE_ENV: str(trace_file)}

    def start() -> Any:
        return start_charger(data_dir, "--config", str(config), command=command, env=env)

    # First start: the owner's setup (argon2 and the device certificate, not measured).
    first = await asyncio.to_thread(start)
    await asyncio.to_thread(first.stop)
    backlog = MessageQueue(data_dir / QUEUE_FILE, max_meter_values=args.backlog)
    for n in range(args.backlog):
        backlog.put("MeterValues", meter_values_payload(n))
    backlog.close()

    received = Stamped()
    csms = CsmsServer(basic_auth=(IDENTITY, KEY), received=received, port=port)
    charger = await asyncio.to_thread(start)
    tail: list[str] = []
    assert charger.process.stdout is not None
    threading.Thread(target=drain_output, args=(charger.process, tail), daemon=True).start()
    try:
        # 2. the backlog, once the charger is up (its own start-up does not compete)
        await csms.start()

        def meter_values() -> list[int]:
            return [t for r, t in zip(received, received.times, strict=True)
                    if r.action == "MeterValues"]

        await until(lambda: len(meter_values()) >= args.backlog, 120, "the backlog")
        times = meter_values()
        drain_per_s = (len(times) - 1) / ((times[-1] - times[0]) / 1e9)

        # 3. GetConfiguration round trips
        await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]))
        begin = time.monotonic_ns()
        for _ in range(args.round_trips):
            await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]))
        get_configuration_per_s = args.round_trips / ((time.monotonic_ns() - begin) / 1e9)

        # 4. charging profiles while the EV charges
        plug = await asyncio.to_thread(charger.client.post, "/api/v1/sim/plug")
        assert plug.status_code == 200, plug.text
        await until(lambda: bool(csms.of("StartTransaction")), 30, "StartTransaction")
        deadline = time.monotonic() + 30
        while True:
            status = (await asyncio.to_thread(charger.client.get, "/api/v1/status")).json()
            if status["state"] == "C" and status["offered_current_a"] >= 6:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the EV never charged: {status}")
            await asyncio.sleep(0.1)
        targets: list[float] = []
        round_trips: list[float] = []
        for n in range(WARM_UP + args.profiles):
            limit = LIMITS[n % 2]
            targets.append(limit)
            sent = time.monotonic_ns()
            profile = tx_default_profile(limit)
            answer = await csms.call(
                call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
            )
            round_trips.append((time.monotonic_ns() - sent) / 1e3)
            if answer.status != "Accepted":
                raise RuntimeError(f"profile {n} not accepted: {answer}")
            await asyncio.sleep(PACE_S)
    finally:
        await asyncio.to_thread(charger.stop)
        await csms.stop()

    trace = json.loads(trace_file.read_text())
    return Run(*profile_timings(trace, targets), round_trips[WARM_UP:], drain_per_s,
               get_configuration_per_s, trace["path"])


def profile_timings(
    trace: dict[str, list[Any]], targets: list[float]
) -> tuple[list[float], dict[str, list[float]]]:
    """Received -> PWM of each measured profile, and its steps, from the charger's trace."""
    got = trace["received"]
    if len(got) != len(targets):
        raise RuntimeError(f"{len(targets)} profiles sent, {len(got)} received")
    latency: list[float] = []
    steps: dict[str, list[float]] = {name: [] for _, _, name in STEPS}
    for n, (at, limit) in enumerate(zip(got, targets, strict=True)):
        before = got[n + 1] if n + 1 < len(got) else float("inf")
        when = {"received": at}
        for previous, stage in itertools.pairwise(STAGES):
            when[stage] = next(t for t in trace[stage] if t >= when[previous])
        change = next((t for t, amps in trace["pwm"] if at <= t < before and amps == limit), None)
        if change is None:
            raise RuntimeError(f"profile {n} ({limit} A): no PWM change before the next profile")
        when["pwm"] = change
        if n >= WARM_UP:
            latency.append((change - at) / 1e3)
            for start, end, name in STEPS:
                steps[name].append((when[end] - when[start]) / 1e3)
    return latency, steps


# ----------------------------------------------------------------------------- report


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores (`nproc`), {platform.machine()}, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


HEADER = (
    "| run | p50 received -> PWM (µs) | p99 (µs) | p50 CSMS round trip (µs) "
    "| backlog drain (msgs/s) | GetConfiguration (round trips/s) |\n|---|---|---|---|---|---|"
)


def path_files(path: list[str]) -> list[str]:
    """The files of a path's functions, each once, in order."""
    return list(dict.fromkeys(hop.split(":")[0] for hop in path))


def report(args: argparse.Namespace, runs: list[Run]) -> str:
    from importlib.metadata import version

    every = [x for r in runs for x in r.latency_us]
    trips = [x for r in runs for x in r.round_trip_us]
    rows = "\n".join(
        f"| {i + 1} | {percentile(r.latency_us, 50):,.0f} | {percentile(r.latency_us, 99):,.0f} "
        f"| {percentile(r.round_trip_us, 50):,.0f} "
        f"| {r.drain_per_s:,.0f} | {r.get_configuration_per_s:,.0f} |"
        for i, r in enumerate(runs)
    )
    step_rows = "\n".join(
        f"| {name} | {percentile(pooled, 50):,.0f} | {percentile(pooled, 99):,.0f} |"
        for _, _, name in STEPS
        for pooled in [[x for r in runs for x in r.steps_us[name]]]
    )
    p50, p99 = percentile(every, 50), percentile(every, 99)
    load = os.getloadavg()[0]
    drain = statistics.median(r.drain_per_s for r in runs)
    rtt = statistics.median(r.get_configuration_per_s for r in runs)
    return f"""# OCPP 1.6J: SetChargingProfile to PWM, and messages per second

Measured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/ocpp_latency.py --runs {args.runs} \
--profiles {args.profiles} --backlog {args.backlog} --round-trips {args.round_trips}`.
Machine: {machine()}; `ocpp` {version("ocpp")}, `websockets` {version("websockets")}.
Load average (1 min) when the runs ended: {load:.2f} (the cores are shared with other work).

The charge point is the real `ukscp run` process on the simulated board; the central
system is the `ocpp` library's server side (the integration tests' `CsmsServer`), in the
benchmark's process. Both on loopback (127.0.0.1), security profile 1 (Basic auth, plain
`ws://`), sharing the machine's {os.cpu_count()} cores. Each run starts on a fresh data
directory after a first start for the owner's setup. The charger process is `ukscp run`
with timestamps (`time.monotonic_ns()`, one clock for both processes) wrapped around five
functions on the profile's path; see the script's docstring.

## SetChargingProfile received -> new PWM current on the board

{args.profiles} TxDefaultProfiles per run (after {WARM_UP} warm-up ones), alternating
10 A / 16 A while the simulated EV charges, one every {PACE_S * 1000:.0f} ms after the
previous answer. No random delay applies, honestly so: the CSMS is configured as
`randomises_delay: true` (it randomises its own changes), so the gate's `by_source`
policy passes its profiles at once, as it would in service; the charger's random delay
stays enabled at the default 600 s maximum. A profile that did not move the PWM before
the next one arrived would fail the run.

"Received" is the frame handed to the charger's `route_message` (read off the socket, not
checked or parsed yet); "PWM" is `SimBoard.set_current_a` returning with the new
current. The CSMS round trip (send -> answer) adds the CSMS's own JSON and schema work
and the loopback both ways.

{HEADER}
{rows}

**Received -> PWM over all {len(every):,} profiles: p50 {p50 / 1000:.2f} ms, p99 \
{p99 / 1000:.2f} ms.** CSMS round trip p50 {percentile(trips, 50) / 1000:.2f} ms, p99 \
{percentile(trips, 99) / 1000:.2f} ms.

Where the time goes (all profiles pooled; a step's p50s need not add up to the total's):

| step | p50 (µs) | p99 (µs) |
|---|---|---|
{step_rows}

The path itself, from the router's receive to the board (ukscp's own functions on the
stack when the PWM is written, outermost first; the `ocpp` library's and asyncio's
frames left out): **{len(runs[0].path)} functions in {len(path_files(runs[0].path))} files**.

```
{chr(10).join(runs[0].path)}
```

No step waits on a timer or a polling loop: the profile reaches the PWM inside the one
receive callback, before the answer is sent. The largest step is before ukscp's handler:
ukscp checks the request against its JSON schema (`payload_error`, for OCPP 1.6's error
codes) and routes it; the `ocpp` library then checks the answer against its schema in a
thread pool (`ocpp.messages.ASYNC_VALIDATION`, a thread hop), after the PWM is written.

## Messages per second

- **Backlog drain (charge point -> CSMS): median {drain:,.0f} MeterValues/s**, {args.backlog:,}
  queued while the CSMS was away (four measurands each), first to last as the CSMS
  received them. This is the rate that matters after an outage (regulation 7): the
  charger sends its persistent queue oldest first, one CALL at a time, and removes each
  message from SQLite when its answer comes. At the fastest sampling it can be set to
  (MeterValueSampleInterval = 1 s) a charger makes 1 MeterValues/s, so this is also how
  many seconds of backlog it clears per second.
- **CSMS -> charge point: median {rtt:,.0f} GetConfiguration round trips/s**
  ({2 * rtt:,.0f} messages/s counting CALL and CALLRESULT), back to back, one outstanding
  at a time as OCPP-J allows: the charger's capacity to answer its CSMS.

Both rates are of the pair on one machine: the CSMS's own Python work (the `ocpp`
library's schema checks of each request and answer) is in them.
"""


async def run_all(args: argparse.Namespace) -> list[Run]:
    runs = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory() as work:
            run = await one_run(args, Path(work))
        print(
            f"run {n + 1}: p50 {percentile(run.latency_us, 50):.0f} µs, "
            f"p99 {percentile(run.latency_us, 99):.0f} µs, drain {run.drain_per_s:.0f}/s, "
            f"GetConfiguration {run.get_configuration_per_s:.0f}/s, "
            f"path {len(run.path)} functions in {len(path_files(run.path))} files",
            flush=True,
        )
        runs.append(run)
    return runs


def main() -> None:
    if sys.argv[1:2] == ["charger"]:
        charger_process(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profiles", type=int, default=300)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--round-trips", type=int, default=1000)
    args = parser.parse_args()
    runs = asyncio.run(run_all(args))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report(args, runs))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
