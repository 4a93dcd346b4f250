"""An OpenADR 2.0b event as limits over time: which signal means how many amps.

Pure: an event as the ``openleadr`` package hands it over (plain dicts) in, a
list of :class:`Window` out, or :class:`Unsupported` naming what the charger
cannot honour, so an event is taken whole or answered optOut, never half
applied. The mapping (docs/dsr.md):

* ``SIMPLE`` (``level``): 0 normal, no limit; 1 moderate, half the charger's
  maximum (at least 6 A, IEC 61851's least); 2 high, 6 A; 3 special, 0 A.
* ``LOAD_DISPATCH`` (``setpoint``) and ``LOAD_CONTROL`` (``x-loadControlSetpoint``):
  a power (``powerReal``, W with its scale) over the supply's phases and
  voltage, or a current (``current``, A): that many amps, at most the maximum.
* ``LOAD_CONTROL`` (``x-loadControlCapacity``): a fraction 0..1 of the maximum.

Anything else (prices, offsets, other measurements) is unsupported.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MINIMUM_A = 6.0
"""The least current IEC 61851 lets an EV charge at; below it the charger pauses."""

_SCALE = {"none": 1.0, "k": 1e3, "M": 1e6, "m": 1e-3}


class Unsupported(ValueError):
    """An event the charger cannot honour; the message says which part."""


@dataclass(frozen=True, slots=True)
class Window:
    """From ``start`` to ``end``, at most ``amps`` per phase (None: no limit then)."""

    start: datetime
    end: datetime
    amps: float | None


@dataclass(frozen=True, slots=True)
class Supply:
    """What turns power into current, and the most the charger may offer."""

    max_current_a: float
    voltage_v: float
    phases: int


def windows(event: Mapping[str, Any], supply: Supply) -> list[Window]:
    """Each signal's intervals as limits, lowest of the signals where they overlap."""
    signals = event.get("event_signals") or []
    if isinstance(signals, Mapping):  # the package nests them one level in some messages
        signals = signals.get("event_signals") or []
    if not signals:
        raise Unsupported("the event has no signal")
    per_signal = [_signal_windows(signal, supply) for signal in signals]
    return _lowest(per_signal)


def amps_at(windows_: Sequence[Window], at: datetime) -> float | None:
    """The limit in force at ``at`` (None: none, the event imposes nothing then)."""
    for window in windows_:
        if window.start <= at < window.end:
            return window.amps
    return None


def _signal_windows(signal: Mapping[str, Any], supply: Supply) -> list[Window]:
    name, kind = str(signal.get("signal_name", "")), str(signal.get("signal_type", ""))
    out = []
    for interval in signal.get("intervals") or []:
        start = interval["dtstart"]
        duration = interval["duration"]
        if not isinstance(start, datetime) or not isinstance(duration, timedelta):
            raise Unsupported(f"an interval of {name} has no start or duration")
        payload = float(interval["signal_payload"])
        if not math.isfinite(payload):
            raise Unsupported(f"an interval of {name} has a payload that is not a number")
        amps = _amps(name, kind, payload, signal.get("measurement"), supply)
        out.append(Window(start, start + duration, amps))
    return out


def _amps(
    name: str, kind: str, payload: float, measurement: Any, supply: Supply
) -> float | None:
    most = supply.max_current_a
    if name.upper() == "SIMPLE" and kind == "level":
        levels = {0: None, 1: max(MINIMUM_A, most / 2), 2: MINIMUM_A, 3: 0.0}
        if payload not in levels:
            raise Unsupported(f"SIMPLE level {payload:g} (0 to 3 are defined)")
        level = levels[int(payload)]
        return None if level is None else min(level, most)
    if (name, kind) in (("LOAD_DISPATCH", "setpoint"), ("LOAD_CONTROL", "x-loadControlSetpoint")):
        return min(most, max(0.0, _setpoint_amps(name, payload, measurement, supply)))
    if (name, kind) == ("LOAD_CONTROL", "x-loadControlCapacity"):
        if not 0 <= payload <= 1:
            raise Unsupported(f"a capacity of {payload:g} (a fraction 0 to 1 is defined)")
        return most * payload
    raise Unsupported(f"signal {name} of type {kind}")


def _setpoint_amps(name: str, payload: float, measurement: Any, supply: Supply) -> float:
    if not isinstance(measurement, Mapping):
        raise Unsupported(f"{name} without a measurement (power or current)")
    unit_name = str(measurement.get("name", ""))
    scale = _SCALE.get(str(measurement.get("scale") or "none"))
    if scale is None:
        raise Unsupported(f"{name} with scale {measurement.get('scale')}")
    value = payload * scale
    if unit_name == "powerReal":
        return value / (supply.voltage_v * supply.phases)
    if unit_name == "current":
        return value
    raise Unsupported(f"{name} in {unit_name or 'no unit'} (power or current are defined)")


def _lowest(per_signal: list[list[Window]]) -> list[Window]:
    if len(per_signal) == 1:
        return per_signal[0]
    edges = sorted({t for windows_ in per_signal for w in windows_ for t in (w.start, w.end)})
    out = []
    for start, end in itertools.pairwise(edges):
        limits = [amps_at(windows_, start) for windows_ in per_signal]
        known = [amps for amps in limits if amps is not None]
        covered = any(w.start <= start < w.end for ws in per_signal for w in ws)
        if covered:
            out.append(Window(start, end, min(known) if known else None))
    return out
