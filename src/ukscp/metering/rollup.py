"""The rollup maths: from 1 s meter samples to 1-minute and 1-hour records.

Pure and incremental: :class:`RollupAccumulator` takes samples in time order and
returns each minute as it completes, never rescanning. Its whole state is a
small value (:class:`AccumulatorState`) that the store commits in the same
transaction as the samples it summarises, so a killed process resumes exactly
where its last committed batch left it.

Energy comes from the meter's registers when it has them (the difference of
two readings of a certified register is the best measurement there is) and
from integrating power otherwise. The energy between two samples belongs to
the interval between them and is shared between the minutes that interval
spans in proportion to time, so nothing is lost or counted twice: the energy
of all minutes adds up to the register difference, exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ukscp.metering.buckets import MINUTE_S, hour_of, minute_of

_log = logging.getLogger(__name__)

_MS_PER_HOUR = 3_600_000
_MS_PER_MINUTE = MINUTE_S * 1000
# Between two samples further apart than this, nobody knows how the energy flowed.
DEFAULT_MAX_GAP_S = 300.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the meter at one instant; ``None`` where the meter cannot tell.

    ``power_w`` is signed: positive on import to the EV, negative on export.
    """

    ts_ms: int
    power_w: float
    import_wh: float | None = None
    export_wh: float | None = None
    l1_a: float | None = None
    l2_a: float | None = None
    l3_a: float | None = None

    @property
    def max_current_a(self) -> float | None:
        """The highest phase current, or None when no current was read."""
        # Called once per sample on the hot path: no temporary list.
        return _max(_max(self.l1_a, self.l2_a), self.l3_a)


def sample_problem(sample: Sample) -> str | None:
    """Why ``sample`` must not be stored (a non-finite or negative reading), or None."""
    if not math.isfinite(sample.power_w):
        return f"power {sample.power_w!r} is not finite"
    for name in ("import_wh", "export_wh"):
        value = getattr(sample, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{name} register {value!r} is not a finite number >= 0"
    for name in ("l1_a", "l2_a", "l3_a"):
        value = getattr(sample, name)
        if value is not None and not math.isfinite(value):
            return f"{name} {value!r} is not finite"
    return None


@dataclass(frozen=True, slots=True)
class Rollup:
    """Summary of the samples and energy of one bucket (a minute or an hour).

    ``power_sum_w`` and ``samples`` rather than a mean, so that two partial
    summaries of one bucket (before and after a restart) merge exactly.
    A bucket can hold energy and no samples: the tail of an interval that
    started in it.
    """

    start_s: int
    samples: int = 0
    power_sum_w: float = 0.0
    max_power_w: float | None = None
    max_current_a: float | None = None
    import_wh: float = 0.0
    export_wh: float = 0.0

    @property
    def mean_power_w(self) -> float | None:
        """Mean of the sampled power, or None when no sample fell in the bucket."""
        return self.power_sum_w / self.samples if self.samples else None


def _max(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def merge(a: Rollup, b: Rollup) -> Rollup:
    """One summary of the samples of ``a`` and ``b`` (same bucket); the store's
    upsert does the same sums in SQL."""
    if a.start_s != b.start_s:
        raise ValueError(f"cannot merge buckets {a.start_s} and {b.start_s}")
    return Rollup(
        start_s=a.start_s,
        samples=a.samples + b.samples,
        power_sum_w=a.power_sum_w + b.power_sum_w,
        max_power_w=_max(a.max_power_w, b.max_power_w),
        max_current_a=_max(a.max_current_a, b.max_current_a),
        import_wh=a.import_wh + b.import_wh,
        export_wh=a.export_wh + b.export_wh,
    )


def merge_buckets(rollups: Iterable[Rollup]) -> list[Rollup]:
    """One rollup per bucket start, parts of the same bucket merged, in time order."""
    buckets: dict[int, Rollup] = {}
    for rollup in rollups:
        start = rollup.start_s
        buckets[start] = merge(buckets[start], rollup) if start in buckets else rollup
    return [buckets[start] for start in sorted(buckets)]


def to_hours(minutes: Iterable[Rollup]) -> list[Rollup]:
    """Fold minute rollups into the hour rollups they belong to (one per hour, in order)."""
    return merge_buckets(replace(minute, start_s=hour_of(minute.start_s)) for minute in minutes)


def fold_rows(rows: Iterable[Sequence[Any]], bounds: Sequence[int]) -> Iterator[Rollup]:
    """Fold rollup rows into the larger buckets ``[bounds[i], bounds[i + 1])``.

    ``rows`` are ``(start_s, samples, power_sum_w, max_power_w, max_current_a,
    import_wh, export_wh)`` in time order, none before ``bounds[0]`` nor at or
    after ``bounds[-1]`` (hours into local days, for instance). Buckets with no
    row are left out. Plain locals rather than a Rollup per row: a 13-month
    daily history folds nearly 10,000 hours.
    """
    index = 0
    current: list[Any] | None = None  # the fields of the bucket being filled
    for start_s, samples, power_sum, max_power, max_current, imported, exported in rows:
        if start_s < bounds[index]:
            raise ValueError(f"row at {start_s} is out of order or before the first bound")
        while start_s >= bounds[index + 1]:
            if current is not None:
                yield Rollup(*current)
                current = None
            index += 1
        if current is None:
            current = [
                bounds[index],
                samples,
                power_sum,
                max_power,
                max_current,
                imported,
                exported,
            ]
            continue
        current[1] += samples
        current[2] += power_sum
        current[3] = _max(current[3], max_power)
        current[4] = _max(current[4], max_current)
        current[5] += imported
        current[6] += exported
    if current is not None:
        yield Rollup(*current)


def _register_delta(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    delta = after - before
    if delta < 0:
        # A register only runs backwards when the meter was reset or replaced:
        # what flowed in between is unknown, and never negative.
        _log.warning("energy register went back from %.3f to %.3f Wh; counted 0", before, after)
        return 0.0
    return delta


def interval_energy(prev: Sample, cur: Sample, max_gap_s: float) -> tuple[float, float]:
    """Energy (imported Wh, exported Wh) that flowed between two consecutive samples.

    From the registers when both samples have them, else by integrating the
    earlier sample's power over the interval (each sample holds until the
    next). Power says nothing about an interval longer than ``max_gap_s`` or
    one that runs backwards: that counts as 0.
    """
    dt_ms = cur.ts_ms - prev.ts_ms
    integrable = 0 < dt_ms <= max_gap_s * 1000
    hours = dt_ms / _MS_PER_HOUR if integrable else 0.0
    imported = _register_delta(prev.import_wh, cur.import_wh)
    if imported is None:
        imported = max(prev.power_w, 0.0) * hours
    exported = _register_delta(prev.export_wh, cur.export_wh)
    if exported is None:
        exported = max(-prev.power_w, 0.0) * hours
    return imported, exported


def split_by_minute(start_ms: int, end_ms: int, amount: float) -> list[tuple[int, float]]:
    """Share ``amount`` between the minutes that ``[start_ms, end_ms)`` overlaps,
    in proportion to the overlap: ``[(minute start s, share), ...]`` in order.

    The shares add up to ``amount`` exactly (the last one takes the rounding).
    """
    if end_ms <= start_ms:
        raise ValueError("interval must have a positive length")
    first = start_ms // _MS_PER_MINUTE
    last = (end_ms - 1) // _MS_PER_MINUTE
    if first == last:
        return [(first * MINUTE_S, amount)]
    span = end_ms - start_ms
    shares: list[tuple[int, float]] = []
    given = 0.0
    for minute in range(first, last):
        lo = max(start_ms, minute * _MS_PER_MINUTE)
        hi = min(end_ms, (minute + 1) * _MS_PER_MINUTE)
        share = amount * (hi - lo) / span
        shares.append((minute * MINUTE_S, share))
        given += share
    shares.append((last * MINUTE_S, amount - given))
    return shares


@dataclass(frozen=True, slots=True)
class AccumulatorState:
    """Everything the accumulator remembers: the last sample and the open minute."""

    last: Sample | None = None
    open_minute: Rollup | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, for the store's state row: each value's fields in
        declaration order (written at every commit, so no ``asdict``, which is slow)."""
        last, bucket = self.last, self.open_minute
        return {
            "last": None
            if last is None
            else [
                last.ts_ms,
                last.power_w,
                last.import_wh,
                last.export_wh,
                last.l1_a,
                last.l2_a,
                last.l3_a,
            ],
            "open_minute": None
            if bucket is None
            else [
                bucket.start_s,
                bucket.samples,
                bucket.power_sum_w,
                bucket.max_power_w,
                bucket.max_current_a,
                bucket.import_wh,
                bucket.export_wh,
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccumulatorState:
        """Inverse of :meth:`to_json`."""
        last = data.get("last")
        bucket = data.get("open_minute")
        return cls(
            last=Sample(*last) if last else None,
            open_minute=Rollup(*bucket) if bucket else None,
        )


class RollupAccumulator:
    """Turns a stream of samples into completed minute rollups, incrementally.

    The open minute is the one of the latest sample; it completes when a sample
    of a later minute arrives (or at :meth:`close_minute`). A wall clock that
    steps back (an NTP correction) closes the open minute and opens the
    earlier one again; the store merges the two parts.
    """

    def __init__(
        self, state: AccumulatorState | None = None, max_gap_s: float = DEFAULT_MAX_GAP_S
    ) -> None:
        if not (math.isfinite(max_gap_s) and max_gap_s > 0):
            raise ValueError(f"max_gap_s must be a finite number > 0, got {max_gap_s!r}")
        state = state or AccumulatorState()
        self._max_gap_ms = max_gap_s * 1000
        self._max_gap_s = max_gap_s
        self._last = state.last
        self._open = _Bucket.of(state.open_minute) if state.open_minute else None

    @property
    def state(self) -> AccumulatorState:
        """The state to persist with the samples added so far."""
        return AccumulatorState(self._last, self._open.freeze() if self._open else None)

    @property
    def last(self) -> Sample | None:
        """The latest sample added, if any."""
        return self._last

    def add(self, sample: Sample) -> list[Rollup]:
        """Account ``sample``; returns the minutes it completed, oldest first."""
        done: list[Rollup] = []
        minute = minute_of(sample.ts_ms)
        self._flow_until(sample, minute, done)
        self._last = sample
        self._move_to(minute, done).add_sample(sample)
        return done

    def measure_until(self, reading: Sample) -> list[Rollup]:
        """Account the energy from the last sample up to ``reading`` without taking
        ``reading`` as a sample; returns the minutes it completed.

        For a reading taken at the moment of a query, which is never stored: use
        it on a copy of the accumulator (built from :attr:`state`), so the stored
        stream goes on from the last real sample.
        """
        done: list[Rollup] = []
        minute = minute_of(reading.ts_ms)
        self._flow_until(reading, minute, done)
        self._move_to(minute, done)
        return done

    def _flow_until(self, sample: Sample, minute: int, done: list[Rollup]) -> None:
        """Share the energy from the last sample up to ``sample`` (of ``minute``)."""
        prev = self._last
        if prev is None:
            return
        imported, exported = interval_energy(prev, sample, self._max_gap_s)
        dt_ms = sample.ts_ms - prev.ts_ms
        if 0 < dt_ms <= self._max_gap_ms:
            if imported or exported:
                self._share(prev.ts_ms, sample.ts_ms, imported, exported, done)
        elif imported or exported:
            # A long gap or a clock step back: when it flowed is unknown, so it
            # goes to the minute we learn of it in; the totals stay right.
            self._move_to(minute, done).add_energy(imported, exported)

    def close_minute(self) -> Rollup | None:
        """Complete the open minute now (at a clean stop); the last sample is kept
        so the energy up to the next sample is still counted."""
        if self._open is None:
            return None
        closed = self._open.freeze()
        self._open = None
        return closed

    def _share(
        self, start_ms: int, end_ms: int, imported: float, exported: float, done: list[Rollup]
    ) -> None:
        if start_ms // _MS_PER_MINUTE == (end_ms - 1) // _MS_PER_MINUTE:
            # The common case, one minute: no list building on the hot path.
            self._move_to(start_ms // _MS_PER_MINUTE * MINUTE_S, done).add_energy(
                imported, exported
            )
            return
        import_shares = split_by_minute(start_ms, end_ms, imported)
        export_shares = split_by_minute(start_ms, end_ms, exported)
        for (minute, imp), (_, exp) in zip(import_shares, export_shares, strict=True):
            self._move_to(minute, done).add_energy(imp, exp)

    def _move_to(self, minute: int, done: list[Rollup]) -> _Bucket:
        """The open bucket for ``minute``, completing the previous one if it differs."""
        if self._open is not None and self._open.start_s == minute:
            return self._open
        if self._open is not None:
            done.append(self._open.freeze())
        self._open = _Bucket(minute)
        return self._open


class _Bucket:
    """The mutable open minute (the hot path: one update per sample)."""

    __slots__ = (
        "export_wh",
        "import_wh",
        "max_current_a",
        "max_power_w",
        "power_sum_w",
        "samples",
        "start_s",
    )

    def __init__(self, start_s: int) -> None:
        self.start_s = start_s
        self.samples = 0
        self.power_sum_w = 0.0
        self.max_power_w: float | None = None
        self.max_current_a: float | None = None
        self.import_wh = 0.0
        self.export_wh = 0.0

    @classmethod
    def of(cls, rollup: Rollup) -> _Bucket:
        bucket = cls(rollup.start_s)
        bucket.samples = rollup.samples
        bucket.power_sum_w = rollup.power_sum_w
        bucket.max_power_w = rollup.max_power_w
        bucket.max_current_a = rollup.max_current_a
        bucket.import_wh = rollup.import_wh
        bucket.export_wh = rollup.export_wh
        return bucket

    def add_energy(self, imported: float, exported: float) -> None:
        self.import_wh += imported
        self.export_wh += exported

    def add_sample(self, sample: Sample) -> None:
        self.samples += 1
        self.power_sum_w += sample.power_w
        self.max_power_w = _max(self.max_power_w, sample.power_w)
        self.max_current_a = _max(self.max_current_a, sample.max_current_a)

    def freeze(self) -> Rollup:
        return Rollup(
            start_s=self.start_s,
            samples=self.samples,
            power_sum_w=self.power_sum_w,
            max_power_w=self.max_power_w,
            max_current_a=self.max_current_a,
            import_wh=self.import_wh,
            export_wh=self.export_wh,
        )
