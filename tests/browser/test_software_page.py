"""A provisioned charger's software state on the owner's page, in headless Chromium.

The charger here is a copy of the package, released and signed with a key of its
own (``ukscp release keygen`` / ``sign``), then changed: one installed file edited
after signing, as in ``tests/e2e/test_integrity_e2e.py``. It checks for updates
against a real TUF repository served over HTTP on 127.0.0.1 (built with the
helper of ``tests/integration/test_updates_repository.py``), empty at first, so
that the first check cannot complete; a newer release is published during the
tests.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

import ukscp
from tests.browser.conftest import Console, PageCharger, ensure_owner, screenshot
from tests.integration.test_updates_repository import TufRepository
from ukscp.firmware.updates import RELEASE_INDEX_TARGET
from ukscp.security.integrity import package_root

pytestmark = pytest.mark.browser

APOS = "\N{RIGHT SINGLE QUOTATION MARK}"  # the page writes apostrophes as typographers do
NEWER = "99.0.0"


def bound(page: Page, name: str) -> Locator:
    return page.locator(f'[data-bind="{name}"]')


def msg(page: Page, name: str) -> Locator:
    return page.locator(f'[data-msg="{name}"]')


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1, and the repository's URL in it."""
    directory = tmp_path_factory.mktemp("tuf")
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield directory, f"http://127.0.0.1:{server.server_address[1]}/repo"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def repo(served: tuple[Path, str]) -> TufRepository:
    """Root metadata only: nothing published yet, so a check cannot complete."""
    return TufRepository(served[0] / "repo")


@pytest.fixture(scope="module")
def charger(
    tmp_path_factory: pytest.TempPathFactory, repo: TufRepository, served: tuple[Path, str]
) -> Iterator[PageCharger]:
    """A signed release of a copy of the package, with one file changed after signing."""
    base = tmp_path_factory.mktemp("provisioned")
    site = base / "site"
    shutil.copytree(package_root(), site / "ukscp", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(site), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    command = [sys.executable, "-m", "ukscp.cli"]

    def ukscp_cli(*args: str) -> None:
        done = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=60,
            env={**os.environ, **env},
        )
        assert done.returncode == 0, done.stderr

    keys = base / "keys"
    manifest = base / "manifest.json"
    ukscp_cli("release", "keygen", "--out", str(keys))
    ukscp_cli("release", "sign", "--key", str(keys / "release.key"), "--out", str(manifest))
    changed = site / "ukscp" / "web" / "errors.py"
    changed.write_text(changed.read_text() + "\n# changed after release\n")
    root = base / "root.json"
    root.write_bytes(repo.root_bytes())
    config = base / "charger.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "integrity": {"public_key_file": str(keys / "release.pub"),
                              "manifest_file": str(manifest)},
                "updates": {"tuf_repository_url": served[1], "trusted_root_file": str(root)},
            }
        )
    )
    running = PageCharger(
        base / "data", command=command, run_args=["--config", str(config)], env=env
    )
    running.start()
    yield running
    running.stop()


def test_a_changed_file_is_named_on_the_dashboard_and_charging_is_held(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/")
    page.get_by_role("button", name="Plug in").click()
    expect(msg(page, "sim")).to_have_text(re.compile("^Vehicle plugged in"))

    alert = bound(page, "integrity-alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("role", "alert")
    heading = f"The charger{APOS}s software has been changed"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(bound(page, "integrity-when")).to_have_text(
        re.compile(r"^The check .*\d\d:\d\d found a file that differs from the signed release:$")
    )
    expect(bound(page, "integrity-files").locator("li")).to_have_text(["web/errors.py (changed)"])
    expect(bound(page, "integrity-hold")).to_have_text(
        "Charging is held in safe mode: it is stopped until a check finds the software as released."
    )
    expect(bound(page, "state")).to_have_text("Connected, not charging")
    expect(bound(page, "limit-source")).to_have_text("Set by a safety stop.")
    expect(bound(page, "offered")).to_have_text("0.0 A")
    # The check at start could not reach a published repository: nothing to announce.
    expect(bound(page, "update-notice")).to_be_hidden()
    expect(bound(page, "tamper-alarm")).to_be_hidden()
    screenshot(page, "14-dashboard-integrity-failed")
    console.check()


def test_the_software_card_explains_a_failed_check_and_finds_a_new_version(
    page: Page, charger: PageCharger, repo: TufRepository, console: Console
):
    ensure_owner(page, charger, "/settings")
    expect(page.get_by_role("alert")).to_contain_text(
        f"The charger{APOS}s software has been changed: charging is held in safe mode."
    )
    expect(bound(page, "sw-version")).to_have_text(ukscp.__version__)
    expect(bound(page, "sw-integrity")).to_have_text(
        re.compile(
            r"^Failed: charging is held in safe mode\. Last checked .*\d\d:\d\d\. "
            r"These files differ from the signed release:$"
        )
    )
    expect(bound(page, "sw-integrity-files").locator("li")).to_have_text(
        ["web/errors.py (changed)"]
    )
    expect(bound(page, "sw-updates")).to_have_text(
        re.compile(r"^Could not check for updates \(.+\)\. This usually means no internet")
    )
    expect(bound(page, "sw-updates-detail")).to_have_text(
        re.compile(r"^Update server: http://127\.0\.0\.1:\d+/repo\. Last checked ")
    )

    # Asked again while the repository still publishes nothing: explained, not an error.
    check = page.get_by_role("button", name="Check for updates now")
    check.click()
    answer = msg(page, "updates")
    expect(answer).to_have_text(re.compile(r"^Could not check for updates \(.+\)\. "))
    expect(answer).to_have_class(re.compile("msg-warn"))
    expect(answer).to_contain_text("A failed check does not affect charging")

    # A newer release is published; while the charger asks, the button says so.
    repo.release(NEWER)
    repo.publish()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/api/v1/updates/check", hold)
    try:
        check.click()
        busy = page.locator('[data-action="check-updates"]')
        expect(busy).to_have_text("Checking…")
        expect(busy).to_be_disabled()
        expect(busy).to_have_attribute("aria-busy", "true")
        expect(answer).to_have_text("")
        assert len(held) == 1
        held[0].continue_()
    finally:
        page.unroute("**/api/v1/updates/check", hold)
    words = f"Version {NEWER} is available (this charger runs {ukscp.__version__})."
    expect(answer).to_have_text(words)
    expect(answer).to_have_class(re.compile("msg-ok"))
    expect(check).to_be_enabled()
    expect(bound(page, "sw-updates")).to_have_text(words)
    page.locator("#software").scroll_into_view_if_needed()
    screenshot(page, "15-settings-software-provisioned")

    page.goto(charger.url + "/")
    notice = bound(page, "update-notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_attribute("role", "status")
    expect(bound(page, "update-title")).to_have_text("A new software version is available")
    expect(bound(page, "update-text")).to_have_text(
        f"Version {NEWER} is available; this charger runs {ukscp.__version__}. "
        "Your installer or operator installs it."
    )
    expect(bound(page, "integrity-alert")).to_be_visible()
    screenshot(page, "15-dashboard-update-available")
    console.check()


def test_a_release_index_changed_on_the_server_is_refused_in_words(
    page: Page, charger: PageCharger, repo: TufRepository, console: Console
):
    repo.release(NEWER)
    repo.publish()
    # Not what the targets role signed: TUF refuses it, and so does the page.
    repo.served_target(RELEASE_INDEX_TARGET).write_bytes(b'{"version": "99.9.9", "x": 1}')
    ensure_owner(page, charger, "/settings")
    page.get_by_role("button", name="Check for updates now").click()
    answer = msg(page, "updates")
    expect(answer).to_have_text(
        re.compile(
            rf"^Refused: the update server{APOS}s answer failed its security checks \(.+\)\. "
            "Nothing was installed, and the refusal is in the security log\\.$"
        )
    )
    expect(answer).to_have_class(re.compile("msg-error"))
    expect(bound(page, "sw-updates")).to_have_text(re.compile("^Refused: "))

    page.goto(charger.url + "/")
    expect(bound(page, "updated")).to_have_text(re.compile("^Updated"))
    expect(bound(page, "update-notice")).to_be_hidden()
    page.goto(charger.url + "/security-log")
    expect(bound(page, "rows")).to_contain_text("Update rejected")
    console.check()
