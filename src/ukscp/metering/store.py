"""The metering store of regulation 9: samples, rollups and sessions in SQLite.

Raw 1 s samples are kept for a short window (48 h by default); minute and hour
rollups and per-session records for 13 months, then deleted
(:meth:`MeteringStore.enforce_retention`). Everything lives in its own WAL
database, written in batches: one transaction holds a batch of samples, the
minutes they completed and the rollup state after them, so after a hard kill
the file holds every committed batch, whole, and rollups that agree with it.

Threads: the sampler and the event bus call in from the event loop, the web
API may query from a worker thread. Writes go through one connection and one
lock; queries through a second connection (WAL readers never block the writer).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

from ukscp.events import EventBus, LimitChanged, OfferedCurrentChanged, SessionEnded, SessionStarted
from ukscp.metering.buckets import (
    HOUR_S,
    MINUTE_S,
    Resolution,
    check_query_time,
    check_resolution,
    epoch_ms,
    epoch_s,
    hour_of,
    local_day_starts,
    local_from_ms,
    local_from_s,
    local_midnight,
    minute_of,
    months_before,
)
from ukscp.metering.export import HistoryRow, csv_lines
from ukscp.metering.rollup import (
    DEFAULT_MAX_GAP_S,
    AccumulatorState,
    Rollup,
    RollupAccumulator,
    Sample,
    fold_rows,
    interval_energy,
    merge_buckets,
    sample_problem,
    to_hours,
)
from ukscp.storage import erasing, open_database

_log = logging.getLogger(__name__)

METERING_FILE = "metering.sqlite3"
SCHEMA_VERSION = 1
DEFAULT_RAW_WINDOW_S = 48 * 3600.0
DEFAULT_RETENTION_MONTHS = 13

# A batch is committed by itself once this many samples are waiting.
_AUTO_FLUSH_SAMPLES = 1000
# Samples waiting for a commit are capped: if the disk refuses writes for hours,
# the oldest raw samples go first (their energy is already in the rollups).
_MAX_PENDING_SAMPLES = 6 * 3600
# Rows fetched per query page when streaming history.
_PAGE = 5000
# SQLite integers are signed 64-bit: a larger offset is refused in words, not by the driver.
MAX_SQL_INTEGER = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    ts_ms     INTEGER PRIMARY KEY,  -- UTC epoch milliseconds
    power_w   REAL NOT NULL,        -- signed: import > 0, export < 0
    import_wh REAL,                 -- registers; NULL when the meter has none
    export_wh REAL,
    l1_a      REAL,                 -- phase currents; NULL when not measured
    l2_a      REAL,
    l3_a      REAL
);
CREATE TABLE IF NOT EXISTS minute_rollups (
    start_s       INTEGER PRIMARY KEY,  -- UTC epoch seconds, a multiple of 60
    samples       INTEGER NOT NULL,
    power_sum_w   REAL NOT NULL,
    max_power_w   REAL,
    max_current_a REAL,
    import_wh     REAL NOT NULL,
    export_wh     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS hour_rollups (
    start_s       INTEGER PRIMARY KEY,  -- UTC epoch seconds, a multiple of 3600
    samples       INTEGER NOT NULL,
    power_sum_w   REAL NOT NULL,
    max_power_w   REAL,
    max_current_a REAL,
    import_wh     REAL NOT NULL,
    export_wh     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id              INTEGER PRIMARY KEY,
    session_id      TEXT NOT NULL UNIQUE,
    started_ms      INTEGER NOT NULL,
    stopped_ms      INTEGER,
    start_import_wh REAL,
    start_export_wh REAL,
    import_wh       REAL,
    export_wh       REAL,
    duration_s      REAL,
    peak_power_w    REAL,
    end_reason      TEXT
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_ms);
CREATE TABLE IF NOT EXISTS rate_changes (
    id             INTEGER PRIMARY KEY,
    session        INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    at_ms          INTEGER NOT NULL,
    kind           TEXT NOT NULL,  -- initial | limit | offered
    amps           REAL NOT NULL,
    phases         INTEGER NOT NULL,
    source         TEXT NOT NULL,
    cause          TEXT NOT NULL,
    binding_source TEXT
);
CREATE INDEX IF NOT EXISTS rate_changes_session ON rate_changes (session);
"""

_INSERT_SAMPLE = (
    # A wall clock stepped back can repeat a millisecond: the first reading stays.
    "INSERT OR IGNORE INTO samples (ts_ms, power_w, import_wh, export_wh, l1_a, l2_a, l3_a)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


# Merging, not replacing: a bucket written in two parts (a restart within the
# minute, a clock step) sums up as if it had been written once. Same sums as
# rollup.merge. SQLite's two-argument max() is NULL if either side is.
_UPSERT_TEMPLATE = """
INSERT INTO TABLE_NAME
    (start_s, samples, power_sum_w, max_power_w, max_current_a, import_wh, export_wh)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (start_s) DO UPDATE SET
    samples = samples + excluded.samples,
    power_sum_w = power_sum_w + excluded.power_sum_w,
    max_power_w = coalesce(max(max_power_w, excluded.max_power_w),
                           max_power_w, excluded.max_power_w),
    max_current_a = coalesce(max(max_current_a, excluded.max_current_a),
                             max_current_a, excluded.max_current_a),
    import_wh = import_wh + excluded.import_wh,
    export_wh = export_wh + excluded.export_wh
"""
_PAGE_TEMPLATE = (
    # One page of rollups, keyset-paginated.
    "SELECT start_s, samples, power_sum_w, max_power_w, max_current_a, import_wh, export_wh"
    " FROM TABLE_NAME WHERE start_s >= ? AND start_s < ? ORDER BY start_s LIMIT ?"
)
# The two rollup tables share their shape; the names are constants, never input.
_UPSERT_MINUTE = _UPSERT_TEMPLATE.replace("TABLE_NAME", "minute_rollups")
_UPSERT_HOUR = _UPSERT_TEMPLATE.replace("TABLE_NAME", "hour_rollups")
_PAGE_MINUTES = _PAGE_TEMPLATE.replace("TABLE_NAME", "minute_rollups")
_PAGE_HOURS = _PAGE_TEMPLATE.replace("TABLE_NAME", "hour_rollups")
_TAIL_TEMPLATE = (
    # The newest rollups, from the oldest bucket still in memory on.
    "SELECT start_s, samples, power_sum_w, max_power_w, max_current_a, import_wh, export_wh"
    " FROM TABLE_NAME WHERE start_s >= ? ORDER BY start_s"
)
_TAIL_MINUTES = _TAIL_TEMPLATE.replace("TABLE_NAME", "minute_rollups")
_TAIL_HOURS = _TAIL_TEMPLATE.replace("TABLE_NAME", "hour_rollups")


_PAGE_SAMPLES = (
    "SELECT ts_ms, power_w, import_wh, export_wh, l1_a, l2_a, l3_a FROM samples"
    " WHERE ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms LIMIT ?"
)
_SAMPLE_AFTER = (
    "SELECT ts_ms, power_w, import_wh, export_wh, l1_a, l2_a, l3_a FROM samples"
    " WHERE ts_ms >= ? ORDER BY ts_ms LIMIT 1"
)
_SESSIONS_PAGE = (
    "SELECT id, session_id, started_ms, stopped_ms, import_wh, export_wh, duration_s,"
    " peak_power_w, end_reason, start_import_wh, start_export_wh FROM sessions"
    " ORDER BY started_ms DESC, id DESC LIMIT ? OFFSET ?"
)
_RATES_OF_PAGE = (
    "SELECT session, at_ms, kind, amps, phases, source, cause, binding_source FROM rate_changes"
    " WHERE session IN (SELECT id FROM sessions ORDER BY started_ms DESC, id DESC"
    " LIMIT ? OFFSET ?) ORDER BY at_ms, id"
)


@dataclass(frozen=True, slots=True)
class RateChange:
    """A change of charging rate during a session, with who caused it and why.

    ``kind`` is ``initial`` (the offer when the session began), ``limit`` (the
    arbitrated limit changed; ``binding_source`` is the source now binding) or
    ``offered`` (the current offered to the EV changed; ``cause`` is the reason
    of the latest limit change from the same source, if any).
    """

    at: datetime
    kind: str
    amps: float
    phases: int
    source: str
    cause: str
    binding_source: str | None = None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A charging session as kept for the owner.

    ``stopped_at`` is None while the session is open; an open session's
    energy and peak are those measured so far. ``end_reason`` is ``unplugged``,
    or ``interrupted`` when the charger stopped (or died) during the session.
    """

    session_id: str
    started_at: datetime
    stopped_at: datetime | None
    import_wh: float | None
    export_wh: float | None
    duration_s: float | None
    peak_power_w: float | None
    end_reason: str | None
    rate_changes: tuple[RateChange, ...]

    @property
    def import_kwh(self) -> float | None:
        """Energy delivered to the EV, kWh."""
        return None if self.import_wh is None else self.import_wh / 1000.0

    @property
    def export_kwh(self) -> float | None:
        """Energy exported by the EV, kWh."""
        return None if self.export_wh is None else self.export_wh / 1000.0


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """Rows deleted by one run of :meth:`MeteringStore.enforce_retention`."""

    raw_samples: int
    minute_rollups: int
    hour_rollups: int
    sessions: int


@dataclass(frozen=True, slots=True)
class DeletedPersonalData:
    """What :meth:`MeteringStore.delete_personal_data` deleted."""

    sessions: int
    rate_changes: int


@dataclass
class _OpenSession:
    row_id: int
    session_id: str
    started_ms: int
    start_import_wh: float | None
    start_export_wh: float | None
    peak_power_w: float | None = None
    dirty: bool = False  # peak or export baseline changed since the last commit


@dataclass(frozen=True, slots=True)
class _Live:
    """What the store holds in memory at the moment of a query, for the query to add
    to the file's rows.

    Buckets from minute ``tail_s`` on are taken from ``minutes`` and ``hours``: the
    file's rows merged with memory, read together under the writer's lock, so no
    commit falls in between and nothing is counted twice. Earlier buckets come
    straight from the file. ``open_s`` is the minute in progress (None: none).
    """

    samples: tuple[tuple[Any, ...], ...] = ()  # rows, as the file's
    reading: Sample | None = None
    open_s: int | None = None
    tail_s: int | None = None
    minutes: tuple[Rollup, ...] = ()
    hours: tuple[Rollup, ...] = ()


class MeteringStore:
    """Samples, rollups and sessions of one charger, in the SQLite file at ``path``.

    ``raw_window_s`` is how long raw samples are kept; ``retention_months``
    how many calendar months rollups and sessions are kept (at least 13: the
    regulation asks for 12 months of history and a month of margin keeps a
    whole year visible at any day of the month). ``max_gap_s`` is the longest
    interval between samples whose energy is shared out in time (longer ones
    go to the minute of the later sample).
    """

    def __init__(
        self,
        path: Path,
        *,
        raw_window_s: float = DEFAULT_RAW_WINDOW_S,
        retention_months: int = DEFAULT_RETENTION_MONTHS,
        max_gap_s: float = DEFAULT_MAX_GAP_S,
    ) -> None:
        if not raw_window_s > 0:
            raise ValueError(f"raw_window_s must be > 0, got {raw_window_s!r}")
        if retention_months < 13:
            raise ValueError(f"retention_months must be >= 13, got {retention_months!r}")
        self._path = path
        self._raw_window_ms = int(raw_window_s * 1000)
        self._retention_months = retention_months
        self._max_gap_s = max_gap_s
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._db = open_database(path, _SCHEMA)
        self._check_schema_version()
        self._reader = open_database(path, "")
        self._acc = RollupAccumulator(self._load_state(), max_gap_s=max_gap_s)
        self._pending_samples: list[tuple[Any, ...]] = []
        self._pending_minutes: list[Rollup] = []
        self._state_dirty = False
        self._dropped = 0
        self._session: _OpenSession | None = None
        self._offered: tuple[float, int, str] | None = None
        self._limit_reasons: dict[str, str] = {}
        self._closed = False
        self._close_interrupted_sessions()

    # -- samples -----------------------------------------------------------------------

    def append(self, sample: Sample) -> None:
        """Take one sample (in time order); it is durable after the next :meth:`flush`.

        Raises ValueError for a non-finite or negative reading, which would
        otherwise become a garbage row.
        """
        problem = sample_problem(sample)
        if problem is not None:
            raise ValueError(f"sample at {sample.ts_ms} ms refused: {problem}")
        with self._lock:
            self._pending_samples.append(
                (
                    sample.ts_ms,
                    sample.power_w,
                    sample.import_wh,
                    sample.export_wh,
                    sample.l1_a,
                    sample.l2_a,
                    sample.l3_a,
                )
            )
            self._pending_minutes.extend(self._acc.add(sample))
            self._state_dirty = True
            session = self._session
            if session is not None:
                if session.peak_power_w is None or sample.power_w > session.peak_power_w:
                    session.peak_power_w = sample.power_w
                    session.dirty = True
                if session.start_export_wh is None and sample.export_wh is not None:
                    # The session began before the first sample (an EV plugged in as
                    # the charger started): its first export reading is the baseline.
                    session.start_export_wh = sample.export_wh
                    session.dirty = True
            pending = len(self._pending_samples)
            if pending % _AUTO_FLUSH_SAMPLES == 0:
                # A caller that feeds many samples between flushes (a bulk import)
                # still writes in bounded batches.
                try:
                    self._flush_locked()
                except sqlite3.Error:
                    _log.exception("metering: commit of %d pending samples failed", pending)
            if len(self._pending_samples) > _MAX_PENDING_SAMPLES:
                del self._pending_samples[0]
                self._dropped += 1
                if self._dropped % _AUTO_FLUSH_SAMPLES == 1:
                    _log.error("metering: %d raw samples dropped, commits fail", self._dropped)

    def extend(self, samples: list[Sample]) -> None:
        """:meth:`append` each of ``samples``."""
        for sample in samples:
            self.append(sample)

    def flush(self) -> int:
        """Commit the samples taken since the last flush, with the minutes they
        completed, in one transaction; returns how many samples were committed."""
        with self._lock:
            return self._flush_locked()

    @property
    def pending(self) -> int:
        """Samples taken but not yet committed."""
        return len(self._pending_samples)

    def _flush_locked(self) -> int:
        if not (self._pending_samples or self._pending_minutes or self._state_dirty):
            return 0
        samples, minutes = self._pending_samples, self._pending_minutes
        session = self._session
        state = json.dumps(self._acc.state.to_json(), separators=(",", ":"))
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_INSERT_SAMPLE, samples)
            if minutes:
                db.executemany(_UPSERT_MINUTE, [_rollup_params(m) for m in minutes])
                db.executemany(_UPSERT_HOUR, [_rollup_params(h) for h in to_hours(minutes)])
            db.execute(
                "INSERT INTO rollup_state (id, state) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                (state,),
            )
            if session is not None and session.dirty:
                db.execute(
                    "UPDATE sessions SET peak_power_w = ?, start_export_wh = ? WHERE id = ?",
                    (session.peak_power_w, session.start_export_wh, session.row_id),
                )
            db.execute("COMMIT")
        except BaseException:
            # Nothing of the batch is written; it stays pending for the next flush.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._pending_samples, self._pending_minutes = [], []
        self._state_dirty = False
        if session is not None:
            session.dirty = False
        return len(samples)

    def close(self) -> None:
        """Complete the open minute, commit everything, checkpoint and close.

        The last sample stays in the saved state, so energy that flows before
        the next start still lands in the right place.
        """
        with self._lock:
            if self._closed:
                return
            closed = self._acc.close_minute()
            if closed is not None:
                self._pending_minutes.append(closed)
                self._state_dirty = True
            self._flush_locked()
            self._closed = True
            with self._read_lock:
                self._reader.close()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- sessions (from the event bus) -------------------------------------------------

    def attach(self, bus: EventBus) -> None:
        """Record sessions and their rate changes from ``bus`` from now on."""
        bus.subscribe(SessionStarted, self.on_session_started)
        bus.subscribe(SessionEnded, self.on_session_ended)
        bus.subscribe(LimitChanged, self.on_limit_changed)
        bus.subscribe(OfferedCurrentChanged, self.on_offered_current_changed)

    def on_session_started(self, event: SessionStarted) -> None:
        """Open a session record, with the rate offered at its start."""
        at_ms = epoch_ms(event.at)
        with self._lock:
            last = self._acc.last
            start_export = last.export_wh if last is not None else None
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                inserted = db.execute(
                    "INSERT INTO sessions (session_id, started_ms, start_import_wh,"
                    " start_export_wh) VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING",
                    (event.session_id, at_ms, event.energy_register_wh, start_export),
                )
                row_id = inserted.lastrowid if inserted.rowcount == 1 else None
                if row_id is not None and self._offered is not None:
                    amps, phases, source = self._offered
                    db.execute(
                        "INSERT INTO rate_changes (session, at_ms, kind, amps, phases, source,"
                        " cause) VALUES (?, ?, 'initial', ?, ?, ?, ?)",
                        (row_id, at_ms, amps, phases, source, self._limit_reasons.get(source, "")),
                    )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            if row_id is None:
                _log.warning("metering: session %s was already recorded", event.session_id)
                return
            self._session = _OpenSession(
                row_id=row_id,
                session_id=event.session_id,
                started_ms=at_ms,
                start_import_wh=event.energy_register_wh,
                start_export_wh=start_export,
            )

    def on_session_ended(self, event: SessionEnded) -> None:
        """Close the session record with its energy, duration and peak power."""
        with self._lock:
            session = self._session
            if session is None or session.session_id != event.session_id:
                return  # not ours (started before we attached, or deleted by the owner)
            last = self._acc.last
            export_wh = _delta(session.start_export_wh, last.export_wh if last else None)
            self._db.execute(
                "UPDATE sessions SET stopped_ms = ?, import_wh = ?, export_wh = ?,"
                " duration_s = ?, peak_power_w = ?, end_reason = 'unplugged' WHERE id = ?",
                (
                    epoch_ms(event.at),
                    event.energy_wh,
                    export_wh,
                    event.duration_s,
                    session.peak_power_w,
                    session.row_id,
                ),
            )
            self._session = None

    def on_limit_changed(self, event: LimitChanged) -> None:
        """Record a change of the arbitrated limit in the open session."""
        with self._lock:
            self._limit_reasons[event.source] = event.reason
            self._record_rate(
                event.at,
                "limit",
                event.new_amps,
                event.new_phases,
                event.source,
                event.reason,
                event.binding_source,
            )

    def on_offered_current_changed(self, event: OfferedCurrentChanged) -> None:
        """Record a change of the current offered to the EV in the open session."""
        with self._lock:
            self._offered = (event.amps, event.phases, event.source)
            cause = self._limit_reasons.get(event.source, "")
            self._record_rate(event.at, "offered", event.amps, event.phases, event.source, cause)

    def _record_rate(
        self,
        at: datetime,
        kind: str,
        amps: float,
        phases: int,
        source: str,
        cause: str,
        binding_source: str | None = None,
    ) -> None:
        if self._session is None:
            return  # no session, no rate to record (the event history has it)
        self._db.execute(
            "INSERT INTO rate_changes (session, at_ms, kind, amps, phases, source, cause,"
            " binding_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._session.row_id, epoch_ms(at), kind, amps, phases, source, cause, binding_source),
        )

    def _close_interrupted_sessions(self) -> None:
        # A session still open in the file was cut short by a stop or a crash:
        # close it at the last sample we have, with the energy up to then.
        last = self._acc.last
        last_ms = last.ts_ms if last else None
        last_import = last.import_wh if last else None
        last_export = last.export_wh if last else None
        self._db.execute(
            """
            UPDATE sessions SET
                stopped_ms = max(started_ms, coalesce(:ms, started_ms)),
                duration_s = (max(started_ms, coalesce(:ms, started_ms)) - started_ms) / 1000.0,
                import_wh = CASE WHEN :imp IS NOT NULL AND start_import_wh IS NOT NULL
                                 THEN max(0.0, :imp - start_import_wh) END,
                export_wh = CASE WHEN :exp IS NOT NULL AND start_export_wh IS NOT NULL
                                 THEN max(0.0, :exp - start_export_wh) END,
                end_reason = 'interrupted'
            WHERE stopped_ms IS NULL
            """,
            {"ms": last_ms, "imp": last_import, "exp": last_export},
        )

    # -- retention and deletion --------------------------------------------------------

    def enforce_retention(self, now: datetime) -> RetentionResult:
        """Delete raw samples older than the raw window, and rollups and sessions
        older than the retention months, as of ``now``. Nothing younger goes.

        A rollup goes once all of it is older than the horizon; a session once
        it ended before the horizon (its rate changes go with it).
        """
        horizon_s = epoch_s(months_before(now, self._retention_months))
        raw_before_ms = epoch_ms(now) - self._raw_window_ms
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                raw = db.execute("DELETE FROM samples WHERE ts_ms < ?", (raw_before_ms,)).rowcount
                minutes = db.execute(
                    "DELETE FROM minute_rollups WHERE start_s <= ?", (horizon_s - MINUTE_S,)
                ).rowcount
                hours = db.execute(
                    "DELETE FROM hour_rollups WHERE start_s <= ?", (horizon_s - HOUR_S,)
                ).rowcount
                sessions = db.execute(
                    "DELETE FROM sessions WHERE stopped_ms IS NOT NULL AND stopped_ms < ?",
                    (horizon_s * 1000,),
                ).rowcount
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return RetentionResult(raw, minutes, hours, sessions)

    def delete_personal_data(self) -> DeletedPersonalData:
        """Delete every session record and rate change (the owner's request).

        The open session, if any, is forgotten too: nothing more is recorded
        about it. Deleted content is overwritten and the WAL truncated, so it
        does not linger in the files. Energy history (rollups) is kept: it is
        the measuring system of regulation 9, tied to the charger, not to a
        person's sessions.
        """
        with self._lock, self._read_lock, erasing(self._db):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                rates = db.execute("DELETE FROM rate_changes").rowcount
                sessions = db.execute("DELETE FROM sessions").rowcount
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._session = None
        return DeletedPersonalData(sessions=sessions, rate_changes=rates)

    # -- queries -----------------------------------------------------------------------

    def history(
        self,
        start: datetime,
        end: datetime,
        resolution: str = "1h",
        *,
        reading: Sample | None = None,
    ) -> list[HistoryRow]:
        """Buckets of ``resolution`` (1s, 1m, 1h or 1d) from ``start`` to ``end``.

        ``start`` is rounded down to its bucket; buckets starting before ``end``
        are included; buckets with nothing recorded are left out. 1 s rows come
        from the raw samples (so only within the raw window), 1 m from the
        minute rollups, 1 h from the hour rollups (the minute rollups summed as
        they completed), 1 d from the hours of each Europe/London day: 23 or
        25 hours on clock-change days.

        Samples taken but not committed yet count, and so does the minute in
        progress: its bucket (and the 1 s row of the newest sample) is marked
        ``partial``. ``reading``, a meter reading taken for this query and never
        stored, adds the energy that flowed since the newest sample, so the
        figures are those measured up to the moment of the query.
        """
        return list(self.iter_history(start, end, resolution, reading=reading))

    def iter_history(
        self,
        start: datetime,
        end: datetime,
        resolution: str = "1h",
        *,
        reading: Sample | None = None,
    ) -> Iterator[HistoryRow]:
        """:meth:`history`, lazily, a page of rows at a time (what is in memory is
        taken now, at the call)."""
        checked = check_resolution(resolution)
        start_ms = epoch_ms(check_query_time("from", start))
        end_ms = epoch_ms(check_query_time("to", end))
        end_s = -(-end_ms // 1000)  # buckets starting before end, to the millisecond
        live = self._live(reading)
        if checked == "1s":
            return self._iter_raw(start_ms, end_ms, live)
        if checked == "1m":
            return self._iter_buckets(
                _PAGE_MINUTES, minute_of(start_ms), end_s, live.tail_s, live.minutes, live.open_s
            )
        if checked == "1h":
            return self._iter_buckets(
                _PAGE_HOURS,
                hour_of(start_ms // 1000),
                end_s,
                _optional(hour_of, live.tail_s),
                live.hours,
                _optional(hour_of, live.open_s),
            )
        return self._iter_days(start_ms // 1000, end_s, live)

    def export_csv(
        self,
        start: datetime,
        end: datetime,
        resolution: str = "1m",
        *,
        reading: Sample | None = None,
    ) -> Iterator[str]:
        """CSV lines (header first) of :meth:`history`, streamed page by page."""
        checked: Resolution = check_resolution(resolution)
        rows = self.iter_history(start, end, checked, reading=reading)
        return csv_lines(rows, milliseconds=checked == "1s")

    def sessions(self, limit: int = 50, offset: int = 0) -> list[SessionRecord]:
        """Sessions, newest first, each with its rate changes in order."""
        for name, value in (("limit", limit), ("offset", offset)):
            if not 0 <= value <= MAX_SQL_INTEGER:
                raise ValueError(f"{name} must be a whole number from 0 to {MAX_SQL_INTEGER}")
        with self._lock:
            live = self._session
            live_peak = live.peak_power_w if live else None
            live_export = live.start_export_wh if live else None
            last = self._acc.last
        with self._read_lock:
            # One read lock, so the page and its rate changes are one snapshot.
            rows = self._reader.execute(_SESSIONS_PAGE, (limit, offset)).fetchall()
            rate_rows = self._reader.execute(_RATES_OF_PAGE, (limit, offset)).fetchall()
        rates: dict[int, list[RateChange]] = {row[0]: [] for row in rows}
        for session, at_ms, kind, amps, phases, source, cause, binding in rate_rows:
            if session in rates:
                rates[session].append(
                    RateChange(local_from_ms(at_ms), kind, amps, phases, source, cause, binding)
                )
        records = []
        for row in rows:
            row_id, session_id, started_ms, stopped_ms, imp, exp, duration, peak, reason = row[:9]
            if live is not None and row_id == live.row_id and last is not None:
                # The open session, measured up to the latest sample.
                imp = _delta(row[9], last.import_wh)
                exp = _delta(live_export, last.export_wh)
                duration = max(0.0, (last.ts_ms - started_ms) / 1000.0)
                peak = live_peak
            records.append(
                SessionRecord(
                    session_id=session_id,
                    started_at=local_from_ms(started_ms),
                    stopped_at=None if stopped_ms is None else local_from_ms(stopped_ms),
                    import_wh=imp,
                    export_wh=exp,
                    duration_s=duration,
                    peak_power_w=peak,
                    end_reason=reason,
                    rate_changes=tuple(rates[row_id]),
                )
            )
        return records

    def _live(self, reading: Sample | None) -> _Live:
        """Take what is in memory now, with the file's rows of the same buckets."""
        with self._lock:
            samples = tuple(self._pending_samples)
            last = self._acc.last
            if last is None:
                return _Live(samples)
            in_memory = list(self._pending_minutes)
            acc = RollupAccumulator(self._acc.state, max_gap_s=self._max_gap_s)
            if reading is not None and reading.ts_ms > last.ts_ms:
                in_memory += acc.measure_until(reading)
            else:
                reading = None
            open_minute = acc.state.open_minute
            if open_minute is not None:
                in_memory.append(open_minute)
            if not in_memory:
                return _Live(samples, reading)
            tail_s = min(minute.start_s for minute in in_memory)
            with self._read_lock:
                file_minutes = self._reader.execute(_TAIL_MINUTES, (tail_s,)).fetchall()
                file_hours = self._reader.execute(_TAIL_HOURS, (hour_of(tail_s),)).fetchall()
        minutes = merge_buckets([*(Rollup(*row) for row in file_minutes), *in_memory])
        hours = merge_buckets([*(Rollup(*row) for row in file_hours), *to_hours(in_memory)])
        return _Live(
            samples=samples,
            reading=reading,
            open_s=None if open_minute is None else open_minute.start_s,
            tail_s=tail_s,
            minutes=tuple(minutes),
            hours=tuple(hours),
        )

    def _iter_raw(self, start_ms: int, end_ms: int, live: _Live) -> Iterator[HistoryRow]:
        # Each 1 s row carries the energy of the interval up to the next sample,
        # as the minute rollups count it.
        prev: Sample | None = None
        carried = (0.0, 0.0)  # energy of a gap or clock step, shown on the later row
        for page in self._sample_pages(start_ms, end_ms, live.samples):
            for row in page:
                sample = Sample(*row)
                if prev is not None:
                    row_out, carried = self._raw_row(prev, sample, carried)
                    yield row_out
                if sample.ts_ms >= end_ms:
                    return
                prev = sample
        if prev is None:
            return
        # No sample after ``prev``: its interval is still open, measured up to the
        # reading of this query if there is one.
        reading = live.reading
        if reading is not None and reading.ts_ms > prev.ts_ms:
            row_out, _ = self._raw_row(prev, reading, carried)
        else:
            row_out = _sample_row(prev, *carried)
        yield replace(row_out, partial=True)

    def _sample_pages(
        self, start_ms: int, end_ms: int, in_memory: tuple[tuple[Any, ...], ...]
    ) -> Iterator[list[Any]]:
        """Rows of the samples from ``start_ms`` in time order, a page at a time:
        committed ones first, then those still in memory; at least up to the first
        one at or after ``end_ms``."""
        newest: int | None = None
        cursor = start_ms
        while True:
            page = self._read(_PAGE_SAMPLES, (cursor, end_ms, _PAGE))
            if len(page) < _PAGE:
                page += self._read(_SAMPLE_AFTER, (end_ms,))
            if page:
                newest = page[-1][0]
            yield page
            if len(page) < _PAGE:
                break
            cursor = page[-1][0] + 1
        # A sample committed while this query ran came from the file already.
        after = start_ms if newest is None else max(start_ms, newest + 1)
        yield [row for row in in_memory if row[0] >= after]

    def _raw_row(
        self, sample: Sample, following: Sample, carried: tuple[float, float]
    ) -> tuple[HistoryRow, tuple[float, float]]:
        imported, exported = interval_energy(sample, following, self._max_gap_s)
        dt_ms = following.ts_ms - sample.ts_ms
        if 0 < dt_ms <= self._max_gap_s * 1000:
            return _sample_row(sample, imported + carried[0], exported + carried[1]), (0.0, 0.0)
        return _sample_row(sample, *carried), (imported, exported)

    def _iter_buckets(
        self,
        query: str,
        start_s: int,
        end_s: int,
        tail_s: int | None,
        in_memory: tuple[Rollup, ...],
        open_s: int | None,
    ) -> Iterator[HistoryRow]:
        """Minute or hour rows: from the file up to ``tail_s``, then from memory."""
        file_end = end_s if tail_s is None else min(end_s, tail_s)
        newest = [
            _open_row(rollup, open_s)
            for rollup in in_memory
            if start_s <= rollup.start_s < end_s
        ]
        return chain(map(_rollup_row, self._iter_rollups(query, start_s, file_end)), newest)

    def _iter_rollups(self, query: str, start_s: int, end_s: int) -> Iterator[Rollup]:
        return (Rollup(*row) for row in self._iter_rollup_rows(query, start_s, end_s))

    def _iter_rollup_rows(self, query: str, start_s: int, end_s: int) -> Iterator[Any]:
        cursor = start_s
        while True:
            page = self._read(query, (cursor, end_s, _PAGE))
            yield from page
            if len(page) < _PAGE:
                return
            cursor = page[-1][0] + 1

    def _iter_days(self, start_s: int, end_s: int, live: _Live) -> Iterator[HistoryRow]:
        bounds = local_day_starts(start_s, end_s)
        first, tail = bounds[0], _optional(hour_of, live.tail_s)
        file_end = end_s if tail is None else min(end_s, tail)
        hours = chain(
            self._iter_rollup_rows(_PAGE_HOURS, first, file_end),
            (_rollup_params(hour) for hour in live.hours if first <= hour.start_s < end_s),
        )
        open_day = _optional(local_midnight, live.open_s)
        return (_open_row(day, open_day) for day in fold_rows(hours, bounds))

    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        # One page per lock hold: a slow consumer of a streamed export never
        # holds up other queries.
        with self._read_lock:
            return self._reader.execute(query, params).fetchall()

    # -- state -------------------------------------------------------------------------

    def _check_schema_version(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise RuntimeError(
                f"{self._path} has metering schema {version}; this ukscp knows {SCHEMA_VERSION}"
            )
        if version < SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _load_state(self) -> AccumulatorState:
        row = self._db.execute("SELECT state FROM rollup_state WHERE id = 1").fetchone()
        return AccumulatorState.from_json(json.loads(row[0])) if row else AccumulatorState()

    @property
    def last_sample(self) -> Sample | None:
        """The latest sample taken (committed or not), for a live reading."""
        with self._lock:
            return self._acc.last

    @property
    def rollup_state(self) -> AccumulatorState:
        """The accumulator's state: the last sample taken and the open minute."""
        with self._lock:
            return self._acc.state


def _optional(convert: Callable[[int], int], seconds: int | None) -> int | None:
    return None if seconds is None else convert(seconds)


def _delta(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    return max(0.0, after - before)


def _rollup_params(rollup: Rollup) -> tuple[Any, ...]:
    return (
        rollup.start_s,
        rollup.samples,
        rollup.power_sum_w,
        rollup.max_power_w,
        rollup.max_current_a,
        rollup.import_wh,
        rollup.export_wh,
    )


def _rollup_row(rollup: Rollup) -> HistoryRow:
    # Once per row of a long history: positional, and ``partial`` left to its default.
    return HistoryRow(
        local_from_s(rollup.start_s),
        rollup.import_wh,
        rollup.export_wh,
        rollup.mean_power_w,
        rollup.max_power_w,
        rollup.max_current_a,
    )


def _open_row(rollup: Rollup, open_s: int | None) -> HistoryRow:
    """The row of ``rollup``, marked partial if it is the bucket in progress."""
    row = _rollup_row(rollup)
    return replace(row, partial=True) if rollup.start_s == open_s else row


def _sample_row(sample: Sample, imported: float, exported: float) -> HistoryRow:
    return HistoryRow(
        start=local_from_ms(sample.ts_ms),
        import_wh=imported,
        export_wh=exported,
        mean_power_w=sample.power_w,
        max_power_w=sample.power_w,
        max_current_a=sample.max_current_a,
    )
