"""The security log of Schedule 1: append-only, hash-chained, in its own SQLite file.

Every record carries the SHA-256 of the record before it, so editing, deleting
or inserting a record breaks the chain at that record and :meth:`SecurityLog.verify`
(or :func:`verify_file`, for ``ukscp seclog verify``) names it.

Canonical serialisation (format version 1), hashed with SHA-256, hex digest::

    json.dumps({"critical": bool, "id": int, "info": str, "prev_hash": str,
                "timestamp": str, "type": str},
               sort_keys=True, separators=(",", ":"), ensure_ascii=True)

encoded as ASCII, where ``timestamp`` is the stored text, UTC, ISO 8601 with
microseconds (``2026-01-05T00:00:00.000000+00:00``). ``hash`` is the digest of
the record's own serialisation; ``prev_hash`` is the previous record's ``hash``,
or :data:`GENESIS_HASH` for record 1. Ids are consecutive from 1, so a deleted
record leaves a gap. The ``delivered`` flag (sent to the CSMS yet?) is outside
the hash because it changes after the fact.

Retention (:meth:`SecurityLog.rotate`) deletes a prefix of the chain older than
13 calendar months and keeps the id and hash of the last deleted record as an
anchor (table ``chain_meta``), so the chain still verifies from there. The
head of the chain (last id and hash) is kept there too, so deleting the newest
records is detected as well.

A file SQLite cannot read (every page is checked when the log opens, and a
write can still run into damage later) is moved aside, renamed with a
timestamp and never deleted, and a new log begins with a critical
``SecurityLogWasCleared`` record naming the kept file. A chain that does not
verify at start (:meth:`SecurityLog.check_chain_at_start`) is a critical
``SecurityLogChainBroken`` record; the log goes on from its head. Both are
kept as :class:`StorageProblem` for the owner's page.

What this does not stop: someone with write access to the file who rewrites
every hash from the edit onwards. Critical records also leave the charger (OCPP
SecurityEventNotification), which is the copy such a rewrite cannot reach.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from ukscp.clock import LONDON, Clock
from ukscp.metering.buckets import months_before
from ukscp.storage import (
    MAX_INTEGER,
    DatabaseCorrupt,
    is_corruption,
    move_aside,
    open_database,
)

_log = logging.getLogger(__name__)

SECLOG_FILE = "security.sqlite3"
FORMAT_VERSION = 1
GENESIS = "ukscp security log genesis v1"
GENESIS_HASH = hashlib.sha256(GENESIS.encode("ascii")).hexdigest()
RETENTION_MONTHS = 13
# OCPP 1.6 techInfo is 255 characters; we keep more locally, but a bounded
# amount so one noisy caller cannot fill the disk with one record.
MAX_INFO_CHARS = 2000
_PAGE = 1000


class SecurityEventType(Enum):
    """Every type the security log accepts, with whether it is critical by default.

    The OCPP names are those of the OCPP 1.6 security whitepaper (edition 2),
    whose ``critical`` column gives the defaults here; :attr:`ocpp201_name`
    gives the OCPP 2.0.1 spelling where it differs. The rest are ukscp's own.
    """

    # OCPP security events.
    FIRMWARE_UPDATED = ("FirmwareUpdated", True)
    FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM = ("FailedToAuthenticateAtCentralSystem", False)
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE = ("CentralSystemFailedToAuthenticate", False)
    SETTING_SYSTEM_TIME = ("SettingSystemTime", True)
    STARTUP_OF_THE_DEVICE = ("StartupOfTheDevice", True)
    RESET_OR_REBOOT = ("ResetOrReboot", True)
    SECURITY_LOG_WAS_CLEARED = ("SecurityLogWasCleared", True)
    RECONFIGURATION_OF_SECURITY_PARAMETERS = ("ReconfigurationOfSecurityParameters", False)
    MEMORY_EXHAUSTION = ("MemoryExhaustion", True)
    INVALID_MESSAGES = ("InvalidMessages", False)
    ATTEMPTED_REPLAY_ATTACKS = ("AttemptedReplayAttacks", False)
    TAMPER_DETECTION_ACTIVATED = ("TamperDetectionActivated", True)
    INVALID_FIRMWARE_SIGNATURE = ("InvalidFirmwareSignature", False)
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = ("InvalidFirmwareSigningCertificate", False)
    INVALID_CENTRAL_SYSTEM_CERTIFICATE = ("InvalidCentralSystemCertificate", False)
    INVALID_CHARGE_POINT_CERTIFICATE = ("InvalidChargePointCertificate", False)
    INVALID_TLS_VERSION = ("InvalidTLSVersion", False)
    INVALID_TLS_CIPHER_SUITE = ("InvalidTLSCipherSuite", False)
    # ukscp's own.
    OWNER_SETUP_COMPLETED = ("OwnerSetupCompleted", False)
    LOGIN_SUCCEEDED = ("LoginSucceeded", False)
    LOGIN_FAILED = ("LoginFailed", False)
    LOGOUT = ("Logout", False)
    PASSWORD_CHANGED = ("PasswordChanged", False)
    # A lockout means someone is guessing passwords: worth telling the CSMS.
    ACCOUNT_LOCKED_OUT = ("AccountLockedOut", True)
    LOCKOUTS_CLEARED = ("LockoutsCleared", False)
    RANDOM_DELAY_MAX_DURATION_CHANGED = ("RandomDelayMaxDurationChanged", False)
    RANDOM_DELAY_ENABLED_CHANGED = ("RandomDelayEnabledChanged", False)
    RANDOM_DELAY_CANCELLED = ("RandomDelayCancelled", False)
    DSR_OPTED_OUT = ("DsrOptedOut", False)
    DSR_OVERRIDDEN = ("DsrOverridden", False)
    SCHEDULE_CHANGED = ("ScheduleChanged", False)
    PERSONAL_DATA_DELETED = ("PersonalDataDeleted", False)
    # Lowering the protection of the charger is critical: the CSMS should know.
    INSECURE_HTTP_ENABLED = ("InsecureHttpEnabled", True)
    INSECURE_OCPP_TRANSPORT_ALLOWED = ("InsecureOcppTransportAllowed", True)
    SECURITY_PROFILE_DOWNGRADE_REFUSED = ("SecurityProfileDowngradeRefused", False)
    BACKEND_CHANGED = ("BackendChanged", False)
    DEVICE_CERTIFICATE_GENERATED = ("DeviceCertificateGenerated", False)
    INTEGRITY_CHECK_FAILED = ("IntegrityCheckFailed", True)
    UPDATE_REJECTED = ("UpdateRejected", False)
    TAMPER_ACKNOWLEDGED = ("TamperAcknowledged", True)
    SECURITY_LOG_CHAIN_BROKEN = ("SecurityLogChainBroken", True)
    # A damaged database renamed and started afresh: the charger lost what it held.
    DATABASE_MOVED_ASIDE = ("DatabaseMovedAside", True)
    FILE_PERMISSIONS_TIGHTENED = ("FilePermissionsTightened", False)

    def __init__(self, ocpp_name: str, critical: bool) -> None:
        self.ocpp_name = ocpp_name
        self.default_critical = critical

    @property
    def ocpp201_name(self) -> str:
        """The OCPP 2.0.1 name of this event (the same as OCPP 1.6 for most)."""
        return _OCPP201_NAMES.get(self.ocpp_name, self.ocpp_name)

    @classmethod
    def parse(cls, value: SecurityEventType | str) -> SecurityEventType:
        """The member for ``value`` (a member or its name); ValueError for anything else."""
        if isinstance(value, SecurityEventType):
            return value
        member = _BY_NAME.get(value)
        if member is None:
            raise ValueError(f"unknown security event type {value!r}")
        return member


_BY_NAME: dict[str, SecurityEventType] = {m.ocpp_name: m for m in SecurityEventType}
_OCPP201_NAMES = {
    "FailedToAuthenticateAtCentralSystem": "FailedToAuthenticateAtCsms",
    "CentralSystemFailedToAuthenticate": "CsmsFailedToAuthenticate",
    "InvalidCentralSystemCertificate": "InvalidCsmsCertificate",
    "InvalidChargePointCertificate": "InvalidChargingStationCertificate",
}


@dataclass(frozen=True, slots=True)
class SecurityRecord:
    """One record of the security log; ``type`` is the event's OCPP-style name."""

    id: int
    timestamp: datetime
    type: str
    info: str
    critical: bool
    prev_hash: str
    hash: str
    delivered: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The record as plain JSON-able data (timestamp in ISO 8601)."""
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat(),
            "type": self.type,
            "info": self.info,
            "critical": self.critical,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "delivered": self.delivered,
        }


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The result of verifying the chain: ``first_broken_id`` names where it breaks."""

    ok: bool
    checked: int
    first_broken_id: int | None
    reason: str


StorageProblemKind = Literal["chain_broken", "moved_aside"]


@dataclass(frozen=True, slots=True)
class StorageProblem:
    """Something wrong with the charger's stored data, found since it started.

    ``kind`` is ``chain_broken`` (the security log's chain does not verify) or
    ``moved_aside`` (a database could not be read; it was renamed to
    ``moved_to`` and a new one started).
    """

    at: datetime
    kind: StorageProblemKind
    database: str
    detail: str
    moved_to: str | None = None


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What :meth:`SecurityLog.rotate` did."""

    horizon: datetime
    deleted: int
    kept: int
    cleared_record: SecurityRecord | None


def timestamp_text(at: datetime) -> str:
    """The stored, hashed form of a timestamp: UTC, ISO 8601, microseconds."""
    if at.tzinfo is None:
        raise ValueError("security log timestamps must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_bytes(
    id: int, timestamp: str, type: str, info: str, critical: bool, prev_hash: str
) -> bytes:
    """The canonical serialisation of a record (see the module docstring)."""
    payload = {
        "critical": bool(critical),
        "id": id,
        "info": info,
        "prev_hash": prev_hash,
        "timestamp": timestamp,
        "type": type,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


def record_hash(
    id: int, timestamp: str, type: str, info: str, critical: bool, prev_hash: str
) -> str:
    """SHA-256 hex digest of the record's canonical serialisation."""
    serialised = canonical_bytes(id, timestamp, type, info, critical, prev_hash)
    return hashlib.sha256(serialised).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id        INTEGER PRIMARY KEY,  -- consecutive from 1; never reused
    ts        TEXT NOT NULL,        -- timestamp_text(): UTC ISO 8601, microseconds
    type      TEXT NOT NULL,
    info      TEXT NOT NULL,
    critical  INTEGER NOT NULL CHECK (critical IN (0, 1)),
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0  -- outside the hash: set after the fact
);
CREATE INDEX IF NOT EXISTS records_pending ON records (critical, delivered);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE TABLE IF NOT EXISTS chain_meta (
    key   TEXT PRIMARY KEY,  -- anchor_id/anchor_hash (rotation), head_id/head_hash
    value TEXT NOT NULL
);
-- Defence in depth against our own bugs: the hashed columns cannot be updated
-- through SQLite. (Someone with the file can drop this; the chain still shows it.)
CREATE TRIGGER IF NOT EXISTS records_append_only
BEFORE UPDATE OF id, ts, type, info, critical, prev_hash, hash ON records
BEGIN
    SELECT RAISE(ABORT, 'the security log is append-only');
END;
"""

_SELECT = "SELECT id, ts, type, info, critical, prev_hash, hash, delivered FROM records"


def _to_record(row: tuple[Any, ...]) -> SecurityRecord:
    return SecurityRecord(
        id=int(row[0]),
        timestamp=datetime.fromisoformat(row[1]).astimezone(LONDON),
        type=str(row[2]),
        info=str(row[3]),
        critical=bool(row[4]),
        prev_hash=str(row[5]),
        hash=str(row[6]),
        delivered=bool(row[7]),
    )


def _meta(db: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in db.execute("SELECT key, value FROM chain_meta")}


def _check_chain(db: sqlite3.Connection) -> ChainCheck:
    """Walk the whole chain on ``db`` (the caller holds a read snapshot)."""
    try:
        meta = _meta(db)
        rows = db.execute(
            "SELECT id, ts, type, info, critical, prev_hash, hash FROM records ORDER BY id"
        )
    except sqlite3.DatabaseError as exc:
        return ChainCheck(False, 0, None, f"not a readable security log: {exc}")
    try:
        expected_id = int(meta.get("anchor_id", "0")) + 1
    except ValueError:
        return ChainCheck(False, 0, None, "the rotation anchor is corrupt")
    expected_prev = meta.get("anchor_hash", GENESIS_HASH)
    checked = 0
    for row_id, ts, kind, info, critical, prev_hash, stored_hash in rows:
        if row_id > expected_id:
            missing = (
                f"record {expected_id} is"
                if row_id == expected_id + 1
                else f"records {expected_id}..{row_id - 1} are"
            )
            return ChainCheck(
                False, checked, expected_id, f"{missing} missing (deleted): ids jump to {row_id}"
            )
        if row_id < expected_id:
            return ChainCheck(
                False, checked, row_id, f"record {row_id} is older than the rotation anchor"
            )
        try:
            actual = record_hash(row_id, ts, kind, info, bool(critical), prev_hash)
        except (TypeError, ValueError) as exc:
            return ChainCheck(False, checked, row_id, f"record {row_id} is malformed: {exc}")
        if actual != stored_hash:
            return ChainCheck(
                False,
                checked,
                row_id,
                f"record {row_id} was altered: its contents do not match its hash",
            )
        if prev_hash != expected_prev:
            what = (
                "the rotation anchor"
                if checked == 0 and "anchor_hash" in meta
                else ("the genesis hash" if checked == 0 else f"record {row_id - 1}")
            )
            return ChainCheck(
                False,
                checked,
                row_id,
                f"record {row_id} does not follow {what}: prev_hash mismatch "
                "(a record was inserted, replaced or deleted here)",
            )
        checked += 1
        expected_id = row_id + 1
        expected_prev = stored_hash
    last_id = expected_id - 1
    if "head_id" in meta:
        try:
            head_id = int(meta["head_id"])
        except ValueError:
            return ChainCheck(False, checked, None, "the chain head is corrupt")
        if last_id < head_id:
            return ChainCheck(
                False,
                checked,
                last_id + 1,
                f"records {last_id + 1}..{head_id} are missing (deleted from the end)",
            )
        if last_id > head_id:
            return ChainCheck(
                False,
                checked,
                head_id + 1,
                f"record {head_id + 1} was not written by the security log (inserted)",
            )
        if meta.get("head_hash", expected_prev) != expected_prev:
            return ChainCheck(
                False, checked, last_id, f"record {last_id} was replaced (head hash mismatch)"
            )
    return ChainCheck(True, checked, None, f"{checked} records verified")


class SecurityLog:
    """Append-only, hash-chained security log in one SQLite file.

    Thread-safe: the event loop and web worker threads may share one instance.
    """

    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[SecurityRecord], None]] = []
        self._problems: list[StorageProblem] = []
        self._db: sqlite3.Connection
        try:
            # Every page is read now: a damaged one would otherwise show only when
            # a write reaches it, and every event from then on would be lost.
            self._db = open_database(path, _SCHEMA, check=True)
        except DatabaseCorrupt as exc:
            self._start_afresh(exc.reason)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def record(
        self,
        type: SecurityEventType | str,
        info: str = "",
        *,
        critical: bool | None = None,
    ) -> SecurityRecord:
        """Append one record and commit it; returns it.

        ``type`` must be a :class:`SecurityEventType` or its name (ValueError
        otherwise). ``critical=None`` takes the type's default (OCPP's table).
        """
        kind = SecurityEventType.parse(type)
        is_critical = kind.default_critical if critical is None else bool(critical)
        written: list[SecurityRecord] = []
        with self._lock:
            try:
                written.append(self._commit(kind, info, is_critical))
            except sqlite3.DatabaseError as exc:
                if not is_corruption(exc):
                    raise
                # Damaged while running: the event goes to a new log, not nowhere.
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                written.append(self._start_afresh(str(exc)))
                written.append(self._commit(kind, info, is_critical))
        for record in written:
            self._notify(record)
        return written[-1]

    def check_chain_at_start(self) -> ChainCheck:
        """Verify the chain; a break is told in every way the charger has.

        A critical ``SecurityLogChainBroken`` record (queued for the CSMS), a
        warning on the console and a problem for the owner's page. The log goes
        on: its records stay as evidence, and new ones chain to its head.

        The record is written once per break: the break stays in the log as
        evidence, and a charger restarted ten times must not tell the CSMS ten
        times. The warning and the owner's alert come at every start.
        """
        check = self.verify()
        if not check.ok:
            where = "" if check.first_broken_id is None else f" at record {check.first_broken_id}"
            info = f"the chain does not verify at start{where}: {check.reason}"
            _log.warning("security log: %s", info)
            if not self._recorded_since(
                SecurityEventType.SECURITY_LOG_CHAIN_BROKEN, info, check.first_broken_id or 0
            ):
                self.record(SecurityEventType.SECURITY_LOG_CHAIN_BROKEN, info)
            self._add_problem("chain_broken", self._path.name, check.reason)
        return check

    def _recorded_since(self, kind: SecurityEventType, info: str, after_id: int) -> bool:
        """Whether a record of ``kind`` with exactly ``info`` follows record ``after_id``."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM records WHERE id > ? AND type = ? AND info = ? LIMIT 1",
                (after_id, kind.ocpp_name, info),
            ).fetchone()
        return row is not None

    def database_moved_aside(self, database: Path, moved_to: Path, reason: str) -> SecurityRecord:
        """Record that ``database`` could not be read and was renamed to ``moved_to``."""
        info = (
            f"{database.name} could not be read ({reason}); it was moved aside to "
            f"{moved_to.name}, kept unchanged, and a new one started"
        )
        _log.warning("storage: %s", info)
        record = self.record(SecurityEventType.DATABASE_MOVED_ASIDE, info)
        self._add_problem("moved_aside", database.name, reason, moved_to.name)
        return record

    def problems(self) -> list[StorageProblem]:
        """What was found wrong with the stored data since the charger started."""
        with self._lock:
            return list(self._problems)

    def on_record(self, listener: Callable[[SecurityRecord], None]) -> Callable[[], None]:
        """Call ``listener`` with each record appended from now on, once committed.

        It runs on the writer's thread. Returns a function that ends the subscription.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def records(self, limit: int = 100, before_id: int | None = None) -> list[SecurityRecord]:
        """Up to ``limit`` records, newest first, with ids below ``before_id`` if given."""
        # With no ``before_id``, every id is below the bound.
        bound = before_id if before_id is not None else MAX_INTEGER
        with self._lock:
            rows = self._db.execute(
                _SELECT + " WHERE id < ? ORDER BY id DESC LIMIT ?", (bound, limit)
            ).fetchall()
        return [_to_record(row) for row in rows]

    def verify(self) -> ChainCheck:
        """Check the whole chain from its genesis (or rotation anchor) to its head."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                return _check_chain(self._db)
            finally:
                self._db.execute("COMMIT")

    def rotate(self, now: datetime | None = None) -> RotationResult:
        """Delete records older than 13 calendar months (Europe/London) before ``now``.

        Only a prefix of the chain is deleted, and never a broken part of it:
        deleting the evidence of tampering would make the log verify again. The
        last deleted record becomes the anchor the chain verifies from. When
        something was deleted, a ``SecurityLogWasCleared`` record with the
        counts is appended.
        """
        when = now if now is not None else self._clock.now()
        horizon = months_before(when, RETENTION_MONTHS)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                check = _check_chain(self._db)
                row = self._db.execute(
                    "SELECT MIN(id) FROM records WHERE ts >= ?", (timestamp_text(horizon),)
                ).fetchone()
                # Records are deleted up to the first one still within retention;
                # one written under a wrong clock keeps everything after it.
                cutoff = row[0] if row[0] is not None else self._tail()[0] + 1
                if check.first_broken_id is not None:
                    cutoff = min(cutoff, check.first_broken_id)
                last = self._db.execute(
                    "SELECT id, hash FROM records WHERE id < ? ORDER BY id DESC LIMIT 1",
                    (cutoff,),
                ).fetchone()
                deleted = 0
                if last is not None:
                    deleted = self._db.execute(
                        "DELETE FROM records WHERE id < ?", (cutoff,)
                    ).rowcount
                    self._db.executemany(
                        "INSERT OR REPLACE INTO chain_meta (key, value) VALUES (?, ?)",
                        [("anchor_id", str(last[0])), ("anchor_hash", str(last[1]))],
                    )
                kept = int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
                cleared = None
                if last is not None:
                    info = (
                        f"retention: deleted {deleted} records older than {horizon.isoformat()}"
                        f" (ids up to {last[0]}); kept {kept}"
                    )
                    if not check.ok:
                        info += f"; chain already broken before rotation: {check.reason}"
                    # In the same transaction: no deletion without its record.
                    kind = SecurityEventType.SECURITY_LOG_WAS_CLEARED
                    cleared = self._append(kind, info, kind.default_critical)
                    _log.info("security log: %s", info)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return RotationResult(horizon=horizon, deleted=deleted, kept=kept, cleared_record=cleared)

    def undelivered_critical(self, limit: int | None = None) -> list[SecurityRecord]:
        """Critical records not yet delivered to the CSMS, oldest first."""
        # LIMIT -1 is SQLite's "no limit".
        with self._lock:
            rows = self._db.execute(
                _SELECT + " WHERE critical = 1 AND delivered = 0 ORDER BY id LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [_to_record(row) for row in rows]

    def mark_delivered(self, ids: Iterable[int]) -> int:
        """Mark records as delivered to the CSMS; returns how many changed."""
        wanted = [(int(i),) for i in ids]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    "UPDATE records SET delivered = 1 WHERE id = ? AND delivered = 0", wanted
                )
                changed = self._db.total_changes - before
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return changed

    def export_lines(self) -> Iterator[str]:
        """The log as JSON lines for upload (OCPP GetLog), oldest first.

        The first line is a header naming the format and the anchor the chain
        starts from; each further line is one record with its hashes, so the
        receiver can verify the chain itself.
        """
        with self._lock:
            meta = _meta(self._db)
        header = {
            "format": f"ukscp-security-log-v{FORMAT_VERSION}",
            "genesis_hash": GENESIS_HASH,
            "anchor_id": int(meta.get("anchor_id", "0")),
            "anchor_hash": meta.get("anchor_hash", GENESIS_HASH),
        }
        yield json.dumps(header, sort_keys=True)
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    _SELECT + " WHERE id > ? ORDER BY id LIMIT ?",
                    (after, _PAGE),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield json.dumps(
                    {
                        "id": row[0],
                        "timestamp": row[1],
                        "type": row[2],
                        "info": row[3],
                        "critical": bool(row[4]),
                        "prev_hash": row[5],
                        "hash": row[6],
                    },
                    sort_keys=True,
                    ensure_ascii=True,
                )
            after = int(rows[-1][0])

    def export_text(self) -> str:
        """:meth:`export_lines` joined into one newline-terminated text."""
        return "".join(line + "\n" for line in self.export_lines())

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    def _notify(self, record: SecurityRecord) -> None:
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                _log.exception("security log listener %r failed", listener)

    def _add_problem(
        self, kind: StorageProblemKind, database: str, detail: str, moved_to: str | None = None
    ) -> None:
        problem = StorageProblem(self._clock.now(), kind, database, detail, moved_to)
        with self._lock:
            self._problems.append(problem)

    def _commit(self, kind: SecurityEventType, info: str, critical: bool) -> SecurityRecord:
        """Append one record in a transaction of its own (the caller holds the lock)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            record = self._append(kind, info, critical)
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to tell
                self._db.execute("ROLLBACK")
            raise
        return record

    def _start_afresh(self, reason: str) -> SecurityRecord:
        """Move the unreadable log aside and start a new one that says so first.

        The caller holds the lock (or is the constructor) and has closed the old
        connection.
        """
        moved = move_aside(self._path, self._clock.now())
        self._db = open_database(self._path, _SCHEMA)
        kind = SecurityEventType.SECURITY_LOG_WAS_CLEARED
        info = (
            f"the security log could not be read ({reason}); it was moved aside to "
            f"{moved.name}, kept unchanged, and this log starts afresh"
        )
        _log.warning("security log: %s", info)
        first = self._commit(kind, info, kind.default_critical)
        self._add_problem("moved_aside", self._path.name, reason, moved.name)
        return first

    def _append(self, kind: SecurityEventType, info: str, critical: bool) -> SecurityRecord:
        """Insert the next record (the caller holds the lock and a write transaction)."""
        if len(info) > MAX_INFO_CHARS:
            info = info[: MAX_INFO_CHARS - 1] + "…"
        ts = timestamp_text(self._clock.now())
        last_id, last_hash = self._tail()
        new_id = last_id + 1
        digest = record_hash(new_id, ts, kind.ocpp_name, info, critical, last_hash)
        self._db.execute(
            "INSERT INTO records (id, ts, type, info, critical, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_id, ts, kind.ocpp_name, info, int(critical), last_hash, digest),
        )
        self._set_head(new_id, digest)
        return SecurityRecord(
            id=new_id,
            timestamp=datetime.fromisoformat(ts).astimezone(LONDON),
            type=kind.ocpp_name,
            info=info,
            critical=critical,
            prev_hash=last_hash,
            hash=digest,
        )

    def _tail(self) -> tuple[int, str]:
        """Id and hash the next record chains to (caller holds the lock)."""
        meta = _meta(self._db)
        if "head_id" in meta and "head_hash" in meta:
            # The head, not the last row: a deleted newest record must leave a
            # gap the next verification sees, not be silently papered over.
            return int(meta["head_id"]), meta["head_hash"]
        row = self._db.execute("SELECT id, hash FROM records ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        return int(meta.get("anchor_id", "0")), meta.get("anchor_hash", GENESIS_HASH)

    def _set_head(self, head_id: int, head_hash: str) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO chain_meta (key, value) VALUES (?, ?)",
            [("head_id", str(head_id)), ("head_hash", head_hash)],
        )


def verify_file(path: Path) -> ChainCheck:
    """Verify the security log at ``path`` without a clock and without writing to it.

    For ``ukscp seclog verify``; safe while the charger is running (it reads
    one consistent WAL snapshot).
    """
    if not path.is_file():
        return ChainCheck(False, 0, None, f"no security log at {path}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return ChainCheck(False, 0, None, f"cannot open {path}: {exc}")
    try:
        db.execute("BEGIN")
        return _check_chain(db)
    except sqlite3.DatabaseError as exc:
        return ChainCheck(False, 0, None, f"not a readable security log: {exc}")
    finally:
        db.close()
