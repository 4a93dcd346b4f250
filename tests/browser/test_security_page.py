"""The owner's page shows the charger's security state: tamper alarm, software, firmware.

Driven in headless Chromium against a real ``ukscp run`` on its simulator (its own
charger, set up by the first test that needs it). The tamper switch is tripped the
way the tests trip it elsewhere, through ``POST /api/v1/sim/tamper``; the owner then
acknowledges on the page. This charger is a plain one (no manifest, no update
server, no manufacturer root): what the Software card says about that is checked
here; a provisioned charger is in ``test_software_page.py``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

import ukscp
from tests.browser.conftest import (
    Console,
    PageCharger,
    at,
    ensure_charging,
    ensure_owner,
    screenshot,
)
from ukscp.web.schemas import FirmwareRequestView, FirmwareView, UpdatesView

pytestmark = pytest.mark.browser

APOS = "\N{RIGHT SINGLE QUOTATION MARK}"  # the page writes apostrophes as typographers do


def bound(page: Page, name: str) -> Locator:
    return page.locator(f'[data-bind="{name}"]')


def msg(page: Page, name: str) -> Locator:
    return page.locator(f'[data-msg="{name}"]')


def call_api(page: Page, charger: PageCharger, method: str, path: str) -> Any:
    """The API with the page's own session (cookie and CSRF token), as its script calls it."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    response = page.request.fetch(
        charger.url + path, method=method, headers={"X-CSRF-Token": token}
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json()


def test_a_tamper_alarm_stops_charging_until_the_owner_acknowledges_it(
    page: Page, charger: PageCharger, console: Console
):
    ensure_charging(page, charger)
    alarm = bound(page, "tamper-alarm")
    state = bound(page, "state")
    expect(alarm).to_be_hidden()

    call_api(page, charger, "POST", "/api/v1/sim/tamper")
    expect(alarm).to_be_visible()
    expect(alarm).to_have_attribute("role", "alert")
    heading = page.get_by_role("heading", name=f"Tamper alarm: the charger{APOS}s cover was opened")
    expect(heading).to_be_visible()
    since = call_api(page, charger, "GET", "/api/v1/status")["tamper_alarm_since"]
    assert since
    expect(bound(page, "tamper-since")).to_have_text(
        re.compile(
            rf"^The tamper switch in the charger{APOS}s enclosure tripped .*\d\d:\d\d: "
            "someone may have opened its cover\\.$"
        )
    )
    expect(alarm).to_contain_text("Charging is stopped until you acknowledge this alarm here.")
    expect(alarm).to_contain_text(f"the charger{APOS}s cover is closed and fastened")
    expect(alarm).to_contain_text("call your installer")
    expect(state).to_have_text("Connected, not charging")
    expect(bound(page, "state-detail")).to_have_text("Charging is stopped by the tamper alarm.")
    expect(bound(page, "limit-source")).to_have_text("Set by a safety stop.")
    expect(bound(page, "offered")).to_have_text("0.0 A")
    screenshot(page, "11-dashboard-tamper")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "11-dashboard-tamper-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The alarm is the charger's, not the page's: it is there after a reload too, and
    # every other page names it and leads to the dashboard.
    page.reload()
    expect(alarm).to_be_visible()
    page.goto(charger.url + "/settings")
    banner = page.get_by_role("alert")
    expect(banner).to_contain_text("Tamper alarm: charging is stopped.")
    screenshot(page, "11-settings-tamper-banner", full_page=False)
    banner.get_by_role("link", name="Go to the dashboard").click()
    expect(page).to_have_url(at(charger, "/"))
    expect(alarm).to_be_visible()

    # Acknowledging takes a confirmation; "Not yet" changes nothing.
    ask = page.get_by_role("button", name="Acknowledge the alarm…")
    yes = page.get_by_role("button", name="Yes, I have checked it: resume charging")
    not_yet = page.get_by_role("button", name="Not yet")
    expect(ask).to_have_attribute("aria-expanded", "false")
    ask.click()
    expect(yes).to_be_visible()
    expect(ask).to_be_hidden()
    expect(not_yet).to_be_focused()
    expect(page.locator("#tamper-confirm")).to_contain_text("Have you checked the charger?")
    screenshot(page, "11-dashboard-tamper-confirm")
    not_yet.click()
    expect(yes).to_be_hidden()
    expect(ask).to_be_focused()
    expect(ask).to_have_attribute("aria-expanded", "false")
    expect(alarm).to_be_visible()
    assert call_api(page, charger, "GET", "/api/v1/status")["tamper_alarm_since"] == since

    ask.click()
    yes.click()
    answer = msg(page, "tamper")
    expect(answer).to_have_text("Alarm acknowledged and logged. Charging can start again now.")
    expect(answer).to_have_class(re.compile("msg-ok"))
    expect(answer).to_be_focused()
    expect(alarm).to_be_hidden()
    expect(state).to_have_text("Charging", timeout=20_000)
    assert call_api(page, charger, "GET", "/api/v1/status")["tamper_alarm_since"] is None
    screenshot(page, "11-dashboard-tamper-acknowledged")

    # Both ends of the alarm are in the security log, and the banner is gone.
    page.goto(charger.url + "/security-log")
    expect(page.get_by_role("alert")).to_have_count(0)
    rows = bound(page, "rows")
    expect(rows).to_contain_text("Tamper detection activated")
    expect(rows).to_contain_text("Tamper acknowledged")
    console.check()


def test_an_acknowledgement_the_charger_refuses_is_said_in_its_words_and_the_alarm_stays(
    page: Page, charger: PageCharger, console: Console
):
    # The simulator re-arms its switch when the owner acknowledges; a board whose
    # switch still reads open answers 409 in the API's error shape, served here.
    ensure_owner(page, charger, "/")
    call_api(page, charger, "POST", "/api/v1/sim/tamper")
    alarm = bound(page, "tamper-alarm")
    expect(alarm).to_be_visible()
    refusal = json.dumps(
        {"error": "the tamper switch still reads open: close the enclosure first", "detail": None}
    )

    def still_open(route: Route) -> None:
        route.fulfill(status=409, content_type="application/json", body=refusal)

    page.route("**/api/v1/tamper/acknowledge", still_open)
    try:
        page.get_by_role("button", name="Acknowledge the alarm…").click()
        page.get_by_role("button", name="Yes, I have checked it: resume charging").click()
        answer = msg(page, "tamper")
        expect(answer).to_have_text(
            "The tamper switch still reads open: close the enclosure first."
        )
        expect(answer).to_have_class(re.compile("msg-error"))
        expect(answer).to_be_focused()
    finally:
        page.unroute("**/api/v1/tamper/acknowledge", still_open)
    expect(alarm).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge the alarm…")).to_be_visible()
    assert call_api(page, charger, "GET", "/api/v1/status")["tamper_alarm_since"]

    # Closed now: the acknowledgement goes through.
    page.get_by_role("button", name="Acknowledge the alarm…").click()
    page.get_by_role("button", name="Yes, I have checked it: resume charging").click()
    expect(alarm).to_be_hidden()
    assert call_api(page, charger, "GET", "/api/v1/status")["tamper_alarm_since"] is None
    console.check()


def test_the_software_card_of_a_plain_charger_says_what_is_not_set_up(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/settings")
    card = page.locator("#software")
    expect(card.get_by_role("heading", name="Software")).to_be_visible()
    expect(bound(page, "sw-version")).to_have_text(ukscp.__version__)
    expect(bound(page, "sw-slot")).to_have_text("(the software installed with the charger)")
    expect(bound(page, "sw-integrity")).to_have_text(
        "Not set up: this charger was not given a signed list of its files, "
        "so it cannot check them for changes."
    )
    expect(bound(page, "sw-integrity-files")).to_be_hidden()

    # Secure boot exactly as the API knows it: never "on" unless the platform says so.
    secure_boot = call_api(page, charger, "GET", "/api/v1/integrity")["secure_boot"]
    if secure_boot == "enabled":
        expected = "On: the board starts only software signed by its maker."
    elif secure_boot == "disabled":
        expected = "Off: the board starts software without checking who made it."
    else:
        why = re.fullmatch(r"unknown \((.*)\)", secure_boot)
        assert why, secure_boot
        expected = f"Unknown: the charger cannot tell ({why.group(1)})."
    expect(bound(page, "sw-secure-boot")).to_have_text(expected)

    expect(bound(page, "sw-updates")).to_have_text(
        re.compile("^Not set up: no update server was provisioned for this charger")
    )
    expect(bound(page, "sw-updates-detail")).to_be_hidden()
    expect(bound(page, "sw-firmware")).to_have_text(
        re.compile(f"^Refused: the charger was not given the manufacturer{APOS}s certificate")
    )
    expect(bound(page, "sw-firmware-request")).to_be_hidden()

    page.get_by_role("button", name="Check for updates now").click()
    answer = msg(page, "updates")
    expect(answer).to_have_text(
        "Update checks are not set up on this charger: it has no update server to ask. "
        "Ask your installer how it gets updates."
    )
    expect(answer).to_have_class(re.compile("msg-warn"))
    expect(page.get_by_role("button", name="Check for updates now")).to_be_enabled()
    card.scroll_into_view_if_needed()
    screenshot(page, "12-settings-software-plain")

    # No alert on the dashboard of a charger with nothing to say.
    page.goto(charger.url + "/")
    expect(bound(page, "updated")).to_have_text(re.compile("^Updated"))
    for name in ("tamper-alarm", "integrity-alert", "update-notice", "firmware-notice"):
        expect(bound(page, name)).to_be_hidden()
    console.check()


def _updates_with_firmware(status: str, detail: str) -> str:
    """``GET /api/v1/updates`` while the back end installs firmware: the API's own model."""
    request = FirmwareRequestView(
        request_id=41,
        status=status,
        detail=detail,
        updated_at=datetime.now(UTC),
        version="0.9.0",
        slot="b",
    )
    firmware = FirmwareView(
        running_version=ukscp.__version__,
        root_ca_provisioned=True,
        active_slot=None,
        last_request=request,
    )
    view = UpdatesView(configured=False, repository_url=None, last_check=None, firmware=firmware)
    return view.model_dump_json()


def test_firmware_from_the_back_end_in_progress_and_failed_is_on_the_dashboard(
    page: Page, charger: PageCharger, console: Console
):
    # A firmware install needs a central system; its state is served here in the
    # API's own shape (the real installer: tests/integration/test_firmware_*.py).
    body = {"json": _updates_with_firmware("Downloading", "downloading from the CSMS")}

    def updates(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=body["json"])

    ensure_owner(page, charger, "/")
    page.route("**/api/v1/updates", updates)
    try:
        page.reload()
        notice = bound(page, "firmware-notice")
        expect(notice).to_be_visible()
        expect(notice).to_have_attribute("role", "status")
        expect(notice).to_have_class(re.compile("alert-info"))
        expect(bound(page, "firmware-title")).to_have_text("Firmware update in progress")
        expect(bound(page, "firmware-text")).to_have_text(
            "Your operator is installing firmware 0.9.0: downloading. "
            "The charger may restart by itself to finish; charging resumes after."
        )
        screenshot(page, "13-dashboard-firmware-progress", full_page=False)

        body["json"] = _updates_with_firmware("InvalidSignature", "signature does not verify")
        page.reload()
        expect(bound(page, "firmware-title")).to_have_text("A firmware update failed")
        expect(notice).to_have_class(re.compile("alert-warn"))
        expect(bound(page, "firmware-text")).to_have_text(
            "Firmware 0.9.0 from your operator: refused: it is not signed by the manufacturer "
            f"(signature does not verify). The charger runs version {ukscp.__version__}."
        )

        page.goto(charger.url + "/settings")
        expect(bound(page, "sw-firmware")).to_have_text(
            "Accepted only when signed by the manufacturer."
        )
        expect(bound(page, "sw-firmware-request")).to_have_text(
            re.compile(
                r"^Latest request \(no\. 41, version 0\.9\.0, .+\): refused: it is not signed by "
                r"the manufacturer \(signature does not verify\)\.$"
            )
        )

        body["json"] = _updates_with_firmware("Installed", "running")
        page.goto(charger.url + "/")
        expect(bound(page, "updated")).to_have_text(re.compile("^Updated"))
        expect(bound(page, "firmware-notice")).to_be_hidden()
    finally:
        page.unroute("**/api/v1/updates", updates)
    console.check()
