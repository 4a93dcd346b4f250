"""What the OCPP bounds cost, and what they bound: the frame check and the smart-charging caps.

1. The frame check (``ukscp.ocpp.frames.check_frame``) runs on every frame from the
   CSMS before the ``ocpp`` library parses it. Timed on the frames of the normal path
   (a SetChargingProfile as ``benchmarks/ocpp_latency.py`` sends it, a CALLRESULT to a
   MeterValues), beside ``json.loads`` of the same text (which the library does anyway),
   and on hostile frames at the 64 KiB cap (nested 32,000 deep, 30,000 numbers, an
   unterminated string of escaped quotes) and over it, which it must refuse (or pass, for
   the numbers, all in range) in time bounded by the cap.
2. The smart-charging work each change of the profile set causes (the limit in force now
   and when it next changes, as ``ProfileKeeper`` works them out on the event loop after
   every SetChargingProfile), with the profile set at the caps the charger advertises
   (10 profiles of 48 periods, every period a different limit; daily recurring is the
   costliest kind) and, for comparison, beyond them (73 profiles of 2,500 periods, which
   used to be accepted; made directly, since SetChargingProfile now refuses them).

Each figure is the median of several timed repetitions, in this one process.
Writes ``benchmarks/results/ocpp_bounds.md``.

    .venv/bin/python benchmarks/ocpp_bounds.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from ukscp.ocpp.frames import check_frame
from ukscp.ocpp.smart_charging import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    ProfileSet,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    limit_now,
    next_change,
)
from ukscp.ocpp.smart_charging.caps import MAX_PERIODS, MAX_PROFILES

RESULTS = Path(__file__).resolve().parent / "results" / "ocpp_bounds.md"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
QUERY: dict[str, Any] = {"voltage_v": 230, "phases": 1, "transaction": None, "connector_id": 1}


def median_us(work: Callable[[], object], *, repeat: int, number: int) -> float:
    """Median over ``repeat`` timings of ``number`` calls, per call, in microseconds."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            work()
        timings.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(timings)


# ----------------------------------------------------------------------------- frames


def set_charging_profile_frame() -> str:
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
    }
    payload = {"connectorId": 1, "csChargingProfiles": profile}
    return json.dumps([2, "6d94a0ab-8fc5-45fe-a1fe-b304b82d829d", "SetChargingProfile", payload])


FRAMES = {
    "SetChargingProfile (normal path)": set_charging_profile_frame(),
    "CALLRESULT to MeterValues (normal path)": '[3,"2b7e151628aed2a6abf7158809cf4f3c",{}]',
}
HOSTILE = {
    "64 KiB nested 32,000 deep": '[2,"d","Reset",{"type":' + "[" * 32_000 + "]" * 32_000 + "}]",
    "64 KiB of 30,000 numbers": "[2,\"n\",\"Reset\",{\"a\":[" + ",".join(["7"] * 30_000) + "]}]",
    "64 KiB unterminated string of escaped quotes": '[2,"' + '\\"' * 32_700,
    "1 MB frame (over the cap)": '[2,"b","DataTransfer",{"data":"' + "x" * 1_000_000 + '"}]',
}


def frame_rows() -> list[str]:
    rows = []
    for name, frame in FRAMES.items():
        assert check_frame(frame) is None, name
        checked = median_us(partial(check_frame, frame), repeat=7, number=20_000)
        parsed = median_us(partial(json.loads, frame), repeat=7, number=20_000)
        rows.append(f"| {name} | {len(frame):,} | {checked:,.1f} | {parsed:,.1f} | passed |")
    for name, frame in HOSTILE.items():
        refusal = check_frame(frame)
        result = "passed (within every bound)" if refusal is None else f"refused: {refusal.reason}"
        checked = median_us(partial(check_frame, frame), repeat=5, number=20)
        rows.append(f"| {name} | {len(frame):,} | {checked:,.0f} | | {result} |")
    return rows


# ----------------------------------------------------------------------------- profiles


def profile(profile_id: int, periods: int, kind: Kind) -> ChargingProfile:
    """A TxDefaultProfile of ``periods`` periods over a day, each a different limit."""
    step = 86_400 // periods
    schedule = ChargingSchedule(
        rate_unit=RateUnit.A,
        periods=tuple(
            SchedulePeriod(n * step, float(6 + (n * 7 + profile_id) % 20)) for n in range(periods)
        ),
        start_schedule=datetime(2026, 1, 5, tzinfo=UTC),
        duration_s=86_400,
    )
    return ChargingProfile(
        id=profile_id,
        stack_level=profile_id,
        purpose=Purpose.TX_DEFAULT,
        kind=kind,
        schedule=schedule,
        recurrency=Recurrency.DAILY if kind is Kind.RECURRING else None,
        connector_id=1,
    )


def limit_and_next_change(profiles: ProfileSet) -> None:
    """What each change of the profile set costs on the event loop (``ProfileKeeper``)."""
    limit_now(profiles, NOW, **QUERY)
    next_change(profiles, NOW, **QUERY)


CASES = (
    (MAX_PROFILES, MAX_PERIODS, Kind.RECURRING, "at the caps, daily recurring (the costliest)"),
    (MAX_PROFILES, MAX_PERIODS, Kind.ABSOLUTE, "at the caps, absolute"),
    (73, 2_500, Kind.ABSOLUTE, "absolute, beyond the caps: accepted before them"),
)


def profile_rows() -> list[str]:
    rows = []
    for count, periods, kind, label in CASES:
        # Made directly, not through SetChargingProfile: the last row is past the caps.
        profiles = ProfileSet(tuple(profile(n + 1, periods, kind) for n in range(count)))
        spent = median_us(partial(limit_and_next_change, profiles), repeat=3, number=1)
        rows.append(f"| {count} x {periods:,} periods, {label} | {spent / 1000:,.0f} |")
    return rows


# ----------------------------------------------------------------------------- report


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


def main() -> None:
    frames = "\n".join(frame_rows())
    profiles = "\n".join(profile_rows())
    load = os.getloadavg()[0]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(f"""# OCPP bounds: the cost of the frame check, the work the caps bound

Measured {datetime.now(UTC):%Y-%m-%d} by `benchmarks/ocpp_bounds.py` (see its docstring).
Machine: {machine()}.
Load average (1 min) at the end: {load:.2f} (the cores are shared with other work).
Medians of repeated timings in one process.

## The frame check, per frame

Every frame from the CSMS is checked before the `ocpp` library parses it (size, nesting
depth, numbers, shape). On the normal path the check is one `json.loads` with number hooks
and a count of brackets; the library then parses the frame again as it always did.

| frame | characters | check (µs) | `json.loads` alone (µs) | result |
|---|---|---|---|---|
{frames}

## The smart-charging work of each change of the profile set

The limit in force now and when it next changes, worked out by `ProfileKeeper` on the
event loop after every SetChargingProfile; every period a different limit.

| profile set | ms |
|---|---|
{profiles}
""")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
