"""Signed release manifests: a changed, added or missing file is named."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

import ukscp
from ukscp.clock import VirtualClock
from ukscp.limits.arbiter import Arbiter
from ukscp.limits.limit import Limit, LimitSource
from ukscp.security.integrity import (
    RELEASE_MANIFEST,
    IntegrityError,
    check,
    generate_keypair,
    package_root,
    release_manifest,
    sign_release,
)
from ukscp.security.integrity_monitor import IntegrityMonitor
from ukscp.security.seclog import SecurityLog
from ukscp.security.secure_boot import secure_boot_state

NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of the installed package, signed: (root, manifest, public key)."""
    root = tmp_path / "installed" / "ukscp"
    shutil.copytree(package_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    key, pub = generate_keypair(tmp_path / "keys")
    manifest = tmp_path / "manifest.json"
    sign_release(root, key, manifest, ukscp.__version__)
    return root, manifest, pub


def test_keygen_writes_a_private_key_only_the_owner_can_read(tmp_path: Path):
    key, pub = generate_keypair(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()
    assert b"PUBLIC KEY" in pub.read_bytes()


def test_keygen_never_overwrites_a_signing_key(tmp_path: Path):
    generate_keypair(tmp_path)
    with pytest.raises(IntegrityError, match="refusing to overwrite"):
        generate_keypair(tmp_path)


def test_an_untouched_release_is_intact(release: tuple[Path, Path, Path]):
    report = check(*release, now=NOW)
    assert report.ok and report.signature_valid
    assert report.files_checked > 30
    assert "intact" in report.summary()


def test_an_edited_file_is_named(release: tuple[Path, Path, Path]):
    root, manifest, pub = release
    target = root / "regulation" / "random_delay.py"
    target.write_text(target.read_text() + "\n# quietly changed\n")
    report = check(root, manifest, pub, now=NOW)
    assert not report.ok
    assert report.changed == ("regulation/random_delay.py",)
    assert "regulation/random_delay.py" in report.summary()


def test_added_and_missing_files_are_named(release: tuple[Path, Path, Path]):
    root, manifest, pub = release
    (root / "backdoor.py").write_text("print('hi')\n")
    (root / "history.py").unlink()
    report = check(root, manifest, pub, now=NOW)
    assert (report.added, report.missing) == (("backdoor.py",), ("history.py",))


def test_bytecode_written_at_run_time_is_not_a_change(release: tuple[Path, Path, Path]):
    root, manifest, pub = release
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\x00")
    assert check(root, manifest, pub, now=NOW).ok


def test_a_manifest_edited_to_match_a_change_fails_its_signature(
    release: tuple[Path, Path, Path],
):
    root, manifest, pub = release
    document = json.loads(manifest.read_text())
    document["files"] = document["files"][1:]
    manifest.write_text(json.dumps(document))
    report = check(root, manifest, pub, now=NOW)
    assert not report.ok and not report.signature_valid
    assert "signature does not match" in report.error


def test_a_manifest_signed_with_another_key_is_refused(
    release: tuple[Path, Path, Path], tmp_path: Path
):
    root, manifest, _ = release
    _, other_pub = generate_keypair(tmp_path / "other")
    assert not check(root, manifest, other_pub, now=NOW).signature_valid


def test_an_unreadable_manifest_is_reported_in_words(release: tuple[Path, Path, Path]):
    root, manifest, pub = release
    manifest.write_text("{not json")
    report = check(root, manifest, pub, now=NOW)
    assert "cannot read the manifest" in report.error


def test_a_release_that_carries_its_own_manifest_is_checked_against_it(
    release: tuple[Path, Path, Path],
):
    root, factory_manifest, pub = release
    key = pub.with_name("release.key")
    target = root / "evse" / "controller.py"
    target.write_text(target.read_text() + "\n# the next release\n")
    sign_release(root, key, root / RELEASE_MANIFEST, "0.2.0")
    carried = release_manifest(root, factory_manifest)
    assert carried == root / RELEASE_MANIFEST
    report = check(root, carried, pub, NOW)
    assert report.ok, report.summary()  # the manifest does not list itself
    target.write_text(target.read_text() + "# and then quietly changed\n")
    assert check(root, carried, pub, NOW).changed == ("evse/controller.py",)


def test_without_a_carried_manifest_the_configured_one_is_used(
    release: tuple[Path, Path, Path],
):
    root, manifest, _ = release
    assert release_manifest(root, manifest) == manifest
    assert release_manifest(root, None) is None


def test_the_monitor_checks_firmware_against_the_manifest_it_brought(
    release: tuple[Path, Path, Path], tmp_path: Path
):
    root, factory_manifest, pub = release
    (root / "app.py").write_text((root / "app.py").read_text() + "\n# new firmware\n")
    sign_release(root, pub.with_name("release.key"), root / RELEASE_MANIFEST, "0.2.0")
    clock = VirtualClock()
    arbiter = Arbiter(
        caps={"hardware": Limit(32, LimitSource.HARDWARE, "board")}, supply_phases=1
    )
    seclog = SecurityLog(tmp_path / "security.sqlite3", clock)
    monitor = IntegrityMonitor(clock, arbiter, seclog, factory_manifest, pub, 0, root=root)
    report = monitor.check_now()
    assert report is not None and report.ok, report.summary() if report else None
    assert "integrity" not in arbiter.active()
    seclog.close()


def test_secure_boot_is_unknown_without_uefi(tmp_path: Path):
    assert secure_boot_state(tmp_path / "firmware" / "efi" / "efivars").startswith("unknown")


@pytest.mark.parametrize(("value", "state"), [(1, "enabled"), (0, "disabled")])
def test_secure_boot_is_read_from_the_uefi_variable(tmp_path: Path, value: int, state: str):
    efivars = tmp_path / "efi" / "efivars"
    efivars.mkdir(parents=True)
    name = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
    (efivars / name).write_bytes(b"\x06\x00\x00\x00" + bytes([value]))
    assert secure_boot_state(efivars) == state
