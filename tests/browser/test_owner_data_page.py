"""The page's edges and the owner's data, in headless Chromium against the real ``ukscp run``.

A page that does not exist, the back end's fields on the Settings page, and what the
Settings page says the deletion of personal data removes and keeps (its own charger).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, PageCharger, at, ensure_owner, screenshot

pytestmark = pytest.mark.browser

# The computed styles a field must share with the page's text inputs.
FIELD_STYLE = """element => {
  const style = getComputedStyle(element);
  return [style.borderTopWidth, style.borderTopColor, style.borderRadius, style.paddingLeft,
          style.fontSize, style.width, Math.round(element.getBoundingClientRect().height) >= 44];
}"""


def test_a_page_that_does_not_exist_is_the_pages_own_not_found_page(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/")
    response = page.goto(charger.url + "/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_text("There is no page at this address on your charger.")).to_be_visible()
    # In the page's own style, not the browser's bare defaults.
    card = page.locator("main .card")
    assert card.evaluate("e => getComputedStyle(e).borderRadius") == "12px"
    assert page.locator("body").evaluate("e => getComputedStyle(e).margin") == "0px"
    screenshot(page, "20-not-found")
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page).to_have_url(at(charger, "/"))
    console.check()


def test_the_back_ends_address_selects_and_certificate_look_like_every_other_field(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/settings")
    expect(page.locator("#be-identity")).to_be_visible()
    reference = page.locator("#be-identity").evaluate(FIELD_STYLE)
    assert reference[-1] is True  # a field of the page's size (2.75rem)
    for field in ("#be-url", "#be-version", "#be-profile", "#be-ca"):
        assert page.locator(field).evaluate(FIELD_STYLE) == reference, field
    screenshot(page, "21-settings-back-end")
    console.check()


def test_the_settings_page_says_what_the_deletion_removes_what_stays_and_why(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/settings")
    card = page.locator("section.danger-zone")
    goes, stays = card.locator("ul.erase-list").all()
    expect(goes.locator("li")).to_have_text(
        [
            re.compile(r"^your charging sessions and their rate changes"),
            re.compile(r"^the event history of charging: plug-ins, changes of rate, delays"),
            re.compile(r"^the back end you chose yourself, .* goes back to the one its", re.S),
            re.compile(r"^every logged-in device, this one too: you log in again afterwards"),
        ]
    )
    expect(stays.locator("li")).to_have_text(
        [
            re.compile(r"^The security log\.\s+The regulations require the charger to keep one"),
            re.compile(r"^The energy measurements.*Regulation 9 requires 12 months of", re.S),
            re.compile(r"^Your login and your settings"),
        ]
    )
    expect(stays).to_contain_text("not who charged")
    expect(stays).to_contain_text("It notes this deletion, in numbers only.")
    screenshot(page, "22-settings-personal-data")
    console.check()
