"""The real process and its data directory: who may read it, and damaged databases."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import UKSCP, RunningCharger
from tests.e2e.test_run import wait_for
from ukscp.clock import VirtualClock
from ukscp.security.seclog import SecurityEventType, SecurityLog

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def modes(data_dir: Path) -> dict[str, str]:
    """Every path under ``data_dir`` (itself as ".") with its permission bits."""
    paths = [data_dir, *(path for path in data_dir.rglob("*") if not path.is_symlink())]
    return {
        path.relative_to(data_dir).as_posix(): f"{stat.S_IMODE(path.stat().st_mode):04o}"
        for path in paths
    }


def opened_to_others(data_dir: Path) -> dict[str, str]:
    """Paths that are not exactly 0700 (directories) or 0600 (files)."""
    wrong = {}
    for name, mode in modes(data_dir).items():
        expected = "0700" if (data_dir / name).is_dir() else "0600"
        if mode != expected:
            wrong[name] = mode
    return wrong


def record_types(charger: RunningCharger) -> list[str]:
    return [record["type"] for record in charger.client.get("/api/v1/security-log").json()]


def test_a_data_dir_open_to_others_is_closed_at_start_and_said(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = tmp_path / "data"
    (data_dir / "notes").mkdir(parents=True)
    (data_dir / "notes" / "installer.txt").write_text("fitted 2026-01-05\n")
    for path, mode in ((data_dir, 0o755), (data_dir / "notes", 0o755)):
        path.chmod(mode)
    (data_dir / "notes" / "installer.txt").chmod(0o644)

    charger = charger_factory(data_dir=data_dir)
    charger.client.post("/api/v1/sim/plug")  # writes to every database: -wal and -shm files
    assert opened_to_others(data_dir) == {}
    line = next(text for text in charger.console if "took the access of other users" in text)
    assert ". (was 0755)" in line and "notes/installer.txt (was 0644)" in line
    log = charger.client.get("/api/v1/security-log").json()
    tightened = [record for record in log if record["type"] == "FilePermissionsTightened"]
    assert len(tightened) == 1 and "notes/installer.txt (was 0644)" in tightened[0]["info"]
    assert charger.stop() == 0
    assert opened_to_others(data_dir) == {}


def test_files_an_older_version_left_readable_are_closed_at_the_next_start(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = tmp_path / "data"
    first = charger_factory(data_dir=data_dir)
    assert first.stop() == 0
    for name in modes(data_dir):
        path = data_dir / name
        path.chmod(0o755 if path.is_dir() else 0o644)
    opened = set(modes(data_dir))
    assert {"accounts.sqlite3", "security.sqlite3", "tls/device-key.pem"} <= opened

    again = charger_factory(data_dir=data_dir)
    assert opened_to_others(data_dir) == {}
    line = next(text for text in again.console if "took the access of other users" in text)
    assert "accounts.sqlite3 (was 0644)" in line
    assert "FilePermissionsTightened" in record_types(again)
    assert again.stop() == 0


def test_a_data_dir_already_closed_is_not_reported(charger_factory: Factory, tmp_path: Path):
    data_dir = tmp_path / "data"
    assert charger_factory(data_dir=data_dir).stop() == 0
    again = charger_factory(data_dir=data_dir)
    assert not [text for text in again.console if "took the access of other users" in text]
    assert "FilePermissionsTightened" not in record_types(again)
    assert again.stop() == 0


# --- a security log (or another database) that is damaged or edited while the charger is off

PAGE = 4096  # SQLite's default page size


def ukscp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(UKSCP), *args], capture_output=True, text=True, timeout=60)


def stopped_charger(factory: Factory, tmp_path: Path) -> Path:
    """The data directory of a charger that was set up, ran, and was stopped."""
    charger = factory(data_dir=tmp_path / "data")
    assert charger.stop() == 0
    return charger.data_dir


def storage_problems(charger: RunningCharger) -> list[dict]:
    answer = charger.client.get("/api/v1/storage")
    assert answer.status_code == 200, answer.text
    return answer.json()["problems"]


def charges(charger: RunningCharger) -> None:
    assert charger.client.post("/api/v1/sim/plug").json()["plugged_in"] is True
    wait_for(charger, lambda status: status["state"] == "C" and status["power_w"] > 0)


def test_a_security_log_with_a_garbled_header_is_kept_aside_and_charging_goes_on(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = stopped_charger(charger_factory, tmp_path)
    seclog = data_dir / "security.sqlite3"
    with seclog.open("r+b") as file:
        file.write(b"\x00garbled by a failing card\x00")
    damaged = seclog.read_bytes()

    charger = charger_factory(data_dir=data_dir)
    (kept,) = sorted(data_dir.glob("security.sqlite3.corrupt-*"))
    assert kept.read_bytes() == damaged
    assert any(kept.name in line and "WARNING" in line for line in charger.console)
    log = charger.client.get("/api/v1/security-log").json()
    assert log[-1]["type"] == "SecurityLogWasCleared" and log[-1]["id"] == 1
    assert kept.name in log[-1]["info"] and log[-1]["critical"] is True
    assert "LoginSucceeded" in [record["type"] for record in log]  # events are written again
    (problem,) = storage_problems(charger)
    assert problem["kind"] == "moved_aside" and problem["moved_to"] == kept.name
    charges(charger)
    assert charger.stop() == 0

    verify = ukscp("seclog", "verify", "--data-dir", str(data_dir))
    assert verify.returncode == 0, verify.stderr
    assert "intact" in verify.stdout and kept.name in verify.stdout


def test_a_security_log_with_a_corrupt_page_is_found_at_start_not_at_each_lost_event(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = stopped_charger(charger_factory, tmp_path)
    seclog = data_dir / "security.sqlite3"
    log = SecurityLog(seclog, VirtualClock())
    for n in range(3000):
        log.record(SecurityEventType.LOGIN_FAILED, f"attempt {n}")
    log.close()
    pages = seclog.stat().st_size // PAGE
    assert pages > 100
    with seclog.open("r+b") as file:  # one whole page in the middle becomes garbage
        file.seek(pages // 2 * PAGE)
        file.write(b"\xa5" * PAGE)

    charger = charger_factory(data_dir=data_dir)
    (kept,) = sorted(data_dir.glob("security.sqlite3.corrupt-*"))
    assert kept.stat().st_size == pages * PAGE
    types = [record["type"] for record in charger.client.get("/api/v1/security-log").json()]
    assert types[-1] == "SecurityLogWasCleared" and "LoginSucceeded" in types
    assert [problem["kind"] for problem in storage_problems(charger)] == ["moved_aside"]
    charges(charger)
    assert charger.stop() == 0
    assert ukscp("seclog", "verify", "--data-dir", str(data_dir)).returncode == 0


def test_a_record_edited_while_the_charger_was_off_is_told_at_start(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = stopped_charger(charger_factory, tmp_path)
    with sqlite3.connect(data_dir / "security.sqlite3") as db:
        (target,) = db.execute(
            "SELECT id FROM records WHERE type = 'LoginSucceeded' ORDER BY id LIMIT 1"
        ).fetchone()
        db.execute("DROP TRIGGER records_append_only")
        db.execute("UPDATE records SET info = 'nothing happened' WHERE id = ?", (target,))

    charger = charger_factory(data_dir=data_dir)
    assert any(
        "WARNING" in line and f"does not verify at start at record {target}" in line
        for line in charger.console
    )
    log = charger.client.get("/api/v1/security-log").json()
    broken = [record for record in log if record["type"] == "SecurityLogChainBroken"]
    assert len(broken) == 1 and broken[0]["critical"] is True
    assert f"record {target}" in broken[0]["info"]
    (problem,) = storage_problems(charger)
    assert problem["kind"] == "chain_broken" and problem["database"] == "security.sqlite3"
    assert not list(data_dir.glob("*.corrupt-*"))  # the evidence stays where it was
    charges(charger)
    assert charger.stop() == 0


def test_a_meter_history_with_a_garbled_header_is_kept_aside_and_charging_goes_on(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = stopped_charger(charger_factory, tmp_path)
    metering = data_dir / "metering.sqlite3"
    metering.write_bytes(b"garbage" * 1000)

    charger = charger_factory(data_dir=data_dir)
    (kept,) = sorted(data_dir.glob("metering.sqlite3.corrupt-*"))
    assert kept.read_bytes() == b"garbage" * 1000
    log = charger.client.get("/api/v1/security-log").json()
    moved = [record for record in log if record["type"] == "DatabaseMovedAside"]
    assert len(moved) == 1 and kept.name in moved[0]["info"]
    (problem,) = storage_problems(charger)
    assert (problem["database"], problem["moved_to"]) == ("metering.sqlite3", kept.name)
    charges(charger)
    assert charger.stop() == 0


def test_an_account_store_with_a_garbled_header_is_kept_aside_and_the_owner_sets_up_again(
    charger_factory: Factory, tmp_path: Path
):
    data_dir = stopped_charger(charger_factory, tmp_path)
    accounts = data_dir / "accounts.sqlite3"
    accounts.write_bytes(b"garbage" * 1000)

    # The factory logs in: with no account left, it sets up with a new code from the console.
    charger = charger_factory(data_dir=data_dir)
    (kept,) = sorted(data_dir.glob("accounts.sqlite3.corrupt-*"))
    assert kept.read_bytes() == b"garbage" * 1000
    log = charger.client.get("/api/v1/security-log").json()
    types = [record["type"] for record in log]
    assert "DatabaseMovedAside" in types and "OwnerSetupCompleted" in types
    (problem,) = storage_problems(charger)
    assert (problem["database"], problem["moved_to"]) == ("accounts.sqlite3", kept.name)
    charges(charger)
    assert charger.stop() == 0
