"""The asyncio shell that reads the meter every second and feeds the store.

It only waits, reads and writes: every ``interval_s`` on the clock it reads
what the meter can measure, hands the sample to the store, commits a batch
every ``flush_every_s`` and runs the retention job every ``retention_every_s``.
A meter read that fails is logged and skipped; so is a store error: metering
trouble must never stop the charger.
"""

from __future__ import annotations

import logging
import math

from ukscp.clock import Alarm, Clock
from ukscp.hardware.protocols import EnergyMeter, Meter, PhaseCurrents
from ukscp.metering.buckets import epoch_ms
from ukscp.metering.rollup import Sample, sample_problem
from ukscp.metering.store import MeteringStore

_log = logging.getLogger(__name__)

# After the first failure of a run of them, one log line per this many.
_LOG_EVERY = 300


class MeterSampler:
    """Samples ``meter`` every ``interval_s`` into ``store`` until :meth:`stop`.

    Capabilities are asked once, with ``isinstance`` on the runtime-checkable
    protocols: without ``EnergyMeter`` the registers are stored as NULL (the
    rollups integrate power instead), without ``PhaseCurrents`` the currents.
    """

    def __init__(
        self,
        meter: Meter,
        clock: Clock,
        store: MeteringStore,
        interval_s: float = 1.0,
        *,
        flush_every_s: float = 5.0,
        retention_every_s: float = 3600.0,
    ) -> None:
        for name, value in (
            ("interval_s", interval_s),
            ("flush_every_s", flush_every_s),
            ("retention_every_s", retention_every_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self._meter = meter
        self._registers = meter if isinstance(meter, EnergyMeter) else None
        self._currents = meter if isinstance(meter, PhaseCurrents) else None
        self._clock = clock
        self._store = store
        self._interval_s = interval_s
        self._flush_every_s = flush_every_s
        self._retention_every_s = retention_every_s
        self._read_failures = 0
        self._flush_failures = 0
        self._stopped = False
        self._alarm = Alarm(clock)

    def read(self) -> Sample | None:
        """Read the meter now; None (logged) when a read raises or is not a finite number."""
        try:
            sample = self._read()
            problem = sample_problem(sample)
            if problem is not None:
                raise ValueError(problem)
        except Exception as exc:
            self._read_failures += 1
            if self._read_failures % _LOG_EVERY == 1:
                _log.warning(
                    "meter read failed (%d in a row), sample skipped: %s", self._read_failures, exc
                )
            return None
        if self._read_failures:
            _log.info("meter reads recovered after %d failures", self._read_failures)
            self._read_failures = 0
        return sample

    def _read(self) -> Sample:
        # float() turns whatever the driver returned (int, Decimal, numpy) into the
        # float we store, and refuses None or text with an error.
        ts_ms = epoch_ms(self._clock.now())
        power_w = float(self._meter.power_w())
        import_wh = export_wh = None
        l1 = l2 = l3 = None
        if self._registers is not None:
            import_wh = float(self._registers.energy_import_wh())
            export_wh = float(self._registers.energy_export_wh())
        if self._currents is not None:
            l1, l2, l3 = (float(amps) for amps in self._currents.currents_a())
        return Sample(ts_ms, power_w, import_wh, export_wh, l1, l2, l3)

    async def run(self) -> None:
        """Sample until :meth:`stop`; the last batch is committed on the way out."""
        clock = self._clock
        start = clock.monotonic()
        ticks = 0
        next_flush = start + self._flush_every_s
        next_retention = start  # once at start: a charger off for a week catches up
        try:
            while not self._stopped:
                now = clock.monotonic()
                if now >= next_retention:
                    self._enforce_retention()
                    next_retention = now + self._retention_every_s
                sample = self.read()
                if sample is not None:
                    self._append(sample)
                if now >= next_flush:
                    self._flush()
                    next_flush = now + self._flush_every_s
                # Ticks on a fixed grid from the start, so the cadence does not drift
                # by the time each read takes. A tick that is late is taken at once;
                # ticks a stalled loop missed entirely are skipped, not caught up
                # in a burst of readings of the same instant.
                ticks += 1
                late = clock.monotonic() - (start + ticks * self._interval_s)
                if late >= self._interval_s:
                    ticks += int(late // self._interval_s)
                delay = start + ticks * self._interval_s - clock.monotonic()
                await self._alarm.sleep(delay)
        finally:
            self._flush()

    def stop(self) -> None:
        """End :meth:`run` promptly (it commits what it has before returning)."""
        self._stopped = True
        self._alarm.wake()

    def _enforce_retention(self) -> None:
        try:
            result = self._store.enforce_retention(self._clock.now())
        except Exception:
            _log.exception("metering retention failed; retried at the next run")
            return
        if any((result.raw_samples, result.minute_rollups, result.sessions)):
            _log.info("metering retention: %s", result)

    def _append(self, sample: Sample) -> None:
        try:
            self._store.append(sample)
        except Exception:
            _log.exception("metering store refused a sample; skipped")

    def _flush(self) -> None:
        try:
            self._store.flush()
        except Exception:
            # The batch stays pending in the store and goes with the next flush.
            self._flush_failures += 1
            if self._flush_failures % _LOG_EVERY == 1:
                _log.exception("metering commit failed (%d in a row)", self._flush_failures)
            return
        if self._flush_failures:
            _log.info("metering commits recovered after %d failures", self._flush_failures)
            self._flush_failures = 0
