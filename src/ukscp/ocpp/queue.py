"""The persistent queue of messages the CSMS must receive, in order, even after an outage.

Regulation 7: the charger charges with no network, so transaction messages
(StartTransaction, StopTransaction, MeterValues) and critical security events
(SecurityEventNotification) are written here first and delivered, oldest first,
when the CSMS is reachable. A message leaves the queue only when the CSMS has
answered it (:meth:`MessageQueue.ack`); it survives a restart of the charger
(SQLite, WAL, its own file).

Delivery is exactly once as far as the charger can know: a message is sent
again only when no answer came, so the CSMS sees a duplicate only if its
answer was lost on the way (OCPP's own at-least-once on a broken link).

OCPP 1.6 numbers transactions at the CSMS: the transactionId is in the answer
to StartTransaction. A StopTransaction or MeterValues queued before that answer
arrived carries a local transaction reference (``tx_ref``) instead;
:meth:`MessageQueue.ack` of the StartTransaction records the id the CSMS gave
it (in the same SQLite transaction as the removal), and the sender looks it up
with :meth:`MessageQueue.transaction_id` when the later messages reach the head.

Payloads are stored as the keyword arguments of the ``ocpp`` package's message
dataclasses (snake_case), version-neutral to this module.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ukscp.storage import open_database

QUEUE_FILE = "ocpp-queue.sqlite3"

METER_VALUES = "MeterValues"
# Offline for days at a 1 s sample interval would queue hundreds of thousands of
# samples; past this many the oldest samples go first (never a start, stop or
# security event, and the energy registers stay in the start/stop messages).
# Samples are 1.6 MeterValues and 2.0.1 periodic TransactionEvent updates alike.
DEFAULT_MAX_METER_VALUES = 20_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order
    action    TEXT NOT NULL,
    payload   TEXT NOT NULL,      -- JSON: the message's fields, snake_case
    tx_ref    TEXT,               -- local transaction reference, if any
    seclog_id INTEGER,            -- the security-log record this notifies, if any
    attempts  INTEGER NOT NULL DEFAULT 0,  -- answered with a CALLERROR so far
    sheddable INTEGER NOT NULL DEFAULT 0   -- a periodic sample that may give way
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_seclog ON messages (seclog_id)
    WHERE seclog_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_action ON messages (action, id);
CREATE TABLE IF NOT EXISTS transactions (
    tx_ref         TEXT PRIMARY KEY,
    transaction_id INTEGER NOT NULL  -- as assigned by the CSMS
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_SELECT = "SELECT id, action, payload, tx_ref, seclog_id, attempts, sheddable FROM messages"
_SECLOG_CURSOR = "seclog_cursor"


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One message waiting for the CSMS's answer."""

    id: int
    action: str
    payload: dict[str, Any]
    tx_ref: str | None = None
    seclog_id: int | None = None
    attempts: int = 0
    sheddable: bool = False


def _to_message(row: tuple[Any, ...]) -> QueuedMessage:
    return QueuedMessage(
        id=int(row[0]),
        action=str(row[1]),
        payload=json.loads(row[2]),
        tx_ref=None if row[3] is None else str(row[3]),
        seclog_id=None if row[4] is None else int(row[4]),
        attempts=int(row[5]),
        sheddable=bool(row[6]),
    )


class MessageQueue:
    """A durable FIFO of messages for the CSMS, and the local -> CSMS transaction id map.

    Thread-safe (one lock around one connection), though the charger only uses
    it from the event loop.
    """

    def __init__(self, path: Path, *, max_meter_values: int = DEFAULT_MAX_METER_VALUES) -> None:
        if max_meter_values < 1:
            raise ValueError("max_meter_values must be at least 1")
        self._path = path
        self._max_meter_values = max_meter_values
        self._lock = threading.Lock()
        self._db = open_database(path, _SCHEMA)
        self._add_sheddable_column()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    # -- writing ------------------------------------------------------------------------

    def put(
        self,
        action: str,
        payload: Mapping[str, Any],
        *,
        tx_ref: str | None = None,
        sheddable: bool | None = None,
    ) -> int:
        """Append a message; returns its id (its place in the delivery order).

        A ``sheddable`` message is a periodic sample: past the queue's cap the
        oldest of them give way. By default only MeterValues are.
        """
        if sheddable is None:
            sheddable = action == METER_VALUES
        text = json.dumps(dict(payload), sort_keys=True)
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "INSERT INTO messages (action, payload, tx_ref, sheddable) VALUES (?, ?, ?, ?)",
                (action, text, tx_ref, int(sheddable)),
            )
            if sheddable:
                self._trim_samples()
            assert cursor.lastrowid is not None
            return int(cursor.lastrowid)

    def put_security_events(
        self, events: Iterable[tuple[int, str, Mapping[str, Any]]]
    ) -> list[int]:
        """Append security-event messages ``(seclog_id, action, payload)`` not queued before.

        A cursor (the highest security-log id queued) is advanced in the same
        SQLite transaction, so each record is queued once even across restarts,
        and a record the CSMS refused for good is not queued again.
        Returns the ids of the messages added.
        """
        added: list[int] = []
        with self._lock, self._transaction():
            cursor = self._seclog_cursor()
            for seclog_id, action, payload in sorted(events, key=lambda e: e[0]):
                if seclog_id <= cursor:
                    continue
                row = self._db.execute(
                    "INSERT OR IGNORE INTO messages (action, payload, seclog_id) VALUES (?, ?, ?)",
                    (action, json.dumps(dict(payload), sort_keys=True), seclog_id),
                )
                if row.rowcount and row.lastrowid is not None:
                    added.append(int(row.lastrowid))
                cursor = seclog_id
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (_SECLOG_CURSOR, str(cursor)),
            )
        return added

    def seclog_cursor(self) -> int:
        """The highest security-log record id queued so far (0: none)."""
        with self._lock:
            return self._seclog_cursor()

    # -- delivering ---------------------------------------------------------------------

    def peek(self) -> QueuedMessage | None:
        """The oldest message, or None when the queue is empty."""
        with self._lock:
            row = self._db.execute(_SELECT + " ORDER BY id LIMIT 1").fetchone()
        return None if row is None else _to_message(row)

    def ack(self, message_id: int, *, transaction_id: int | None = None) -> None:
        """The CSMS answered ``message_id``: remove it.

        For a StartTransaction pass the ``transaction_id`` the CSMS assigned: it
        is recorded for the message's ``tx_ref`` atomically with the removal.
        """
        with self._lock, self._transaction():
            row = self._db.execute(
                "SELECT tx_ref FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return
            if transaction_id is not None:
                if row[0] is None:
                    raise ValueError(f"message {message_id} has no transaction reference")
                self._db.execute(
                    "INSERT OR REPLACE INTO transactions (tx_ref, transaction_id) VALUES (?, ?)",
                    (row[0], int(transaction_id)),
                )
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def fail(self, message_id: int) -> int:
        """The CSMS answered ``message_id`` with a CALLERROR: count it; returns the count."""
        with self._lock, self._transaction():
            self._db.execute(
                "UPDATE messages SET attempts = attempts + 1 WHERE id = ?", (message_id,)
            )
            row = self._db.execute(
                "SELECT attempts FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def drop(self, message_id: int) -> None:
        """Give up on ``message_id`` (refused too often, or its transaction is unknown)."""
        with self._lock:
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    # -- transactions -------------------------------------------------------------------

    def transaction_id(self, tx_ref: str) -> int | None:
        """The CSMS's id for the local transaction ``tx_ref``, once its start was answered."""
        with self._lock:
            row = self._db.execute(
                "SELECT transaction_id FROM transactions WHERE tx_ref = ?", (tx_ref,)
            ).fetchone()
        return None if row is None else int(row[0])

    def has_start(self, tx_ref: str) -> bool:
        """True while a StartTransaction for ``tx_ref`` waits in the queue."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM messages WHERE tx_ref = ? AND action = 'StartTransaction'",
                (tx_ref,),
            ).fetchone()
        return row is not None

    def forget_transaction(self, tx_ref: str) -> None:
        """Drop the id mapping of a transaction whose messages have all been delivered."""
        with self._lock, self._transaction():
            pending = self._db.execute(
                "SELECT 1 FROM messages WHERE tx_ref = ? LIMIT 1", (tx_ref,)
            ).fetchone()
            if pending is None:
                self._db.execute("DELETE FROM transactions WHERE tx_ref = ?", (tx_ref,))

    def discard_all(self) -> int:
        """Drop every waiting message and transaction id; returns how many messages went.

        For a back end the owner has left: its messages must not go to the next one.
        The security-log cursor stays, so the next back end hears only new events.
        """
        with self._lock, self._transaction():
            count = int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
            self._db.execute("DELETE FROM messages")
            self._db.execute("DELETE FROM transactions")
        return count

    # -- inspection ---------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def pending(self) -> list[QueuedMessage]:
        """Every waiting message, oldest first."""
        with self._lock:
            rows = self._db.execute(_SELECT + " ORDER BY id").fetchall()
        return [_to_message(row) for row in rows]

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- internals ----------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _seclog_cursor(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_SECLOG_CURSOR,)).fetchone()
        return 0 if row is None else int(row[0])

    def _trim_samples(self) -> None:
        count = int(
            self._db.execute("SELECT COUNT(*) FROM messages WHERE sheddable = 1").fetchone()[0]
        )
        excess = count - self._max_meter_values
        if excess > 0:
            self._db.execute(
                "DELETE FROM messages WHERE id IN "
                "(SELECT id FROM messages WHERE sheddable = 1 ORDER BY id LIMIT ?)",
                (excess,),
            )

    def _add_sheddable_column(self) -> None:
        # A queue written by an earlier version has no ``sheddable`` column: add it,
        # marking its samples, so an upgrade while offline keeps every message.
        with self._lock:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
            if "sheddable" not in columns:
                with self._transaction():
                    self._db.execute(
                        "ALTER TABLE messages ADD COLUMN sheddable INTEGER NOT NULL DEFAULT 0"
                    )
                    self._db.execute(
                        "UPDATE messages SET sheddable = 1 WHERE action = ?", (METER_VALUES,)
                    )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS messages_sheddable ON messages (sheddable, id)"
            )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
