"""The web server's connection cap and its once-a-minute warnings (pure parts)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from ukscp.web.connections import (
    RESERVED_FILES,
    ConnectionTable,
    EveryMinute,
    connection_cap,
)


@dataclass(eq=False)
class FakeConnection:
    waiting_since: float | None
    dropped: bool = False

    def drop(self) -> None:
        self.dropped = True


def test_the_cap_follows_the_open_file_limit_less_the_chargers_own_files():
    assert connection_cap(1024) == 1024 - RESERVED_FILES
    assert connection_cap(4096) == 4096 - RESERVED_FILES
    assert connection_cap(1024, configured=50) == 50
    assert connection_cap(200, configured=5000) == 200 - RESERVED_FILES
    assert connection_cap(RESERVED_FILES) == 1


def test_below_the_cap_every_connection_is_let_in():
    table = ConnectionTable(cap=2)
    table.add(FakeConnection(waiting_since=1.0))
    assert table.make_room()
    assert len(table) == 1


def test_at_the_cap_the_longest_waiting_connection_makes_room():
    table = ConnectionTable(cap=3)
    busy = FakeConnection(waiting_since=None)  # a request being answered
    older, newer = FakeConnection(waiting_since=5.0), FakeConnection(waiting_since=9.0)
    for connection in (busy, newer, older):
        table.add(connection)
    assert table.make_room()
    assert (busy.dropped, older.dropped, newer.dropped) == (False, True, False)
    assert len(table) == 2


def test_at_the_cap_with_every_connection_busy_a_newcomer_is_refused():
    table = ConnectionTable(cap=2)
    busy = [FakeConnection(waiting_since=None) for _ in range(2)]
    for connection in busy:
        table.add(connection)
    assert not table.make_room()
    assert not any(c.dropped for c in busy)
    table.discard(busy[0])
    table.discard(busy[0])  # idempotent
    assert table.make_room()


def test_a_warning_is_logged_at_most_once_a_minute_with_its_count(
    caplog: pytest.LogCaptureFixture,
):
    now = [0.0]
    warning = EveryMinute("web: refused", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="ukscp.web.connections"):
        for second in range(0, 150):
            now[0] = float(second)
            for _ in range(100):
                warning.note()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "web: refused [1 in the last minute]",
        "web: refused [6000 in the last minute]",
        "web: refused [6000 in the last minute]",
    ]
