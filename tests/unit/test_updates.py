"""The update checker without a repository: versions, statuses, failures and scheduling.

Checks against a real TUF repository over HTTP are in
``tests/integration/test_updates_repository.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ukscp import __version__
from ukscp.clock import VirtualClock
from ukscp.firmware import updates
from ukscp.firmware.updates import UpdateChecker, compare_versions, numeric_compare
from ukscp.security.seclog import SecurityLog


@pytest.fixture
def seclog(tmp_path: Path, clock: VirtualClock) -> Iterator[SecurityLog]:
    log = SecurityLog(tmp_path / "security.sqlite3", clock)
    yield log
    log.close()


def make_checker(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog, root: Path | None = None
) -> UpdateChecker:
    return UpdateChecker(
        clock,
        seclog,
        "https://updates.example/repo",
        root or tmp_path / "missing-root.json",
        tmp_path / "tuf",
        "0.1.0",
    )


# -- versions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0.2.0", "0.1.0", 1),
        ("0.1.0", "0.2.0", -1),
        ("0.1.0", "0.1.0", 0),
        ("0.1", "0.1.0", 0),
        ("0.10.0", "0.9.0", 1),  # numbers, not text
        ("1.0.0", "0.99.99", 1),
    ],
)
@pytest.mark.parametrize("compare", [compare_versions, numeric_compare])
def test_versions_are_ordered_numerically(a: str, b: str, expected: int, compare: object) -> None:
    assert callable(compare)
    assert compare(a, b) == expected


def test_pre_releases_order_before_their_release() -> None:
    assert compare_versions("0.2.0rc1", "0.2.0") == -1
    assert compare_versions("0.2.0rc1", "0.1.0") == 1


@pytest.mark.parametrize("bad", ["", "two", "1..2", "1.2.", "v1.2", "1.2-beta"])
def test_numeric_compare_refuses_what_it_cannot_order(bad: str) -> None:
    with pytest.raises(ValueError):
        numeric_compare(bad, "1.0")


def test_without_packaging_only_numeric_versions_are_understood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(updates, "_HAVE_PACKAGING", False)
    assert compare_versions("0.2.0", "0.1.0") == 1
    with pytest.raises(ValueError):
        compare_versions("0.2.0rc1", "0.1.0")


def test_invalid_versions_are_value_errors() -> None:
    with pytest.raises(ValueError):
        compare_versions("not a version", "0.1.0")


def test_running_version_is_a_valid_version() -> None:
    assert compare_versions(__version__, __version__) == 0


# -- construction and status ---------------------------------------------------


def test_constructor_refuses_bad_settings(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog
) -> None:
    root, meta = tmp_path / "root.json", tmp_path / "tuf"
    with pytest.raises(ValueError, match="version"):
        UpdateChecker(clock, seclog, "https://u.example", root, meta, "not a version")
    with pytest.raises(ValueError, match="http"):
        UpdateChecker(clock, seclog, "file:///srv/repo", root, meta, "0.1.0")


def test_status_is_frozen_and_serialisable(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog
) -> None:
    status = make_checker(tmp_path, clock, seclog).check_now()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.outcome = "up_to_date"  # type: ignore[misc]
    assert status.as_dict() == {
        "checked_at": "2026-01-05T00:00:00+00:00",
        "outcome": "could_not_check",
        "current_version": "0.1.0",
        "available_version": None,
        "detail": status.detail,
    }


# -- failures that are not the repository's -------------------------------------


def test_missing_pinned_root_could_not_check(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog, caplog: pytest.LogCaptureFixture
) -> None:
    checker = make_checker(tmp_path, clock, seclog)
    assert checker.last is None
    with caplog.at_level(logging.ERROR, logger="ukscp.firmware.updates"):
        status = checker.check_now()
    assert status.outcome == "could_not_check"
    assert "pinned TUF root" in status.detail
    assert checker.last == status
    assert seclog.records() == []
    assert any("pinned TUF root" in r.getMessage() for r in caplog.records)


def test_invalid_pinned_root_could_not_check(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog
) -> None:
    root = tmp_path / "root.json"
    root.write_text('{"signed": {"_type": "root"}, "signatures": []}')
    status = make_checker(tmp_path, clock, seclog, root).check_now()
    assert status.outcome == "could_not_check"
    assert "is not valid" in status.detail
    assert seclog.records() == []


def test_unexpected_error_is_reported_not_raised(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = make_checker(tmp_path, clock, seclog)

    def broken() -> str:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(checker, "_fetch_announced_version", broken)
    status = checker.check_now()
    assert status.outcome == "could_not_check"
    assert "something nobody expected" in status.detail


# -- scheduling ------------------------------------------------------------------


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    """Wait in real time: the network part of a check runs on a thread."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


class CountingChecker(UpdateChecker):
    """Counts the checks the loop makes (each one fails fast: no pinned root)."""

    checks = 0

    def _fetch_announced_version(self) -> str:
        self.checks += 1
        return super()._fetch_announced_version()


async def test_run_checks_at_start_every_interval_and_when_asked(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog
) -> None:
    checker = CountingChecker(
        clock, seclog, "https://u.example", tmp_path / "no-root", tmp_path / "tuf", "0.1.0"
    )
    task = asyncio.create_task(checker.run(interval_h=24))
    try:
        await _until(lambda: checker.last is not None)
        assert checker.checks == 1
        start = checker.last
        assert start is not None
        await clock.advance(23.5 * 3600)
        await asyncio.sleep(0.05)
        assert checker.checks == 1
        await clock.advance(0.5 * 3600)
        await _until(lambda: checker.checks == 2)
        await _until(lambda: checker.last is not start)
        last = checker.last
        assert last is not None
        assert (last.checked_at - start.checked_at).total_seconds() == 24 * 3600
        checker.check_soon()  # e.g. the owner pressed "check now"
        await _until(lambda: checker.checks == 3)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_async_check_runs_the_network_part_off_the_loop(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = make_checker(tmp_path, clock, seclog)
    threads: list[threading.Thread] = []

    def fetch() -> str:
        threads.append(threading.current_thread())
        return "0.2.0"

    monkeypatch.setattr(checker, "_fetch_announced_version", fetch)
    status = await checker.check()
    assert (status.outcome, status.available_version) == ("update_available", "0.2.0")
    assert threads and threads[0] is not threading.main_thread()
    assert threads[0].daemon  # never holds up a SIGTERM stop


async def test_cancelled_check_abandons_the_thread_quietly(
    tmp_path: Path, clock: VirtualClock, seclog: SecurityLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = make_checker(tmp_path, clock, seclog)
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        return "0.2.0"

    monkeypatch.setattr(checker, "_fetch_announced_version", slow)
    task = asyncio.create_task(checker.check())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.sleep(0.05)  # the thread delivers to a cancelled future: no error
    assert checker.last is None
