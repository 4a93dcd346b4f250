"""The real process and its data directory: who may read it, and damaged databases."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningCharger

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def modes(data_dir: Path) -> dict[str, str]:
    """Every path under ``data_dir`` (itself as ".") with its permission bits."""
    found = {".": f"{stat.S_IMODE(data_dir.stat().st_mode):04o}"}
    for path in data_dir.rglob("*"):
        if not path.is_symlink():
            found[path.relative_to(data_dir).as_posix()] = f"{stat.S_IMODE(path.stat().st_mode):04o}"
    return found


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
