"""The update checker against a real TUF repository served over HTTP on 127.0.0.1.

Each test builds its repository here with ``tuf.api.metadata`` (Ed25519 keys,
one per top-level role), publishes it into a directory served by
``http.server`` on a free port, and points an :class:`UpdateChecker` at it.

The TUF client checks expiry against the real system time (not the virtual
clock), so valid metadata expires in ten years and expired metadata yesterday.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from ukscp.clock import VirtualClock
from ukscp.firmware.updates import (
    ARCHIVE_TARGET_TEMPLATE,
    RELEASE_INDEX_TARGET,
    UpdateChecker,
    UpdateStatus,
)
from ukscp.security.seclog import SecurityLog, SecurityRecord

RUNNING = "0.1.0"
FAR = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3650)
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
ROLES = (Root.type, Targets.type, Snapshot.type, Timestamp.type)


class TufRepository:
    """A TUF repository on disk, laid out as the charger expects (metadata/, targets/)."""

    def __init__(self, base: Path, consistent_snapshot: bool = False) -> None:
        self.metadata_dir = base / "metadata"
        self.targets_dir = base / "targets"
        self.metadata_dir.mkdir(parents=True)
        self.targets_dir.mkdir(parents=True)
        self.signers: dict[str, Signer] = {r: CryptoSigner.generate_ed25519() for r in ROLES}
        root = Root(expires=FAR, consistent_snapshot=consistent_snapshot)
        for role, signer in self.signers.items():
            root.add_key(signer.public_key, role)
        self.root = Metadata(root)
        self.targets = Metadata(Targets(expires=FAR))
        self.snapshot = Metadata(Snapshot(expires=FAR))
        self.timestamp = Metadata(Timestamp(expires=FAR))
        self._published = False
        self._write_root()

    @property
    def consistent(self) -> bool:
        return bool(self.root.signed.consistent_snapshot)

    def root_bytes(self) -> bytes:
        """The root as published: what a charger is provisioned with."""
        return (self.metadata_dir / "root.json").read_bytes()

    def _write_root(self, extra_signers: tuple[Signer, ...] = ()) -> None:
        self.root.signatures.clear()
        for signer in (self.signers[Root.type], *extra_signers):
            self.root.sign(signer, append=True)
        data = self.root.to_bytes()
        (self.metadata_dir / "root.json").write_bytes(data)
        (self.metadata_dir / f"{self.root.signed.version}.root.json").write_bytes(data)

    def rotate_timestamp_key(self) -> None:
        """Root version +1 with a new timestamp key, signed by the (unchanged) root key."""
        root = self.root.signed
        old = self.signers[Timestamp.type].public_key
        root.revoke_key(old.keyid, Timestamp.type)
        self.signers[Timestamp.type] = CryptoSigner.generate_ed25519()
        root.add_key(self.signers[Timestamp.type].public_key, Timestamp.type)
        root.version += 1
        self._write_root()

    def add_target(self, path: str, data: bytes) -> None:
        self.targets.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        (self.targets_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (self.targets_dir / path).write_bytes(data)
        if self.consistent:
            digest = self.targets.signed.targets[path].hashes["sha256"]
            dirname, _, name = path.rpartition("/")
            (self.targets_dir / dirname / f"{digest}.{name}").write_bytes(data)

    def release(self, version: str, with_archive: bool = True) -> None:
        """Announce ``version`` by the charger's convention (index + archive targets)."""
        self.add_target(RELEASE_INDEX_TARGET, json.dumps({"version": version}).encode())
        if with_archive:
            archive = ARCHIVE_TARGET_TEMPLATE.format(version=version)
            self.add_target(archive, f"release archive {version}".encode())

    def publish(
        self,
        expires: dict[str, datetime] | None = None,
        timestamp_signer: Signer | None = None,
    ) -> None:
        """Sign and write targets, snapshot and timestamp, each with a new version.

        ``expires`` maps a role name to its expiry (default: ten years away).
        """
        expiry = {Targets.type: FAR, Snapshot.type: FAR, Timestamp.type: FAR, **(expires or {})}
        if self._published:
            for md in (self.targets, self.snapshot, self.timestamp):
                md.signed.version += 1
        self._published = True
        self.targets.signed.expires = expiry[Targets.type]
        self._write(self.targets, self.signers[Targets.type])
        self.snapshot.signed.expires = expiry[Snapshot.type]
        self.snapshot.signed.meta["targets.json"] = MetaFile(self.targets.signed.version)
        self._write(self.snapshot, self.signers[Snapshot.type])
        self.timestamp.signed.expires = expiry[Timestamp.type]
        self.timestamp.signed.snapshot_meta = MetaFile(self.snapshot.signed.version)
        self._write(self.timestamp, timestamp_signer or self.signers[Timestamp.type])

    def _write(self, md: Metadata[Any], signer: Signer) -> None:
        md.signatures.clear()
        md.sign(signer)
        data = md.to_bytes()
        role = md.signed.type
        (self.metadata_dir / f"{role}.json").write_bytes(data)
        if self.consistent and role != Timestamp.type:
            (self.metadata_dir / f"{md.signed.version}.{role}.json").write_bytes(data)

    def served_target(self, path: str) -> Path:
        """The file the server sends for target ``path`` (to tamper with it)."""
        if self.consistent:
            digest = self.targets.signed.targets[path].hashes["sha256"]
            dirname, _, name = path.rpartition("/")
            return self.targets_dir / dirname / f"{digest}.{name}"
        return self.targets_dir / path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served_dir(tmp_path: Path) -> Path:
    path = tmp_path / "served"
    path.mkdir()
    return path


@pytest.fixture
def server_url(served_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An HTTP server for ``served_dir`` on a free port, stopped after the test."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy in the environment must not intercept
    handler = functools.partial(_QuietHandler, directory=str(served_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval so shutdown() returns quickly after each test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/repo"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def repo(served_dir: Path) -> TufRepository:
    return TufRepository(served_dir / "repo")


@dataclass
class Charger:
    """What the checker needs on the charger's side: its data dir and security log."""

    clock: VirtualClock
    seclog: SecurityLog
    data_dir: Path
    trusted_root: Path

    def checker(self, url: str, version: str = RUNNING) -> UpdateChecker:
        return UpdateChecker(
            self.clock,
            self.seclog,
            url,
            self.trusted_root,
            self.data_dir / "tuf",
            version,
            socket_timeout_s=5,
        )

    def rejections(self) -> list[SecurityRecord]:
        return [r for r in self.seclog.records() if r.type == "UpdateRejected"]


@pytest.fixture
def charger(tmp_path: Path, repo: TufRepository) -> Iterator[Charger]:
    """A charger provisioned with the repository's root (as at the factory)."""
    clock = VirtualClock()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    provisioning = tmp_path / "provisioning"
    provisioning.mkdir()
    trusted_root = provisioning / "root.json"
    trusted_root.write_bytes(repo.root_bytes())
    seclog = SecurityLog(data_dir / "security.sqlite3", clock)
    yield Charger(clock, seclog, data_dir, trusted_root)
    seclog.close()


def assert_rejected(status: UpdateStatus, charger: Charger, *words: str) -> None:
    assert status.outcome == "rejected", status
    assert status.available_version is None
    records = charger.rejections()
    assert len(records) == 1
    for word in words:
        assert word in status.detail
        assert word in records[0].info


# -- what the charger should find ---------------------------------------------


@pytest.mark.parametrize("consistent", [False, True], ids=["plain", "consistent-snapshot"])
def test_newer_release_is_offered(
    consistent: bool, served_dir: Path, server_url: str, tmp_path: Path
) -> None:
    repo = TufRepository(served_dir / "repo", consistent_snapshot=consistent)
    repo.release("0.2.0")
    repo.publish()
    pinned = tmp_path / "root.json"
    pinned.write_bytes(repo.root_bytes())
    clock = VirtualClock()
    seclog = SecurityLog(tmp_path / "security.sqlite3", clock)
    try:
        checker = UpdateChecker(
            clock, seclog, server_url, pinned, tmp_path / "tuf", RUNNING, socket_timeout_s=5
        )
        status = checker.check_now()
        assert seclog.records() == []
    finally:
        seclog.close()
    assert status.outcome == "update_available"
    assert status.available_version == "0.2.0"
    assert status.current_version == RUNNING
    assert status.checked_at == clock.now()
    assert "0.2.0" in status.detail
    assert checker.last == status
    # The client keeps its trusted metadata in the data dir, anchored on the pinned root.
    assert (tmp_path / "tuf" / "root.json").read_bytes() == pinned.read_bytes()
    assert (tmp_path / "tuf" / "timestamp.json").is_file()


def test_same_release_is_up_to_date(repo: TufRepository, charger: Charger, server_url: str) -> None:
    repo.release(RUNNING)
    repo.publish()
    status = charger.checker(server_url).check_now()
    assert status.outcome == "up_to_date"
    assert status.available_version is None
    assert charger.rejections() == []


def test_trailing_zero_is_the_same_release(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release("0.1")
    repo.publish()
    assert charger.checker(server_url).check_now().outcome == "up_to_date"


def test_later_publication_is_found_on_the_next_check(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release(RUNNING)
    repo.publish()
    checker = charger.checker(server_url)
    assert checker.check_now().outcome == "up_to_date"
    repo.release("0.3.0")
    repo.publish()
    status = checker.check_now()
    assert (status.outcome, status.available_version) == ("update_available", "0.3.0")


def test_root_rotation_is_followed(repo: TufRepository, charger: Charger, server_url: str) -> None:
    repo.release("0.2.0")
    repo.publish()
    checker = charger.checker(server_url)
    assert checker.check_now().outcome == "update_available"
    repo.rotate_timestamp_key()  # root v2, signed by the pinned root's key
    repo.publish()
    assert checker.check_now().outcome == "update_available"
    assert (charger.data_dir / "tuf" / "root_history" / "2.root.json").is_file()
    assert (
        json.loads((charger.data_dir / "tuf" / "root.json").read_bytes())["signed"]["version"] == 2
    )


def test_root_planted_in_the_data_dir_is_not_trusted(
    repo: TufRepository, charger: Charger, server_url: str, tmp_path: Path
) -> None:
    """The anchor is the pinned root: a root written into the data dir moves nothing."""
    repo.release("0.2.0")
    repo.publish()
    checker = charger.checker(server_url)
    assert checker.check_now().outcome == "update_available"
    # Someone with write access to the data dir plants their own root (and
    # with it their own keys for every role) as the next version.
    attacker = TufRepository(tmp_path / "attacker")
    attacker.root.signed.version = 2
    attacker._write_root()
    planted = (attacker.metadata_dir / "2.root.json").read_bytes()
    tuf_dir = charger.data_dir / "tuf"
    (tuf_dir / "root_history" / "2.root.json").write_bytes(planted)
    (tuf_dir / "root.json").unlink()  # the client's link to the newest trusted root
    (tuf_dir / "root.json").write_bytes(planted)
    # ... and serves metadata signed with those keys.
    attacker.release("6.6.6")
    attacker.publish()
    for name in ("timestamp.json", "snapshot.json", "targets.json"):
        (repo.metadata_dir / name).write_bytes((attacker.metadata_dir / name).read_bytes())
    status = checker.check_now()
    assert_rejected(status, charger, "signature")


# -- what the charger should refuse -------------------------------------------


def test_tampered_release_index_is_rejected(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release(RUNNING)
    repo.publish()
    served = repo.served_target(RELEASE_INDEX_TARGET)
    genuine = served.read_bytes()
    forged = genuine.replace(RUNNING.encode(), b"9.9.9")
    assert len(forged) == len(genuine)  # only the hash can tell
    served.write_bytes(forged)
    status = charger.checker(server_url).check_now()
    assert_rejected(status, charger, "tampered", "hash")
    assert charger.rejections()[0].critical is False


def test_oversized_release_index_is_rejected(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release(RUNNING)
    repo.publish()
    served = repo.served_target(RELEASE_INDEX_TARGET)
    served.write_bytes(served.read_bytes() + b" " * 4096)
    status = charger.checker(server_url).check_now()
    assert_rejected(status, charger, "tampered", "length")


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_expired_metadata_is_rejected(
    role: str, repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release("0.2.0")
    repo.publish(expires={role: PAST})
    status = charger.checker(server_url).check_now()
    assert_rejected(status, charger, "expired", role)


def test_expired_timestamp_after_a_good_check_is_rejected(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    """A freeze: the mirror keeps serving what it had, and it runs out."""
    repo.release("0.2.0")
    repo.publish()
    checker = charger.checker(server_url)
    assert checker.check_now().outcome == "update_available"
    repo.publish(expires={Timestamp.type: PAST})
    assert_rejected(checker.check_now(), charger, "expired")


def test_bad_signature_is_rejected(repo: TufRepository, charger: Charger, server_url: str) -> None:
    repo.release("0.2.0")
    repo.publish(timestamp_signer=CryptoSigner.generate_ed25519())
    status = charger.checker(server_url).check_now()
    assert_rejected(status, charger, "signature", "timestamp")


def test_replayed_older_metadata_is_rejected(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    """Metadata rollback: version 1 again after version 2 was trusted."""
    repo.release(RUNNING)
    repo.publish()
    old = {n: (repo.metadata_dir / n).read_bytes() for n in ("timestamp.json", "snapshot.json")}
    checker = charger.checker(server_url)
    assert checker.check_now().outcome == "up_to_date"
    repo.release("0.2.0")
    repo.publish()
    assert checker.check_now().outcome == "update_available"
    for name, data in old.items():
        (repo.metadata_dir / name).write_bytes(data)
    status = checker.check_now()
    assert_rejected(status, charger, "rollback", "timestamp")


def test_older_release_is_never_offered(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    """Software rollback: a validly signed but older release is refused, and said so."""
    repo.release("0.0.9")
    repo.publish()
    checker = charger.checker(server_url)
    first = checker.check_now()
    second = checker.check_now()
    for status in (first, second):
        assert status.outcome == "up_to_date"
        assert status.available_version is None
        assert "rollback refused" in status.detail
        assert "0.0.9" in status.detail
    # Recorded once for this offer, not once per check.
    records = charger.rejections()
    assert len(records) == 1
    assert "rollback refused" in records[0].info


def test_announced_release_without_a_signed_archive_is_rejected(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release("0.2.0", with_archive=False)
    repo.publish()
    status = charger.checker(server_url).check_now()
    assert_rejected(status, charger, "ukscp/ukscp-0.2.0.tar.gz")


@pytest.mark.parametrize(
    "index",
    [b"not json", b'{"release": "0.2.0"}', b'{"version": 2}', b'{"version": "two"}'],
    ids=["not-json", "no-version", "not-a-string", "not-a-version"],
)
def test_malformed_release_index_is_rejected(
    index: bytes, repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.add_target(RELEASE_INDEX_TARGET, index)
    repo.publish()
    status = charger.checker(server_url).check_now()
    assert_rejected(status, charger, RELEASE_INDEX_TARGET)


# -- what the charger cannot know ---------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_server_could_not_check(
    charger: Charger, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url = f"http://127.0.0.1:{_free_port()}/repo"
    with caplog.at_level(logging.WARNING, logger="ukscp.firmware.updates"):
        status = charger.checker(url).check_now()
    assert status.outcome == "could_not_check"
    assert status.available_version is None
    assert "could not reach" in status.detail
    assert charger.rejections() == []
    assert any("could not reach" in r.getMessage() for r in caplog.records)


def test_repository_without_metadata_could_not_check(charger: Charger, server_url: str) -> None:
    status = charger.checker(server_url.replace("/repo", "/nothing-here")).check_now()
    assert status.outcome == "could_not_check"
    assert "404" in status.detail
    assert charger.rejections() == []


def test_repository_without_release_index_could_not_check(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.publish()
    status = charger.checker(server_url).check_now()
    assert status.outcome == "could_not_check"
    assert RELEASE_INDEX_TARGET in status.detail
    assert charger.rejections() == []


# -- the periodic check ---------------------------------------------------------


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    """Wait (real time: the network part runs on a thread) until ``condition()``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_run_checks_at_start_and_every_interval(
    repo: TufRepository, charger: Charger, server_url: str
) -> None:
    repo.release(RUNNING)
    repo.publish()
    checker = charger.checker(server_url)
    task = asyncio.create_task(checker.run(interval_h=24))
    try:
        await _until(lambda: checker.last is not None)
        first = checker.last
        assert first is not None and first.outcome == "up_to_date"
        repo.release("0.2.0")
        repo.publish()
        await charger.clock.advance(23 * 3600)
        await asyncio.sleep(0.2)
        assert checker.last is first  # not yet: the interval is 24 h
        await charger.clock.advance(3600)
        await _until(lambda: checker.last is not first)
        second = checker.last
        assert second is not None
        assert second.outcome == "update_available"
        assert second.checked_at - first.checked_at == timedelta(hours=24)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
