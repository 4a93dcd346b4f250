"""The event history: every state and limit change, with its source, in SQLite.

It subscribes to every event on the bus and commits each one as it happens, so
a clean stop or a killed process loses nothing that was published.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from ukscp.events import Event, EventBus
from ukscp.storage import erasing, open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
"""


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One stored event."""

    id: int
    at: datetime
    kind: str
    source: str
    detail: dict[str, Any]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return str(value)


class EventHistory:
    """Append-only store of events."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path, _SCHEMA)

    def attach(self, bus: EventBus) -> None:
        """Record every event published on ``bus`` from now on."""
        bus.subscribe(Event, self.record)

    def record(self, event: Event) -> None:
        """Store one event and commit it."""
        self._db.execute(
            "INSERT INTO events (at, kind, source, detail) VALUES (?, ?, ?, ?)",
            (
                event.at.isoformat(),
                type(event).__name__,
                event.source,
                json.dumps(event.detail(), default=_plain, sort_keys=True),
            ),
        )

    def recent(self, limit: int = 100, kind: str | None = None) -> list[HistoryRecord]:
        """The newest ``limit`` records, newest first, optionally of one kind."""
        query = "SELECT id, at, kind, source, detail FROM events"
        args: tuple[object, ...] = ()
        if kind is not None:
            query += " WHERE kind = ?"
            args = (kind,)
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [self._to_record(row) for row in rows]

    def all(self) -> Iterator[HistoryRecord]:
        """Every record, oldest first."""
        for row in self._db.execute("SELECT id, at, kind, source, detail FROM events ORDER BY id"):
            yield self._to_record(row)

    def delete_all_but(self, kinds: Collection[str]) -> int:
        """Delete every record whose kind is not one of ``kinds``, for good (overwritten,
        WAL truncated); returns how many went."""
        kept = json.dumps(sorted(kinds))
        with erasing(self._db):
            return self._db.execute(
                "DELETE FROM events WHERE kind NOT IN (SELECT value FROM json_each(?))", (kept,)
            ).rowcount

    def close(self) -> None:
        """Checkpoint and close the database."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    @staticmethod
    def _to_record(row: sqlite3.Row | tuple[Any, ...]) -> HistoryRecord:
        return HistoryRecord(
            id=row[0],
            at=datetime.fromisoformat(row[1]),
            kind=row[2],
            source=row[3],
            detail=json.loads(row[4]),
        )
