"""The security log: hash chain, tamper detection, retention, delivery to the CSMS."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ukscp.clock import LONDON, VirtualClock
from ukscp.security.seclog import (
    GENESIS_HASH,
    SecurityEventType,
    SecurityLog,
    record_hash,
    verify_file,
)

START = SecurityEventType.STARTUP_OF_THE_DEVICE
LOGIN = SecurityEventType.LOGIN_SUCCEEDED


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "security.sqlite3"


@pytest.fixture
def log(path: Path, clock: VirtualClock) -> SecurityLog:
    return SecurityLog(path, clock)


def fill(log: SecurityLog, n: int) -> None:
    for i in range(n):
        log.record(LOGIN, f"event {i + 1}")


def raw(path: Path) -> sqlite3.Connection:
    """The file as an attacker with write access sees it (our trigger dropped)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER IF EXISTS records_append_only")
    return db


def test_records_chain_each_to_the_previous_hash(log: SecurityLog):
    fill(log, 4)
    records = list(reversed(log.records()))
    assert [r.id for r in records] == [1, 2, 3, 4]
    assert records[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash


def test_hash_is_sha256_of_the_documented_canonical_json(log: SecurityLog):
    record = log.record(START, "boot 1 ✓")
    canonical = json.dumps(
        {
            "critical": True,
            "id": 1,
            "info": "boot 1 ✓",
            "prev_hash": hashlib.sha256(b"ukscp security log genesis v1").hexdigest(),
            "timestamp": "2026-01-05T00:00:00.000000+00:00",
            "type": "StartupOfTheDevice",
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    assert record.hash == hashlib.sha256(canonical.encode("ascii")).hexdigest()


def test_intact_chain_verifies(log: SecurityLog):
    fill(log, 5)
    check = log.verify()
    assert check.ok
    assert check.checked == 5
    assert check.first_broken_id is None


def test_empty_log_verifies(log: SecurityLog):
    assert log.verify().ok


def test_timestamps_come_from_the_clock(log: SecurityLog, clock: VirtualClock):
    clock.set_wall_time(datetime(2026, 7, 1, 12, 30, tzinfo=LONDON))
    record = log.record(START)
    assert record.timestamp == datetime(2026, 7, 1, 12, 30, tzinfo=LONDON)
    assert record.timestamp.tzinfo is not None


def test_edited_info_names_that_record(log: SecurityLog, path: Path):
    fill(log, 5)
    raw(path).execute("UPDATE records SET info = 'nothing happened' WHERE id = 3")
    check = log.verify()
    assert not check.ok
    assert check.first_broken_id == 3
    assert check.checked == 2
    assert "altered" in check.reason


def test_edited_critical_flag_is_detected(log: SecurityLog, path: Path):
    fill(log, 3)
    raw(path).execute("UPDATE records SET critical = 1 - critical WHERE id = 2")
    assert log.verify().first_broken_id == 2


def test_deleted_middle_record_is_named(log: SecurityLog, path: Path):
    fill(log, 5)
    raw(path).execute("DELETE FROM records WHERE id = 3")
    check = log.verify()
    assert not check.ok
    assert check.first_broken_id == 3
    assert "missing" in check.reason


def test_deleted_newest_record_is_named(log: SecurityLog, path: Path):
    fill(log, 5)
    raw(path).execute("DELETE FROM records WHERE id = 5")
    check = log.verify()
    assert check.first_broken_id == 5
    assert "missing" in check.reason


def test_record_after_a_deleted_newest_one_does_not_hide_the_gap(log: SecurityLog, path: Path):
    fill(log, 5)
    raw(path).execute("DELETE FROM records WHERE id = 5")
    log.record(LOGIN, "after the deletion")
    assert log.verify().first_broken_id == 5


def test_replaced_record_with_a_valid_own_hash_breaks_the_next_link(log: SecurityLog, path: Path):
    fill(log, 5)
    db = raw(path)
    ts, prev = db.execute("SELECT ts, prev_hash FROM records WHERE id = 3").fetchone()
    forged = record_hash(3, ts, "LoginSucceeded", "forged", False, prev)
    db.execute("UPDATE records SET info = 'forged', critical = 0, hash = ? WHERE id = 3", (forged,))
    check = log.verify()
    assert check.first_broken_id == 4
    assert "record 3" in check.reason


def test_inserted_record_is_named(log: SecurityLog, path: Path):
    fill(log, 3)
    db = raw(path)
    ts, last = db.execute("SELECT ts, hash FROM records WHERE id = 3").fetchone()
    # A well-formed, correctly chained record the log itself never wrote.
    digest = record_hash(4, ts, "LoginSucceeded", "inserted", False, last)
    db.execute(
        "INSERT INTO records (id, ts, type, info, critical, prev_hash, hash)"
        " VALUES (4, ?, 'LoginSucceeded', 'inserted', 0, ?, ?)",
        (ts, last, digest),
    )
    check = log.verify()
    assert check.first_broken_id == 4
    assert "inserted" in check.reason


def test_updates_of_hashed_columns_are_refused_by_the_database(log: SecurityLog, path: Path):
    fill(log, 1)
    db = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE records SET info = 'x' WHERE id = 1")


def test_verify_file_needs_no_clock(log: SecurityLog, path: Path):
    fill(log, 3)
    assert verify_file(path).ok
    raw(path).execute("UPDATE records SET type = 'Logout' WHERE id = 2")
    check = verify_file(path)
    assert (check.ok, check.first_broken_id) == (False, 2)


def test_verify_file_of_a_missing_log_fails(tmp_path: Path):
    check = verify_file(tmp_path / "nothing.sqlite3")
    assert not check.ok
    assert "no security log" in check.reason


def test_verify_file_of_something_else_fails(tmp_path: Path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    assert not verify_file(junk).ok


def test_chain_continues_after_reopening(path: Path, clock: VirtualClock):
    first = SecurityLog(path, clock)
    fill(first, 2)
    first.close()
    second = SecurityLog(path, clock)
    record = second.record(START)
    assert record.id == 3
    assert second.verify().ok


def test_unknown_event_type_is_refused(log: SecurityLog):
    with pytest.raises(ValueError, match="unknown security event type"):
        log.record("SomethingMadeUp", "x")
    assert log.records() == []


def test_known_event_type_may_be_given_by_name(log: SecurityLog):
    assert log.record("TamperDetectionActivated").type == "TamperDetectionActivated"


def test_critical_defaults_follow_the_ocpp_table_and_can_be_overridden(log: SecurityLog):
    assert log.record(SecurityEventType.TAMPER_DETECTION_ACTIVATED).critical
    assert not log.record(SecurityEventType.INVALID_TLS_VERSION).critical
    assert log.record(SecurityEventType.INVALID_TLS_VERSION, critical=True).critical


def test_ocpp201_names_are_mapped():
    assert (
        SecurityEventType.INVALID_CENTRAL_SYSTEM_CERTIFICATE.ocpp201_name
        == "InvalidCsmsCertificate"
    )
    assert SecurityEventType.STARTUP_OF_THE_DEVICE.ocpp201_name == "StartupOfTheDevice"


def test_long_info_is_truncated(log: SecurityLog):
    record = log.record(START, "x" * 10_000)
    assert len(record.info) == 2000
    assert log.verify().ok


def test_records_are_newest_first_and_page_by_id(log: SecurityLog):
    fill(log, 5)
    assert [r.id for r in log.records(limit=2)] == [5, 4]
    assert [r.id for r in log.records(limit=2, before_id=4)] == [3, 2]


def test_undelivered_critical_records_until_marked_delivered(log: SecurityLog, path: Path):
    boot = log.record(START)
    log.record(LOGIN)
    tamper = log.record(SecurityEventType.TAMPER_DETECTION_ACTIVATED)
    assert [r.id for r in log.undelivered_critical()] == [boot.id, tamper.id]
    assert log.mark_delivered([boot.id]) == 1
    assert log.mark_delivered([boot.id]) == 0
    assert [r.id for r in log.undelivered_critical()] == [tamper.id]
    # Delivery is bookkeeping outside the hash: the chain still verifies.
    assert log.verify().ok
    assert log.records(limit=3)[-1].delivered


def test_undelivered_survive_a_restart(path: Path, clock: VirtualClock):
    first = SecurityLog(path, clock)
    first.record(START)
    first.close()
    assert [r.type for r in SecurityLog(path, clock).undelivered_critical()] == [
        "StartupOfTheDevice"
    ]


def monthly(log: SecurityLog, clock: VirtualClock, first: datetime, months: int) -> None:
    for m in range(months):
        year, month = divmod(first.month - 1 + m, 12)
        clock.set_wall_time(first.replace(year=first.year + year, month=month + 1))
        log.record(LOGIN, f"month {m}")


def test_rotation_keeps_13_months_and_still_verifies(log: SecurityLog, clock: VirtualClock):
    # One record on the 15th of each month, Jan 2025 .. Jun 2026.
    monthly(log, clock, datetime(2025, 1, 15, 12, tzinfo=LONDON), 18)
    now = datetime(2026, 6, 20, 9, tzinfo=LONDON)
    clock.set_wall_time(now)
    result = log.rotate(now)
    # Horizon 2025-05-20 09:00: Jan..May 2025 (before the 20th) go.
    assert result.horizon == datetime(2025, 5, 20, 9, tzinfo=LONDON)
    assert result.deleted == 5
    assert result.kept == 13
    remaining = list(reversed(log.records(limit=100)))
    assert remaining[0].timestamp == datetime(2025, 6, 15, 12, tzinfo=LONDON)
    assert all(r.timestamp >= result.horizon for r in remaining)
    cleared = remaining[-1]
    assert cleared == result.cleared_record
    assert cleared.type == "SecurityLogWasCleared"
    assert cleared.critical
    assert "deleted 5" in cleared.info and "kept 13" in cleared.info
    check = log.verify()
    assert check.ok and check.checked == 14


def test_rotation_keeps_a_record_exactly_at_the_horizon(log: SecurityLog, clock: VirtualClock):
    clock.set_wall_time(datetime(2025, 3, 1, 10, tzinfo=LONDON))
    log.record(LOGIN)
    assert log.rotate(datetime(2026, 4, 1, 10, tzinfo=LONDON)).deleted == 0


def test_rotation_with_nothing_old_writes_nothing(log: SecurityLog):
    fill(log, 3)
    result = log.rotate()
    assert (result.deleted, result.cleared_record) == (0, None)
    assert len(log.records()) == 3


def test_rotation_of_an_all_old_log_leaves_a_verifiable_chain(
    log: SecurityLog, clock: VirtualClock, path: Path
):
    fill(log, 4)
    clock.set_wall_time(clock.now() + timedelta(days=800))
    result = log.rotate()
    assert result.deleted == 4
    assert [r.id for r in log.records()] == [5]
    log.record(LOGIN, "later")
    assert log.verify().ok
    assert verify_file(path).ok


def test_tampering_after_rotation_is_still_detected(log: SecurityLog, clock: VirtualClock, path):
    monthly(log, clock, datetime(2025, 1, 15, 12, tzinfo=LONDON), 18)
    log.rotate(datetime(2026, 6, 20, 9, tzinfo=LONDON))
    raw(path).execute("DELETE FROM records WHERE id = 6")  # now the oldest kept record
    check = log.verify()
    assert check.first_broken_id == 6


def test_rotation_never_deletes_the_broken_part_of_the_chain(
    log: SecurityLog, clock: VirtualClock, path: Path
):
    monthly(log, clock, datetime(2024, 1, 15, 12, tzinfo=LONDON), 6)
    raw(path).execute("UPDATE records SET info = 'covered up' WHERE id = 3")
    clock.set_wall_time(datetime(2026, 6, 1, tzinfo=LONDON))
    result = log.rotate()
    assert result.deleted == 2  # 1 and 2; the evidence from 3 on stays
    check = log.verify()
    assert check.first_broken_id == 3
    assert result.cleared_record is not None
    assert "already broken" in result.cleared_record.info


def test_export_lines_carry_the_chain_for_the_receiver(log: SecurityLog):
    fill(log, 3)
    header, *lines = [json.loads(line) for line in log.export_text().splitlines()]
    assert header["format"] == "ukscp-security-log-v1"
    prev = header["anchor_hash"]
    for line in lines:
        assert line["prev_hash"] == prev
        assert line["hash"] == record_hash(
            line["id"], line["timestamp"], line["type"], line["info"], line["critical"], prev
        )
        prev = line["hash"]
    assert [line["id"] for line in lines] == [1, 2, 3]


def test_verify_file_reads_a_closed_log(path: Path, clock: VirtualClock):
    log = SecurityLog(path, clock)
    fill(log, 2)
    log.close()
    assert verify_file(path).checked == 2


_EDITS = {
    "info": "info = info || '!'",
    "type": "type = 'Logout'",
    "ts": "ts = '2020-01-01T00:00:00.000000+00:00'",
    "critical": "critical = 1 - critical",
    "prev_hash": "prev_hash = substr(prev_hash, 2) || '0'",
    "hash": "hash = substr(hash, 2) || '0'",
}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 8), data=st.data(), column=st.sampled_from(sorted(_EDITS)))
def test_any_single_edit_is_named_by_verify(n: int, data: st.DataObject, column: str):
    victim = data.draw(st.integers(1, n))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "security.sqlite3"
        log = SecurityLog(path, VirtualClock())
        fill(log, n)
        raw(path).execute(f"UPDATE records SET {_EDITS[column]} WHERE id = ?", (victim,))
        check = log.verify()
        log.close()
    assert (check.ok, check.first_broken_id) == (False, victim)


def test_listeners_hear_each_committed_record_until_they_unsubscribe(log: SecurityLog):
    heard: list[str] = []
    unsubscribe = log.on_record(lambda record: heard.append(record.type))
    log.record(START, "one")

    def broken(record: object) -> None:
        raise RuntimeError("a listener's fault is not the writer's")

    log.on_record(broken)
    log.record(START, "two")  # still written, still heard
    unsubscribe()
    log.record(START, "three")
    assert heard == ["StartupOfTheDevice", "StartupOfTheDevice"]
    assert [r.info for r in log.records()][:3] == ["three", "two", "one"]


# --- a log that cannot be read, and a chain that does not verify at start

PAGE = 4096  # SQLite's default page size, which the log keeps


def smash_pages(path: Path, pages: range) -> None:
    """Overwrite whole pages with bytes no SQLite page can start with (a real corrupt page)."""
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * PAGE)
            file.write(b"\xa5" * PAGE)


def closed_log_of(path: Path, n: int) -> int:
    """A closed log of ``n`` records; returns its size in pages (all in the main file)."""
    log = SecurityLog(path, VirtualClock())
    fill(log, n)
    log.close()
    return path.stat().st_size // PAGE


def moved_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


def test_a_garbled_header_is_moved_aside_and_the_new_log_says_so_first(
    path: Path, clock: VirtualClock
):
    closed_log_of(path, 3)
    with path.open("r+b") as file:
        file.write(b"not a database, someone wrote here")
    damaged = path.read_bytes()
    log = SecurityLog(path, clock)
    (kept,) = moved_aside(path)
    assert kept.read_bytes() == damaged  # kept unchanged, never deleted
    (first,) = log.records()
    assert (first.id, first.type, first.critical) == (1, "SecurityLogWasCleared", True)
    assert kept.name in first.info and "not a database" in first.info
    (problem,) = log.problems()
    assert (problem.kind, problem.database, problem.moved_to) == (
        "moved_aside",
        "security.sqlite3",
        kept.name,
    )
    assert log.verify().ok and log.undelivered_critical() == [first]


def test_a_corrupt_page_in_the_middle_is_found_at_opening(path: Path, clock: VirtualClock):
    pages = closed_log_of(path, 3000)
    smash_pages(path, range(pages // 2, pages // 2 + 1))
    log = SecurityLog(path, clock)
    assert len(moved_aside(path)) == 1
    assert [record.type for record in log.records()] == ["SecurityLogWasCleared"]
    log.record(LOGIN, "the events after it are written again")
    assert log.verify().checked == 2


def test_damage_a_write_runs_into_moves_the_log_aside_and_keeps_the_event(
    path: Path, clock: VirtualClock
):
    pages = closed_log_of(path, 3000)
    log = SecurityLog(path, clock)
    assert log.problems() == []
    smash_pages(path, range(2, pages + 1))
    # Another writer makes the log's connection read the file again (not its cache).
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("PRAGMA user_version = 7")
    heard: list[str] = []
    log.on_record(lambda record: heard.append(record.type))
    written = log.record(SecurityEventType.LOGIN_FAILED, "after the damage")
    assert (written.id, written.type) == (2, "LoginFailed")
    assert heard == ["SecurityLogWasCleared", "LoginFailed"]
    assert [problem.kind for problem in log.problems()] == ["moved_aside"]
    assert len(moved_aside(path)) == 1


def test_a_second_damage_the_same_second_keeps_both_files(path: Path, clock: VirtualClock):
    for _ in range(2):
        closed_log_of(path, 1)
        path.write_bytes(b"garbage" * 100)
        SecurityLog(path, clock).close()
    assert len(moved_aside(path)) == 2


def test_a_broken_chain_at_start_is_a_critical_record_and_a_problem(
    path: Path, clock: VirtualClock, caplog: pytest.LogCaptureFixture
):
    closed_log_of(path, 5)
    raw(path).execute("UPDATE records SET info = 'nothing happened' WHERE id = 3")
    log = SecurityLog(path, clock)
    check = log.check_chain_at_start()
    assert (check.ok, check.first_broken_id) == (False, 3)
    (newest,) = log.records(limit=1)
    assert (newest.type, newest.critical) == ("SecurityLogChainBroken", True)
    assert "record 3" in newest.info
    assert newest in log.undelivered_critical()
    (problem,) = log.problems()
    assert (problem.kind, problem.moved_to) == ("chain_broken", None)
    assert any("does not verify" in message for message in caplog.messages)
    assert len(moved_aside(path)) == 0  # the evidence stays where it is


def test_an_intact_chain_at_start_writes_nothing(log: SecurityLog):
    fill(log, 3)
    assert log.check_chain_at_start().ok
    assert len(log.records()) == 3 and log.problems() == []


def test_the_same_break_is_recorded_once_however_often_the_charger_starts(
    path: Path, clock: VirtualClock
):
    closed_log_of(path, 5)
    raw(path).execute("UPDATE records SET info = 'nothing happened' WHERE id = 3")
    for _ in range(3):
        log = SecurityLog(path, clock)
        assert not log.check_chain_at_start().ok
        assert [p.kind for p in log.problems()] == ["chain_broken"]  # the owner is told each time
        log.close()
    log = SecurityLog(path, clock)
    broken = [r for r in log.records() if r.type == "SecurityLogChainBroken"]
    assert len(broken) == 1
    log.close()
