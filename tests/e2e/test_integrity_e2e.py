"""Unauthorised software change, caught by the CLI and by the running charger.

Each test installs a copy of the ukscp package in a temporary directory and runs
it from there (PYTHONPATH), so editing "an installed file" never touches the
checkout under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningCharger, start_charger
from ukscp.security.integrity import package_root

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


@dataclass
class Installed:
    site: Path
    config: Path

    @property
    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.site)}

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "ukscp.cli"]

    def ukscp(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=60,
            env={**os.environ, **self.env},
        )


@pytest.fixture
def installed(tmp_path: Path) -> Installed:
    """A signed release of a copy of the package, and a config that trusts its key."""
    site = tmp_path / "site"
    shutil.copytree(package_root(), site / "ukscp", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "charger.yaml"
    release = Installed(site, config)
    keys = tmp_path / "keys"
    assert release.ukscp("release", "keygen", "--out", str(keys)).returncode == 0
    manifest = tmp_path / "manifest.json"
    signed = release.ukscp("release", "sign", "--key", str(keys / "release.key"),
                           "--out", str(manifest))
    assert signed.returncode == 0, signed.stderr
    config.write_text(
        f"integrity: {{public_key_file: {keys / 'release.pub'}, manifest_file: {manifest}}}\n"
    )
    return release


def test_integrity_check_passes_on_the_release_and_names_an_edited_file(installed: Installed):
    intact = installed.ukscp("integrity", "check", "--config", str(installed.config))
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout

    target = installed.site / "ukscp" / "limits" / "arbiter.py"
    target.write_text(target.read_text().replace("min(", "max(", 1))
    broken = installed.ukscp("integrity", "check", "--config", str(installed.config))
    assert broken.returncode == 1
    assert "changed: limits/arbiter.py" in broken.stderr


def test_integrity_check_without_provisioning_says_so(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "ukscp.cli", "integrity", "check", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "are needed" in result.stderr


def test_a_charger_running_changed_software_logs_it_and_stops_charging(
    installed: Installed, tmp_path: Path
):
    target = installed.site / "ukscp" / "web" / "errors.py"
    target.write_text(target.read_text() + "\n# changed after release\n")
    charger = start_charger(
        tmp_path / "data", "--config", str(installed.config), "--sim-plug",
        command=installed.command, env=installed.env,
    )
    try:
        integrity = charger.client.get("/api/v1/integrity").json()
        assert integrity["configured"] is True
        assert integrity["last_check"]["ok"] is False
        assert integrity["last_check"]["changed"] == ["web/errors.py"]
        assert integrity["secure_boot"]
        status = charger.client.get("/api/v1/status").json()
        assert status["limit"]["source"] == "safety"
        assert status["offered_current_a"] == 0
        log = charger.client.get("/api/v1/security-log").json()
        failed = [r for r in log if r["type"] == "IntegrityCheckFailed"]
        assert failed and "web/errors.py" in failed[0]["info"]
        assert failed[0]["critical"] is True
    finally:
        assert charger.stop() == 0
