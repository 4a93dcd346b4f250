"""The owner sees a running demand side response event on the dashboard and opts out.

The event comes from a home energy manager (``POST /api/v1/limits/ems`` with cause
``dsr``), sent here from the page's own session, as an energy manager on the
owner's network would send it with a token.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Console, PageCharger, ensure_charging, screenshot

pytestmark = pytest.mark.browser


def bound(page: Page, name: str) -> Locator:
    return page.locator(f'[data-bind="{name}"]')


def post(page: Page, path: str, body: dict[str, object]) -> int:
    """POST as the page does (cookie and CSRF token); the answer's status code."""
    status = page.evaluate(
        """([path, body]) => fetch('/api/v1' + path, {
            method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json',
                      'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content},
            body: JSON.stringify(body)}).then(r => r.status)""",
        [path, body],
    )
    return int(status)


def test_a_dsr_event_is_shown_with_who_and_the_limit_and_the_owner_opts_out(
    page: Page, charger: PageCharger, console: Console
):
    ensure_charging(page, charger)
    card = bound(page, "dsr-card")
    expect(card).to_be_hidden()  # no event, no card

    assert post(page, "/limits/ems", {"amps": 8, "cause": "dsr"}) == 200
    expect(card).to_be_visible()
    event = bound(page, "dsr-events").locator("li")
    expect(event).to_have_count(1)
    expect(event).to_contain_text(
        "Your home energy manager, for a demand response event limits charging to 8.0 A"
    )
    expect(event).to_contain_text("until the event ends")
    expect(bound(page, "offered")).to_have_text("8.0 A")  # never delayed
    screenshot(page, "40-dashboard-dsr-event")

    event.get_by_role("button", name="Opt out of this event").click()
    expect(page.locator('[data-msg="dsr"]')).to_have_text(re.compile("Opted out"))
    expect(event).to_contain_text("You opted out: it does not apply.")
    expect(event.get_by_role("button")).to_have_count(0)
    expect(bound(page, "offered")).to_have_text("32.0 A")  # lifted at once
    screenshot(page, "41-dashboard-dsr-opted-out")

    assert post(page, "/limits/ems", {"amps": 32, "cause": "local"}) == 200  # the event ends
    expect(card).to_be_hidden()
    console.check()
